/*
 * mongostub.c - chat-bench-mongostub, a MongoDB-wire stand-in that
 * acknowledges writes at once, so the bench can measure the relay without
 * the store behind it (bench/run.sh `relayonly`).
 *
 *   chat-bench-mongostub [--port N] [--host ADDR]
 *
 * One thread, one poll(2) loop over the listener and the driver's
 * connections; each complete message is answered in order on its
 * connection (mongostub_wire.c frames, mongostub_store.c answers). A
 * command outside the subset gets a CommandNotFound error and its name on
 * stderr, once per name: that is how the subset was found. On SIGTERM or
 * SIGINT it prints how many of each command it answered and exits 0.
 *
 * A bench instrument only: it stores nothing a reader could page through,
 * and no test uses it in place of the real store.
 */
#include "mongostub_store.h"
#include "mongostub_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS   512
#define MAX_TALLIES 32
#define READ_CHUNK  65536

struct conn {
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
};

struct tally {
    char name[40];
    unsigned long answered, refused;
};

struct stub {
    int lfd;
    struct conn conns[MAX_CONNS];
    size_t n_conns;
    struct stubstore *store;
    struct tally tallies[MAX_TALLIES];
    size_t n_tallies;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void) sig;
    stopping = 1;
}

/* tally_count: one more command of that name; the first refusal of a name
 * is printed at once. */
static void tally_count(struct stub *s, const bson_t *cmd, int outcome)
{
    bson_iter_t it;
    const char *name = bson_iter_init(&it, cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "";
    struct tally *t = NULL;
    for (size_t i = 0; i < s->n_tallies && !t; i++)
        if (strcmp(s->tallies[i].name, name) == 0)
            t = &s->tallies[i];
    if (!t && s->n_tallies < MAX_TALLIES) {
        t = &s->tallies[s->n_tallies++];
        snprintf(t->name, sizeof t->name, "%s", name);
    }
    if (outcome != STUBSTORE_ANSWERED) {
        if (!t || t->refused == 0) {
            char *json = bson_as_relaxed_extended_json(cmd, NULL);
            fprintf(stderr, "mongostub: %s command: %s\n",
                    outcome == STUBSTORE_UNKNOWN ? "unknown" : "malformed", json ? json : name);
            bson_free(json);
        }
    }
    if (t) {
        if (outcome == STUBSTORE_ANSWERED)
            t->answered++;
        else
            t->refused++;
    }
}

static void tally_print(const struct stub *s)
{
    fprintf(stderr, "mongostub: commands answered (refused):");
    for (size_t i = 0; i < s->n_tallies; i++)
        fprintf(stderr, " %s %lu (%lu)", s->tallies[i].name, s->tallies[i].answered,
                s->tallies[i].refused);
    fprintf(stderr, "; rooms kept %zu\n", stubstore_rooms(s->store));
}

static void conn_close(struct stub *s, size_t i)
{
    struct conn *c = &s->conns[i];
    close(c->fd);
    free(c->in);
    free(c->out);
    s->conns[i] = s->conns[--s->n_conns];
}

/* conn_answer: every complete message in c's input answered into its
 * output. Returns 0, or -1 when the stream is not MongoDB wire. */
static int conn_answer(struct stub *s, struct conn *c)
{
    size_t off = 0;
    int rc = 0;
    while (rc == 0) {
        long n = stubwire_frame_len(c->in + off, c->in_len - off);
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        struct stubwire_request req;
        bson_t reply = BSON_INITIALIZER;
        if (stubwire_request_parse(c->in + off, (size_t) n, &req) != 0) {
            rc = -1;
        } else {
            int outcome = stubstore_command(s->store, &req.cmd, &reply);
            tally_count(s, &req.cmd, outcome);
            if (!req.more_to_come &&
                stubwire_reply_append(&req, &reply, &c->out, &c->out_len, &c->out_cap) != 0)
                rc = -1;
        }
        stubwire_request_clear(&req);
        bson_destroy(&reply);
        off += (size_t) n;
        if (rc == 0 && off == c->in_len)
            break;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return rc;
}

/* conn_read: what the socket has, appended and answered. Returns 0, or -1
 * when the connection is to be closed. */
static int conn_read(struct stub *s, struct conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            uint8_t *nb = realloc(c->in, c->in_cap + READ_CHUNK);
            if (!nb)
                return -1;
            c->in = nb;
            c->in_cap += READ_CHUNK;
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in_len += (size_t) r;
        if (conn_answer(s, c) != 0)
            return -1;
        if ((size_t) r < READ_CHUNK)
            return 0;
    }
}

/* conn_flush: as much of the pending output as the socket takes. Returns
 * 0, or -1 on a write error. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->out_off += (size_t) w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void accept_all(struct stub *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n_conns == MAX_CONNS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->conns[s->n_conns++] = (struct conn){.fd = fd};
    }
}

static int listen_on(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    int one = 1;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* serve: the poll loop until a signal. */
static void serve(struct stub *s)
{
    static struct pollfd pfd[MAX_CONNS + 1];
    while (!stopping) {
        pfd[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (size_t i = 0; i < s->n_conns; i++) {
            struct conn *c = &s->conns[i];
            pfd[i + 1] = (struct pollfd){.fd = c->fd,
                                         .events = (short) (POLLIN | (c->out_len ? POLLOUT : 0))};
        }
        size_t polled = s->n_conns;
        if (poll(pfd, polled + 1, -1) < 0)
            continue; /* EINTR: the signal is looked at above */
        /* Backwards, so conn_close's swap with the last one is safe. */
        for (size_t i = polled; i > 0; i--) {
            short ev = pfd[i].revents;
            struct conn *c = &s->conns[i - 1];
            int bad = 0;
            if (ev & (POLLIN | POLLHUP | POLLERR))
                bad = conn_read(s, c) != 0;
            if (!bad && c->out_len)
                bad = conn_flush(c) != 0;
            if (bad)
                conn_close(s, i - 1);
        }
        if (pfd[0].revents & POLLIN)
            accept_all(s);
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 27038;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            port = *end == '\0' && v > 0 && v < 65536 ? (int) v : 0;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else {
            fprintf(stderr, "usage: chat-bench-mongostub [--port N (27038)] [--host ADDR]\n");
            return 2;
        }
    }
    if (port < 1 || port > 65535) {
        fprintf(stderr, "mongostub: bad port\n");
        return 2;
    }
    static struct stub s;
    int rc = 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((s.lfd = listen_on(host, port)) < 0) {
        fprintf(stderr, "mongostub: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    if (!(s.store = stubstore_new())) {
        fprintf(stderr, "mongostub: out of memory\n");
        goto out;
    }
    fprintf(stderr, "mongostub: listening on %s:%d\n", host, port);
    serve(&s);
    tally_print(&s);
    rc = 0;
out:
    while (s.n_conns)
        conn_close(&s, s.n_conns - 1);
    close(s.lfd);
    stubstore_free(s.store);
    return rc;
}
