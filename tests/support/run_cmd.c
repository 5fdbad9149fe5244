/* run_cmd.c - see run_cmd.h. */
#include "run_cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>

int run_cmd(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 8, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof cmd - 8)
        return -1;
    snprintf(cmd + n, sizeof cmd - (size_t) n, " 2>&1");
    FILE *p = popen(cmd, "r"); /* NOLINT(cert-env33-c): running commands is this helper's job */
    if (!p)
        return -1;
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    char chunk[1024];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        for (size_t i = 0; i < got && len + 1 < cap; i++)
            out[len++] = chunk[i];
        if (cap)
            out[len] = '\0';
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
