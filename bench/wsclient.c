/*
 * wsclient.c - a WebSocket client connection over a non-blocking socket (see
 * wsclient.h).
 *
 * Hot path: wsclient_on_event and wsclient_send_text run for every frame of a
 * load test, thousands of connections at a time, so nothing here allocates
 * per frame beyond what wslay does when a message is queued. The handshake
 * buffer exists only until the handshake's leftover bytes have been fed to
 * wslay.
 */
#include "wsclient.h"

#include "errors.h"
#include "http_list.h"
#include "ws_accept.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define HS_MAX       4096      /* longest handshake answer we accept */
#define RECV_MSG_MAX (1 << 20) /* largest message we accept from the relay */

struct wsclient {
    int fd;            /* -1 once closed */
    int epfd;          /* borrowed */
    uint32_t interest; /* events registered in epfd; 0: not yet added */
    enum wsclient_state state;
    const struct wsclient_target *t; /* borrowed */
    struct wsclient_handlers h;
    void *ud;
    wslay_event_context_ptr ws;
    uint64_t rng; /* xorshift state for masks */

    char key[32]; /* our Sec-WebSocket-Key */
    char *req;    /* handshake request, freed once sent */
    size_t req_len, req_off;
    char *hs;      /* handshake answer, then leftover frame bytes */
    size_t hs_len; /* bytes in hs */
    size_t hs_off; /* leftover bytes already given to wslay */

    int http_status;
    int in_wslay;          /* inside wslay_event_recv/send: defer aborts */
    const char *abort_why; /* deferred abort, set while in_wslay */
    int eof;               /* the peer closed the TCP connection */
    const char *why;
    char why_buf[96];
};

/* ------------------------------------------------------------ helpers */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: masks need not be secret here, only varied */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_seed(void)
{
    static uint64_t base, counter;
    if (base == 0) {
        if (getrandom(&base, sizeof base, 0) != (ssize_t) sizeof base)
            base = (uint64_t) time(NULL) ^ (uint64_t) getpid() << 32;
        base |= 1;
    }
    /* splitmix64 of a counter: distinct streams per connection */
    uint64_t z = base + ++counter * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 1;
}

int wsclient_target_parse(const char *url, struct wsclient_target *t)
{
    memset(t, 0, sizeof *t);
    if (strncmp(url, "ws://", 5) != 0)
        return ERR_INVALID;
    const char *host = url + 5;
    const char *colon = strchr(host, ':');
    const char *slash = strchr(host, '/');
    if (!colon || (slash && slash < colon))
        return ERR_INVALID;
    char name[64];
    size_t hlen = (size_t) (colon - host);
    if (hlen == 0 || hlen >= sizeof name)
        return ERR_INVALID;
    memcpy(name, host, hlen);
    name[hlen] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
        return ERR_INVALID;
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, strcmp(name, "localhost") == 0 ? "127.0.0.1" : name,
                  &t->addr.sin_addr) != 1)
        return ERR_INVALID;
    const char *path = *end ? end : "/";
    if ((size_t) snprintf(t->host, sizeof t->host, "%s:%ld", name, port) >= sizeof t->host ||
        (size_t) snprintf(t->path, sizeof t->path, "%s", path) >= sizeof t->path)
        return ERR_INVALID;
    return 0;
}

/* ------------------------------------------------------------ closing */

static void finish(struct wsclient *c, const char *why)
{
    if (c->state == WSCLIENT_CLOSED)
        return;
    if (c->fd >= 0) {
        if (c->interest)
            epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->interest = 0;
    c->state = WSCLIENT_CLOSED;
    c->why = why;
    free(c->req);
    c->req = NULL;
    free(c->hs);
    c->hs = NULL;
    if (c->h.on_closed)
        c->h.on_closed(c, c->ud);
}

static void finish_errno(struct wsclient *c, const char *what, int e)
{
    snprintf(c->why_buf, sizeof c->why_buf, "%s: %s", what, strerror(e));
    finish(c, c->why_buf);
}

void wsclient_abort(struct wsclient *c, const char *why)
{
    if (c->in_wslay) {
        c->abort_why = why ? why : "aborted";
        return;
    }
    finish(c, why ? why : "aborted");
}

/* ------------------------------------------------------------ interest */

static void update_interest(struct wsclient *c)
{
    if (c->state == WSCLIENT_CLOSED)
        return;
    uint32_t want = 0;
    switch (c->state) {
    case WSCLIENT_CONNECTING:
        want = EPOLLOUT;
        break;
    case WSCLIENT_HANDSHAKE:
        want = c->req ? EPOLLOUT : EPOLLIN;
        break;
    case WSCLIENT_OPEN:
        want = (wslay_event_want_read(c->ws) ? EPOLLIN : 0) |
               (wslay_event_want_write(c->ws) ? EPOLLOUT : 0);
        break;
    case WSCLIENT_CLOSED:
        break;
    }
    if (want == c->interest)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    int op = c->interest ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(c->epfd, op, c->fd, &ev) != 0) {
        finish_errno(c, "epoll_ctl", errno);
        return;
    }
    c->interest = want;
}

/* ------------------------------------------------------------ wslay I/O */

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    (void) flags;
    struct wsclient *c = user_data;
    if (c->hs && c->hs_off < c->hs_len) { /* bytes that came with the handshake answer */
        size_t n = c->hs_len - c->hs_off;
        if (n > len)
            n = len;
        memcpy(buf, c->hs + c->hs_off, n);
        c->hs_off += n;
        return (ssize_t) n;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0)
        return n;
    if (n == 0) {
        c->eof = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        snprintf(c->why_buf, sizeof c->why_buf, "recv: %s", strerror(errno));
        c->why = c->why_buf;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct wsclient *c = user_data;
    int sflags = MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
    ssize_t n = send(c->fd, data, len, sflags);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        snprintf(c->why_buf, sizeof c->why_buf, "send: %s", strerror(errno));
        c->why = c->why_buf;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static int cb_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user_data)
{
    (void) ctx;
    struct wsclient *c = user_data;
    while (len > 0) {
        uint64_t r = rng_next(&c->rng);
        size_t n = len < sizeof r ? len : sizeof r;
        memcpy(buf, &r, n);
        buf += n;
        len -= n;
    }
    return 0;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user_data)
{
    (void) ctx;
    struct wsclient *c = user_data;
    if (arg->opcode == WSLAY_TEXT_FRAME && c->h.on_text)
        c->h.on_text(c, arg->msg, arg->msg_length, c->ud);
    /* binary frames are not part of the protocol: ignored; close, ping and
     * pong are answered by wslay itself */
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = cb_recv,
    .send_callback = cb_send,
    .genmask_callback = cb_genmask,
    .on_msg_recv_callback = cb_msg,
};

/* ws_io: read what is there (when readable or leftover bytes wait), then
 * write what is queued; close when wslay has nothing left to do. */
static void ws_io(struct wsclient *c, int readable)
{
    int rv = 0;
    c->in_wslay = 1;
    int leftover = c->hs && c->hs_off < c->hs_len;
    if ((readable || leftover) && wslay_event_want_read(c->ws))
        rv = wslay_event_recv(c->ws);
    if (c->hs && c->hs_off >= c->hs_len) {
        free(c->hs);
        c->hs = NULL;
    }
    if (rv == 0 && wslay_event_want_write(c->ws))
        rv = wslay_event_send(c->ws);
    c->in_wslay = 0;

    if (c->abort_why) {
        finish(c, c->abort_why);
        return;
    }
    if (rv != 0) {
        if (c->eof)
            finish(c, wslay_event_get_close_received(c->ws) ? "closed by peer" : "eof");
        else
            finish(c, c->why ? c->why : "wslay error");
        return;
    }
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        finish(c, wslay_event_get_close_received(c->ws) ? "closed by peer" : "closed");
        return;
    }
    update_interest(c);
}

/* ------------------------------------------------------------ handshake */

static int build_request(struct wsclient *c, const char *token)
{
    unsigned char raw[16];
    for (size_t i = 0; i < sizeof raw; i += 8) {
        uint64_t r = rng_next(&c->rng);
        memcpy(raw + i, &r, 8);
    }
    EVP_EncodeBlock((unsigned char *) c->key, raw, sizeof raw);
    size_t cap = 512 + strlen(c->t->path) + strlen(c->t->host) + (token ? strlen(token) : 0);
    c->req = malloc(cap);
    if (!c->req)
        return ERR_NOMEM;
    int n = snprintf(c->req, cap,
                     "GET %s%s%s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     c->t->path, token ? "?token=" : "", token ? token : "", c->t->host, c->key);
    if (n < 0 || (size_t) n >= cap)
        return ERR_INVALID;
    c->req_len = (size_t) n;
    c->req_off = 0;
    return 0;
}

/* check_answer: the header block [0, hdr_len) of a handshake answer.
 * Returns NULL when it accepts the upgrade, else why not. */
static const char *check_answer(struct wsclient *c, const char *h, size_t hdr_len)
{
    if (hdr_len < 12 || strncmp(h, "HTTP/1.1 ", 9) != 0)
        return "malformed handshake answer";
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (h[i] < '0' || h[i] > '9')
            return "malformed handshake answer";
        status = status * 10 + (h[i] - '0');
    }
    c->http_status = status;
    if (status != 101) {
        snprintf(c->why_buf, sizeof c->why_buf, "http %d", status);
        return c->why_buf;
    }
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_key(c->key, accept);
    int ok_upgrade = 0, ok_conn = 0, ok_accept = 0;
    const char *p = memchr(h, '\n', hdr_len);
    const char *end = h + hdr_len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t) (end - line));
        if (!eol)
            break;
        size_t ll = (size_t) (eol - line);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t) (colon - line);
            const char *v = colon + 1;
            size_t vl = ll - nl - 1;
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (nl == 7 && strncasecmp(line, "upgrade", 7) == 0)
                ok_upgrade = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
            else if (nl == 10 && strncasecmp(line, "connection", 10) == 0)
                ok_conn = http_list_has(v, vl, "upgrade");
            else if (nl == 20 && strncasecmp(line, "sec-websocket-accept", 20) == 0)
                ok_accept = vl == strlen(accept) && memcmp(v, accept, vl) == 0;
        }
        p = eol;
    }
    if (!ok_upgrade)
        return "handshake: no Upgrade: websocket";
    if (!ok_conn)
        return "handshake: no Connection: upgrade";
    if (!ok_accept)
        return "handshake: wrong Sec-WebSocket-Accept";
    return NULL;
}

static void handshake_write(struct wsclient *c)
{
    while (c->req && c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            finish_errno(c, "send", errno);
            return;
        }
        c->req_off += (size_t) n;
    }
    free(c->req);
    c->req = NULL;
}

static void handshake_read(struct wsclient *c)
{
    if (!c->hs && !(c->hs = malloc(HS_MAX))) {
        finish(c, "out of memory");
        return;
    }
    for (;;) {
        if (c->hs_len >= HS_MAX - 1) {
            finish(c, "handshake answer too long");
            return;
        }
        ssize_t n = recv(c->fd, c->hs + c->hs_len, HS_MAX - 1 - c->hs_len, 0);
        if (n == 0) {
            finish(c, "eof during handshake");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            finish_errno(c, "recv", errno);
            return;
        }
        c->hs_len += (size_t) n;
        c->hs[c->hs_len] = '\0';
        const char *eoh = memmem(c->hs, c->hs_len, "\r\n\r\n", 4);
        if (!eoh)
            continue;
        size_t hdr_len = (size_t) (eoh - c->hs) + 4;
        const char *bad = check_answer(c, c->hs, hdr_len);
        if (bad) {
            finish(c, bad);
            return;
        }
        c->hs_off = hdr_len; /* what follows is already WebSocket framing */
        c->state = WSCLIENT_OPEN;
        if (c->h.on_open)
            c->h.on_open(c, c->ud);
        if (c->state == WSCLIENT_OPEN)
            ws_io(c, 0);
        return;
    }
}

/* ------------------------------------------------------------ lifecycle */

static struct wsclient *conn_new(int epfd, int fd, const struct wsclient_target *t,
                                 const char *token, const struct wsclient_handlers *h, void *ud,
                                 int *err)
{
    struct wsclient *c = calloc(1, sizeof *c);
    if (!c) {
        *err = ERR_NOMEM;
        return NULL;
    }
    c->fd = fd;
    c->epfd = epfd;
    c->t = t;
    c->h = *h;
    c->ud = ud;
    c->rng = rng_seed();
    c->state = WSCLIENT_CONNECTING;
    if (wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0) {
        free(c);
        *err = ERR_NOMEM;
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, RECV_MSG_MAX);
    int rc = build_request(c, token);
    if (rc != 0) {
        wslay_event_context_free(c->ws);
        free(c->req);
        free(c);
        *err = rc;
        return NULL;
    }
    return c;
}

/* register_first: the first epoll registration; a failure here is the
 * creator's to report, so on_closed does not run for it. */
static int register_first(struct wsclient *c)
{
    void (*on_closed)(struct wsclient *, void *) = c->h.on_closed;
    c->h.on_closed = NULL;
    update_interest(c);
    c->h.on_closed = on_closed;
    return c->state == WSCLIENT_CLOSED ? ERR_IO : 0;
}

struct wsclient *wsclient_connect(int epfd, const struct wsclient_target *t, const char *token,
                                  const struct wsclient_handlers *h, void *ud, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = ERR_IO;
        return NULL;
    }
    int one = 1;
    /* small frames: Nagle and delayed ACKs would add tens of milliseconds */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct wsclient *c = conn_new(epfd, fd, t, token, h, ud, err);
    if (!c) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (connect(fd, (const struct sockaddr *) &t->addr, sizeof t->addr) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        wsclient_free(c);
        errno = e;
        *err = ERR_IO;
        return NULL;
    }
    if (register_first(c) != 0) {
        wsclient_free(c);
        *err = ERR_IO;
        return NULL;
    }
    return c;
}

struct wsclient *wsclient_adopt(int epfd, int fd, const struct wsclient_target *t,
                                const char *token, const struct wsclient_handlers *h, void *ud,
                                int *err)
{
    struct wsclient *c = conn_new(epfd, fd, t, token, h, ud, err);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->state = WSCLIENT_HANDSHAKE;
    if (register_first(c) != 0) {
        wsclient_free(c);
        *err = ERR_IO;
        return NULL;
    }
    return c;
}

void wsclient_on_event(struct wsclient *c, uint32_t events)
{
    if (c->state == WSCLIENT_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        if (soerr) {
            finish_errno(c, "connect", soerr);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        c->state = WSCLIENT_HANDSHAKE;
        events |= EPOLLOUT;
    }
    if (c->state == WSCLIENT_HANDSHAKE) {
        if (c->req && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            handshake_write(c);
        if (c->state == WSCLIENT_HANDSHAKE && !c->req && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            handshake_read(c);
        update_interest(c);
        return;
    }
    if (c->state == WSCLIENT_OPEN)
        ws_io(c, (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0);
}

int wsclient_send_text(struct wsclient *c, const char *text, size_t len)
{
    if (c->state != WSCLIENT_OPEN || !wslay_event_get_write_enabled(c->ws) ||
        wslay_event_get_close_sent(c->ws))
        return ERR_INVALID;
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *) text, .msg_length = len};
    int rv = wslay_event_queue_msg(c->ws, &m);
    if (rv == WSLAY_ERR_NOMEM)
        return ERR_NOMEM;
    if (rv != 0)
        return ERR_INVALID;
    if (!c->in_wslay)
        ws_io(c, 0);
    return 0;
}

void wsclient_close(struct wsclient *c, uint16_t code)
{
    if (c->state != WSCLIENT_OPEN || wslay_event_get_close_sent(c->ws))
        return;
    wslay_event_queue_close(c->ws, code, NULL, 0);
    if (!c->in_wslay)
        ws_io(c, 0);
}

enum wsclient_state wsclient_state(const struct wsclient *c)
{
    return c->state;
}

int wsclient_http_status(const struct wsclient *c)
{
    return c->http_status;
}

int wsclient_close_code(const struct wsclient *c)
{
    if (!c->ws || !wslay_event_get_close_received(c->ws))
        return 0;
    return wslay_event_get_status_code_received(c->ws);
}

const char *wsclient_why(const struct wsclient *c)
{
    return c->why ? c->why : "";
}

size_t wsclient_queued_bytes(const struct wsclient *c)
{
    return c->ws ? wslay_event_get_queued_msg_length(c->ws) : 0;
}

void wsclient_free(struct wsclient *c)
{
    if (!c)
        return;
    c->h.on_closed = NULL;
    finish(c, "freed");
    wslay_event_context_free(c->ws);
    free(c->req);
    free(c->hs);
    free(c);
}
