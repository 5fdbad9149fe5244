/*
 * evpass.c - chat-bench-evpass: what one pass of the relay's event loop
 * (relay/ev.c) costs with N idle sockets watched and one busy one.
 *
 *   chat-bench-evpass N [passes]
 *   valgrind --tool=callgrind --toggle-collect=evpass_run \
 *       chat-bench-evpass N [passes]      # user-space instructions
 *
 * N socketpairs: the loop watches one end of each for reading, as the
 * relay watches an idle WebSocket. The other ends go to a child process
 * (SCM_RIGHTS) that only holds them, so this process has N descriptors,
 * the watched ones the N lowest, as in the relay. One more pair is busy
 * and highest: before every pass a byte is written to it, and its
 * callback reads it. evpass_run holds the passes
 * and nothing else, so callgrind can count them alone (this machine has
 * no hardware counters for perf); the CPU time of the passes (getrusage,
 * user and system: select() itself is kernel work) is printed per pass
 * with them as one JSON line, noisy on a shared machine. It builds
 * against any ev.c with the same interface, so the loop of an older
 * commit can be measured with the same program.
 */
#include "ev.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static long busy_reads;

static void on_idle(struct ev_loop *loop, int fd, void *data, int mask)
{
    (void) loop;
    (void) data;
    (void) mask;
    fprintf(stderr, "evpass: idle fd %d fired\n", fd);
    exit(1);
}

static void on_busy(struct ev_loop *loop, int fd, void *data, int mask)
{
    char b;
    (void) loop;
    (void) data;
    (void) mask;
    if (read(fd, &b, 1) == 1)
        busy_reads++;
}

/* evpass_run: the measured passes: a byte to the busy socket, one pass. */
__attribute__((noinline)) long evpass_run(struct ev_loop *loop, int wfd, long passes);

long evpass_run(struct ev_loop *loop, int wfd, long passes)
{
    long p = 0;
    for (; p < passes; p++)
        if (write(wfd, "x", 1) != 1 || ev_run_once(loop, -1) != 1)
            break;
    return p;
}

/* fd_pass: send fd over the unix socket ctl. */
static int fd_pass(int ctl, int fd)
{
    char byte = 'f';
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(ctl, &m, 0) == 1 ? 0 : -1;
}

/* holder: the child: receive descriptors and keep them until killed. */
static void holder(int ctl)
{
    for (;;) {
        char byte, buf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr m = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
        if (recvmsg(ctl, &m, 0) <= 0)
            break;
    }
    pause();
    _exit(0);
}

/* pair_kept: a socketpair whose second end goes to the holder; returns the
 * first end, or -1. */
static int pair_kept(int ctl)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    int rc = fd_pass(ctl, sv[1]);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return -1;
    }
    return sv[0];
}

static double tv_us(struct timeval tv)
{
    return (double) tv.tv_sec * 1e6 + (double) tv.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s idle_sockets [passes]\n", argv[0]);
        return 2;
    }
    char *end1 = NULL, *end2 = NULL;
    long nl = strtol(argv[1], &end1, 10);
    long passes = argc > 2 ? strtol(argv[2], &end2, 10) : 10000;
    if (*end1 || (end2 && *end2) || nl < 0 || nl > 1000000 || passes < 1)
        return 2;
    int n = (int) nl;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) n + 64) {
        rl.rlim_cur = (rlim_t) n + 64 < rl.rlim_max ? (rlim_t) n + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ctl[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) != 0)
        return 1;
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        close(ctl[0]);
        holder(ctl[1]);
    }
    close(ctl[1]);
    struct ev_loop *loop = ev_new();
    if (!loop)
        return 1;
    int rc = 1;
    for (int i = 0; i < n; i++) {
        int fd = pair_kept(ctl[0]);
        if (fd < 0 || ev_add(loop, fd, EV_READ, on_idle, NULL) != 0) {
            fprintf(stderr, "evpass: idle socket %d (fd %d): %s\n", i, fd,
                    fd < 0 ? strerror(errno) : "the loop refuses it");
            goto out;
        }
    }
    int busy_sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, busy_sv) != 0 ||
        ev_add(loop, busy_sv[0], EV_READ, on_busy, NULL) != 0) {
        fprintf(stderr, "evpass: the busy socket is refused\n");
        goto out;
    }
    int busy = busy_sv[0], far = busy_sv[1];
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long done = evpass_run(loop, far, passes);
    getrusage(RUSAGE_SELF, &r1);
    printf("{\"idle\":%d,\"maxfd\":%d,\"passes\":%ld,\"reads\":%ld,\"userUsPerPass\":%.2f,"
           "\"sysUsPerPass\":%.2f}\n",
           n, busy, done, busy_reads, (tv_us(r1.ru_utime) - tv_us(r0.ru_utime)) / (double) done,
           (tv_us(r1.ru_stime) - tv_us(r0.ru_stime)) / (double) done);
    rc = done == passes && busy_reads == passes ? 0 : 1;
out:
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    ev_free(loop);
    return rc;
}
