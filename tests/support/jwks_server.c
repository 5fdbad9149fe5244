/* jwks_server.c - the test key endpoint (see jwks_server.h). */
#include "jwks_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *) &a, sizeof a) != 0 || listen(fd, 64) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static long read_text(const char *dir, const char *name, char *buf, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long) n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t) w;
    }
}

/* answer: read the request head (bounded), send the document, count it. */
static void answer(int fd, const char *dir)
{
    static char req[8192], doc[65536], head[256], age[32];
    size_t got = 0;
    req[0] = '\0';
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n") && poll(&p, 1, 2000) > 0) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t) n;
        req[got] = '\0';
    }
    if (strncmp(req, "GET ", 4) != 0)
        return; /* a probe of the port, not a request */
    long len = read_text(dir, "jwks.json", doc, sizeof doc);
    if (read_text(dir, "max-age", age, sizeof age) < 0)
        snprintf(age, sizeof age, "300");
    int h = len < 0 ? snprintf(head, sizeof head,
                               "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n")
                    : snprintf(head, sizeof head,
                               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Cache-Control: public, max-age=%d\r\nContent-Length: %ld\r\n"
                               "Connection: close\r\n\r\n",
                               (int) strtol(age, NULL, 10), len);
    write_all(fd, head, (size_t) h);
    if (len > 0)
        write_all(fd, doc, (size_t) len);
    char p2[512];
    snprintf(p2, sizeof p2, "%s/hits", dir);
    FILE *f = fopen(p2, "a");
    if (f) {
        fprintf(f, "%ld\n", (long) time(NULL));
        fclose(f);
    }
}

static void serve(int port, const char *dir)
{
    int lfd = listen_on(port);
    for (;;) {
        int down = exists(dir, "down");
        if (down && lfd >= 0) {
            close(lfd);
            lfd = -1;
        } else if (!down && lfd < 0) {
            lfd = listen_on(port);
        }
        if (lfd < 0) {
            usleep(50000);
            continue;
        }
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            continue;
        answer(c, dir);
        close(c);
    }
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

pid_t jwks_server_spawn(int port, const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid(); /* outlives the forked test that may have started it */
        serve(port, dir);
        _exit(0);
    }
    for (int i = 0; i < 100; i++) {
        /* a probe is answered, and counted: take it back out */
        if (exists(dir, "down") || port_open(port))
            return pid;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

void jwks_server_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

int jwks_server_publish(const char *dir, const char *doc, int max_age)
{
    char p[512], tmp[520];
    snprintf(p, sizeof p, "%s/max-age", dir);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", max_age);
    fclose(f);
    snprintf(p, sizeof p, "%s/jwks.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fputs(doc, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return -1;
    return rename(tmp, p);
}

void jwks_server_set_down(const char *dir, int port, int down)
{
    char p[512];
    snprintf(p, sizeof p, "%s/down", dir);
    if (down) {
        FILE *f = fopen(p, "w");
        if (f)
            fclose(f);
        for (int i = 0; i < 100 && port_open(port); i++)
            usleep(50000);
    } else {
        unlink(p);
        for (int i = 0; i < 100 && !port_open(port); i++)
            usleep(50000);
    }
}

int jwks_server_hits(const char *dir)
{
    char p[512], line[64];
    snprintf(p, sizeof p, "%s/hits", dir);
    FILE *f = fopen(p, "r");
    int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}
