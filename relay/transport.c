/*
 * transport.c - sockets, the HTTP buffers, WebSocket I/O, time-outs and the
 * end of a connection (see transport.h).
 *
 * Following Redis' networking.c, a connection is never freed inside its
 * own callback: transport_kill() puts it on the reap list and the
 * before-sleep hook frees it; output is queued and flushed in the
 * before-sleep hook too, and write interest is only registered for
 * sockets that could not take everything at once.
 *
 * Output of an open WebSocket is gathered in the connection's own buffer
 * (c->out): a text frame is framed straight into it, and what wslay sends
 * by itself (pongs, the close frame) is appended by its send callback.
 * The flush then hands the socket everything of one loop pass in one
 * send(), whatever the number of frames: one system call and one TCP
 * push per connection per pass instead of two calls per frame.
 */
#include "transport.h"

#include "errors.h"
#include "ev.h"
#include "i64map.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "wsconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

struct transport {
    const struct config *cfg;
    struct ev_loop *loop;
    struct admission *adm;
    struct metrics *metrics;
    const struct transport_events *ev;
    void *arg;
    struct i64map conns; /* id -> conn */
    uint64_t next_conn_id;
    size_t n_open; /* CONN_OPEN */
    struct conn *flush_list, *reap_list;
};

static void conn_on_event(struct ev_loop *loop, int fd, void *data, int mask);

struct transport *transport_new(const struct config *cfg, struct ev_loop *loop,
                                struct admission *adm, struct metrics *metrics,
                                const struct transport_events *ev, void *arg)
{
    struct transport *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (struct transport){.cfg = cfg,
                            .loop = loop,
                            .adm = adm,
                            .metrics = metrics,
                            .ev = ev,
                            .arg = arg,
                            .next_conn_id = 1};
    i64map_init(&t->conns);
    return t;
}

struct conn *transport_conn(struct transport *t, uint64_t id)
{
    struct conn *c = i64map_get(&t->conns, (int64_t) id);
    return c && !c->dead ? c : NULL;
}

size_t transport_count(const struct transport *t)
{
    return i64map_len(&t->conns);
}

size_t transport_open(const struct transport *t)
{
    return t->n_open;
}

int transport_usable(const struct conn *c)
{
    return !c->dead && !c->closing && c->state == CONN_OPEN;
}

/* ---------------------------------------------------------- connections */

static void set_interest(struct conn *c, int want)
{
    struct ev_loop *loop = c->t->loop;
    int have = ev_mask(loop, c->fd);
    if (have & ~want)
        ev_del(loop, c->fd, have & ~want);
    if (want & ~have)
        ev_add(loop, c->fd, want & ~have, conn_on_event, c);
}

void transport_flush_later(struct conn *c)
{
    if (c->flushing || c->dead)
        return;
    c->flushing = 1;
    c->next_flush = c->t->flush_list;
    c->t->flush_list = c;
}

void transport_kill(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    set_interest(c, EV_NONE);
    c->next_reap = c->t->reap_list;
    c->t->reap_list = c;
}

void transport_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->dead)
        return;
    if (c->state != CONN_OPEN) {
        transport_kill(c);
        return;
    }
    if (c->closing)
        return;
    c->closing = 1;
    c->close_deadline_ms = timefmt_mono_ms() + TRANSPORT_CLOSE_GRACE_MS;
    if (wsconn_close(c->ws, code, reason) != 0) {
        transport_kill(c);
        return;
    }
    log_info("ws_close", "conn=%llu user=%lld code=%u", (unsigned long long) c->id,
             (long long) c->user_id, code);
    transport_flush_later(c);
}

void transport_close_all(struct transport *t, uint16_t code, const char *reason)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&t->conns, &pos, &key, &val))
        transport_close(val, code, reason);
}

/* over_outbuf: 1 (and the connection is closing with 1008) when its
 * queued output plus `more` bytes would pass max_outbuf_bytes. Every kind
 * of frame counts, the pongs wslay queues for the peer's pings included. */
static int over_outbuf(struct conn *c, size_t more)
{
    struct transport *t = c->t;
    size_t queued = wsconn_queued_bytes(c->ws) + (c->out_len - c->out_off);
    if (queued + more <= (size_t) t->cfg->max_outbuf_bytes)
        return 0;
    metrics_refuse(t->metrics, REFUSE_SLOW_CONSUMER);
    log_warn("slow_consumer", "conn=%llu user=%lld queued=%zu", (unsigned long long) c->id,
             (long long) c->user_id, queued);
    transport_close(c, 1008, "slow consumer");
    return 1;
}

/* after_read: what reading did besides commands. A close queued by the
 * WebSocket layer (a protocol error, a ping flood, the echo of the peer's
 * close) makes the connection closing at once, so nothing more is
 * delivered to it or counted as sent; pongs it queued count against the
 * output limit. */
static void after_read(struct conn *c)
{
    if (c->dead || c->closing)
        return;
    if (wsconn_closing(c->ws)) {
        c->closing = 1;
        c->close_deadline_ms = timefmt_mono_ms() + TRANSPORT_CLOSE_GRACE_MS;
        /* The only 1008 the WebSocket layer sends by itself. */
        if (wsconn_close_code(c->ws) == 1008)
            metrics_refuse(c->t->metrics, REFUSE_PING_FLOOD);
        log_info("ws_close", "conn=%llu user=%lld code=%u", (unsigned long long) c->id,
                 (long long) c->user_id, wsconn_close_code(c->ws));
        return;
    }
    over_outbuf(c, 0);
}

/* out_reserve: room for `more` bytes at the end of c->out (what was sent
 * already is dropped first). 0, or ERR_NOMEM with c->out unchanged. */
static int out_reserve(struct conn *c, size_t more)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len >= more)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : TRANSPORT_OUT_MIN;
    while (cap - c->out_len < more)
        cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
        return ERR_NOMEM;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

/* out_append: len bytes at the end of c->out. 0 or ERR_NOMEM. */
static int out_append(struct conn *c, const void *data, size_t len)
{
    if (out_reserve(c, len) != 0)
        return ERR_NOMEM;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

size_t transport_frame_header(uint8_t *hdr, size_t len)
{
    hdr[0] = 0x81; /* FIN, text; a server's frames are not masked */
    if (len < 126) {
        hdr[1] = (uint8_t) len;
        return 2;
    }
    if (len < 65536) {
        hdr[1] = 126;
        hdr[2] = (uint8_t) (len >> 8);
        hdr[3] = (uint8_t) len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
    return 10;
}

void transport_send(struct conn *c, const char *frame, size_t len)
{
    if (!transport_usable(c))
        return;
    if (over_outbuf(c, len))
        return;
    uint8_t hdr[TRANSPORT_FRAME_HEADER_MAX];
    size_t hlen = transport_frame_header(hdr, len);
    if (out_reserve(c, hlen + len) != 0) {
        transport_close(c, 1011, "out of memory");
        return;
    }
    memcpy(c->out + c->out_len, hdr, hlen);
    memcpy(c->out + c->out_len + hlen, frame, len);
    c->out_len += hlen + len;
    transport_flush_later(c);
}

void transport_send_owned(struct conn *c, char *frame)
{
    if (!frame) {
        transport_close(c, 1011, "out of memory");
        return;
    }
    transport_send(c, frame, strlen(frame));
    free(frame);
}

/* out_write: hand the socket what c->out holds, in one send() unless
 * the socket takes only part. 0 (all sent or the socket is full), or -1
 * when the socket failed. An emptied buffer is released: idle
 * connections hold none. */
static int out_write(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            return -1;
        c->out_off += (size_t) w;
    }
    if (c->out_off == c->out_len && c->out) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = c->out_cap = 0;
    }
    return 0;
}

/* conn_flush: write what is pending, then choose the fd interest. */
static void conn_flush(struct conn *c)
{
    c->flushing = 0;
    if (c->dead)
        return;
    /* What wslay holds (pongs, a close) joins the buffer first. */
    if (c->state == CONN_OPEN && wsconn_write_wanted(c->ws) && wsconn_write(c->ws) != 0) {
        transport_kill(c);
        return;
    }
    if (out_write(c) != 0) {
        transport_kill(c);
        return;
    }
    int out_pending = c->out_off < c->out_len;

    switch (c->state) {
    case CONN_HTTP:
        set_interest(c, EV_READ);
        break;
    case CONN_WAIT:
        set_interest(c, EV_NONE);
        break;
    case CONN_REPLY:
        if (!out_pending) {
            transport_kill(c);
            return;
        }
        set_interest(c, EV_WRITE);
        break;
    case CONN_OPEN:
        if (!out_pending && wsconn_finished(c->ws)) {
            transport_kill(c);
            return;
        }
        set_interest(c, (wsconn_read_wanted(c->ws) ? EV_READ : 0) |
                            (out_pending || wsconn_write_wanted(c->ws) ? EV_WRITE : 0));
        break;
    }
}

static void conn_free(struct conn *c)
{
    struct transport *t = c->t;
    if (c->state == CONN_OPEN) {
        log_info("ws_end", "conn=%llu user=%lld close_code=%u seconds=%lld",
                 (unsigned long long) c->id, (long long) c->user_id, wsconn_close_code(c->ws),
                 (long long) ((timefmt_mono_ms() - c->opened_ms) / 1000));
        t->ev->freeing(t->arg, c);
        t->n_open--;
        admission_user_close(t->adm, c->user_id);
    }
    admission_remove(t->adm, &c->adm);
    i64map_del(&t->conns, (int64_t) c->id);
    close(c->fd);
    wsconn_free(c->ws);
    free(c->in);
    free(c->out);
    free(c);
}

void transport_before_sleep(struct transport *t)
{
    while (t->flush_list) {
        struct conn *c = t->flush_list;
        t->flush_list = c->next_flush;
        conn_flush(c);
    }
    while (t->reap_list) {
        struct conn *c = t->reap_list;
        t->reap_list = c->next_reap;
        conn_free(c);
    }
}

void transport_free(struct transport *t)
{
    if (!t)
        return;
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&t->conns, &pos, &key, &val))
        transport_kill(val);
    while (t->reap_list) {
        struct conn *c = t->reap_list;
        t->reap_list = c->next_reap;
        conn_free(c);
    }
    t->flush_list = NULL;
    i64map_deinit(&t->conns);
    free(t);
}

/* ------------------------------------------------------------ accepting */

int transport_reaping(const struct transport *t)
{
    return t->reap_list != NULL;
}

void transport_shed(struct transport *t, struct adm_entry *e)
{
    struct conn *v = (struct conn *) (void *) ((char *) e - offsetof(struct conn, adm));
    admission_remove(t->adm, e);
    metrics_refuse(t->metrics, REFUSE_HANDSHAKE_SHED);
    log_info("handshake_shed", "conn=%llu", (unsigned long long) v->id);
    transport_kill(v);
}

struct conn *transport_accept(struct transport *t, int fd, const struct sockaddr *sa,
                              socklen_t salen)
{
    /* The loop cannot watch it: refuse before anything else touches it. */
    if (fd >= ev_fd_limit(t->loop)) {
        metrics_refuse(t->metrics, REFUSE_FD_LIMIT);
        log_warn("accept_refused", "reason=fd_limit fd=%d", fd);
        close(fd);
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c)
        c->in = malloc(HS_MAX_REQUEST);
    if (!c || !c->in) {
        if (c)
            free(c);
        close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->id = t->next_conn_id++;
    c->fd = fd;
    c->t = t;
    c->state = CONN_HTTP;
    c->opened_ms = c->last_heard_ms = c->last_ping_ms = timefmt_mono_ms();
    int64_t key = admission_addr_key(t->adm, sa, salen);
    struct adm_entry *victim = admission_victim(t->adm, key, 0);
    if (victim)
        transport_shed(t, victim);
    if (admission_add(t->adm, &c->adm, key) != 0) {
        free(c->in);
        free(c);
        close(fd);
        return NULL;
    }
    if (i64map_put(&t->conns, (int64_t) c->id, c) != 0) {
        admission_remove(t->adm, &c->adm);
        free(c->in);
        free(c);
        close(fd);
        return NULL;
    }
    set_interest(c, EV_READ);
    return c;
}

/* ----------------------------------------------------------- HTTP stage */

void transport_http_reply(struct conn *c, int status, const char *extra, const char *ctype,
                          const char *body, size_t body_len)
{
    size_t cap = 512 + (extra ? strlen(extra) : 0) + body_len;
    free(c->out);
    c->out = malloc(cap);
    c->out_off = 0;
    c->out_cap = c->out ? cap : 0;
    c->out_len = c->out ? hs_format_response(c->out, cap, status, extra, ctype, body, body_len) : 0;
    c->state = CONN_REPLY;
    if (c->out_len == 0) {
        transport_kill(c);
        return;
    }
    transport_flush_later(c);
}

void transport_http_text(struct conn *c, int status, const char *extra, const char *text)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%s\n", text);
    transport_http_reply(c, status, extra, "text/plain; charset=utf-8", body,
                         n > 0 && (size_t) n < sizeof body ? (size_t) n : 0);
}

void transport_wait(struct conn *c)
{
    c->state = CONN_WAIT;
    transport_flush_later(c);
}

static void http_read(struct conn *c)
{
    ssize_t n;
    do
        n = recv(c->fd, c->in + c->in_len, HS_MAX_REQUEST - c->in_len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        transport_kill(c);
        return;
    }
    c->in_len += (size_t) n;
    int rc = hs_parse(c->in, c->in_len, &c->hs);
    if (rc == HS_INCOMPLETE)
        return;
    if (rc != HS_BAD)
        c->early_off = c->hs.length;
    c->t->ev->request(c->t->arg, c, rc);
}

/* ------------------------------------------------------------ WebSocket */

/* sock_recv: wslay's read callback. It must keep reading until the socket
 * would block (no read budget): wsconn gives an idle connection's wslay
 * context back to its pool only when wslay has read everything, so that
 * no half-parsed bytes stay in a context another connection gets next. */
static ssize_t sock_recv(void *arg, uint8_t *buf, size_t len)
{
    struct conn *c = arg;
    if (c->in && c->early_off < c->in_len) {
        /* Bytes that arrived with the handshake belong to the WebSocket. */
        size_t n = c->in_len - c->early_off;
        if (n > len)
            n = len;
        memcpy(buf, c->in + c->early_off, n);
        c->early_off += n;
        if (c->early_off == c->in_len) {
            free(c->in); /* the handshake buffer is not needed any more */
            c->in = NULL;
            c->in_len = c->early_off = 0;
        }
        return (ssize_t) n;
    }
    /* A short read emptied the socket: the next recv() would only say
     * EAGAIN, so say it without the call (select() reports what comes
     * later). */
    if (c->rx_drained) {
        errno = EAGAIN;
        return -1;
    }
    ssize_t r;
    do
        r = recv(c->fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0 && (size_t) r < len)
        c->rx_drained = 1;
    return r;
}

/* sock_send: wslay's own frames (pongs, close) go into c->out like the
 * text frames, after what is there already; the flush sends them. */
static ssize_t sock_send(void *arg, const uint8_t *buf, size_t len, int more)
{
    struct conn *c = arg;
    (void) more;
    if (out_append(c, buf, len) != 0) {
        errno = ENOMEM;
        return -1;
    }
    return (ssize_t) len;
}

static void ws_text(void *arg, const char *text, size_t len)
{
    struct conn *c = arg;
    if (c->closing || c->dead)
        return;
    c->t->ev->text(c->t->arg, c, text, len);
}

static void ws_alive(void *arg)
{
    struct conn *c = arg;
    c->last_heard_ms = timefmt_mono_ms();
}

static const struct wsconn_io sock_io = {sock_recv, sock_send, NULL};
static const struct wsconn_events ws_events = {ws_text, ws_alive};

int transport_upgrade(struct conn *c, int64_t user_id)
{
    char accept[HS_ACCEPT_LEN + 1], head[256];
    hs_accept_key(c->hs.key, accept);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    struct wsconn *ws =
        wsconn_new(&sock_io, c, &ws_events, c, (size_t) c->t->cfg->max_message_bytes);
    char *out = malloc((size_t) n);
    if (!ws || !out) {
        wsconn_free(ws);
        free(out);
        return ERR_NOMEM;
    }
    memcpy(out, head, (size_t) n);
    free(c->out);
    c->ws = ws;
    c->out = out;
    c->out_len = c->out_cap = (size_t) n;
    c->out_off = 0;
    c->state = CONN_OPEN;
    c->user_id = user_id;
    c->last_heard_ms = c->last_ping_ms = timefmt_mono_ms();
    c->t->n_open++;
    return 0;
}

void transport_start(struct conn *c)
{
    transport_flush_later(c);
    if (c->early_off < c->in_len) {
        if (wsconn_read(c->ws) != 0)
            transport_kill(c);
        else
            after_read(c);
    } else {
        free(c->in);
        c->in = NULL;
        c->in_len = c->early_off = 0;
    }
}

static void conn_on_event(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct conn *c = data;
    (void) loop;
    (void) fd;
    if (c->dead)
        return;
    if (mask & EV_READ) {
        if (c->state == CONN_HTTP) {
            http_read(c);
        } else if (c->state == CONN_OPEN) {
            c->rx_drained = 0;
            if (wsconn_read(c->ws) != 0) {
                /* best effort: a close frame wslay queued */
                if (wsconn_write(c->ws) == 0)
                    out_write(c);
                transport_kill(c);
                return;
            }
            after_read(c);
            transport_flush_later(c);
        }
    }
    if ((mask & EV_WRITE) && !c->dead)
        conn_flush(c);
}

/* ------------------------------------------------------------- time-outs */

void transport_sweep(struct transport *t, int64_t now)
{
    const struct config *cfg = t->cfg;
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&t->conns, &pos, &key, &val)) {
        struct conn *c = val;
        if (c->dead)
            continue;
        if (c->state != CONN_OPEN) {
            if (now - c->opened_ms > (int64_t) cfg->handshake_timeout * 1000) {
                metrics_refuse(t->metrics, REFUSE_HANDSHAKE_TIMEOUT);
                log_info("handshake_timeout", "conn=%llu", (unsigned long long) c->id);
                transport_kill(c);
            }
            continue;
        }
        if (c->closing) {
            if (now >= c->close_deadline_ms)
                transport_kill(c);
            continue;
        }
        if (now - c->last_heard_ms > (int64_t) cfg->pong_timeout * 1000) {
            metrics_refuse(t->metrics, REFUSE_PONG_TIMEOUT);
            log_info("pong_timeout", "conn=%llu user=%lld", (unsigned long long) c->id,
                     (long long) c->user_id);
            transport_kill(c);
            continue;
        }
        if (now - c->last_ping_ms >= (int64_t) cfg->ping_interval * 1000) {
            c->last_ping_ms = now;
            if (wsconn_ping(c->ws) == 0)
                transport_flush_later(c);
        }
    }
}
