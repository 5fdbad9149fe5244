/* log.c - key=value event lines on stderr (see log.h). */
#include "log.h"
#include "timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *prog_name = "chat";
static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *program, const char *level)
{
    prog_name = program;
    min_level = LOG_INFO;
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, level_names[i]) == 0)
            min_level = (enum log_level) i;
}

void log_write(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char line[2048], ts[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(ts, timefmt_now_ms());
    int n = snprintf(line, sizeof line, "ts=%s level=%s prog=%s event=%s", ts, level_names[level],
                     prog_name, event);
    if (n >= 0 && fmt && *fmt && (size_t) n < sizeof line - 2) {
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof line - (size_t) n, fmt, ap);
        if (m > 0)
            n += m;
    }
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t) n > sizeof line - 2)
        n = (int) sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t) n);
    (void) w;
}

const char *log_quote(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap < 3) {
        if (cap)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char) c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char) c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
