/* testenv.c - see testenv.h. */
#include "testenv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct config cfg;
static int cfg_loaded;

const struct config *testenv_config(void)
{
    if (!cfg_loaded) {
        char err[1024];
        if (config_load(&cfg, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "testenv: %s\n", err);
            abort();
        }
        cfg_loaded = 1;
    }
    return &cfg;
}

const char *testenv_var_dir(void)
{
    const char *v = getenv("CHAT_VAR_DIR");
    return v && *v ? v : "var";
}

const char *testenv_web_base(void)
{
    const char *v = getenv("CHAT_TEST_WEB_BASE");
    return v && *v ? v : "http://127.0.0.1:8080";
}

pid_t testenv_pid(const char *component)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run/%s.pid", testenv_var_dir(), component);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char text[32] = "";
    char *end = NULL;
    long pid = fgets(text, sizeof text, f) ? strtol(text, &end, 10) : -1;
    fclose(f);
    if (end == text)
        pid = -1;
    if (pid <= 0 || kill((pid_t) pid, 0) != 0)
        return -1;
    return (pid_t) pid;
}

int testenv_stack(const char *args)
{
    char cmd[1024];
    /* Own session: Check kills a test's whole process group when the test
     * ends, which would take a server started here down with it. */
    snprintf(cmd, sizeof cmd, "setsid -w deploy/dev/stack.sh %s >>%s/log/stack-from-tests.log 2>&1",
             args, testenv_var_dir());
    int rc = system(cmd); /* NOLINT(cert-env33-c): tests drive the stack script */
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int testenv_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        usleep(50 * 1000);
    }
    return -1;
}

const char *testenv_unique(const char *prefix)
{
    static char slots[8][96];
    static unsigned n;
    char *out = slots[n % 8];
    snprintf(out, sizeof slots[0], "%s_%ld_%ld_%u", prefix, (long) getpid(), (long) time(NULL) % 100000, n);
    n++;
    return out;
}
