/*
 * relay.c - sockets, the HTTP stage, workers, timers and shutdown of the
 * relay (see relay.h; the chat protocol itself is in session.c).
 *
 * One thread runs the ev loop and owns every socket and every structure
 * here. Blocking work (token consume, membership, MongoDB reads and
 * writes) goes to three work queues whose completions come back through
 * the wake-up pipe. Following Redis' networking.c, a connection is never
 * freed inside its own callback: conn_kill() puts it on the reap list and
 * the before-sleep hook frees it; output is queued and flushed in the
 * before-sleep hook too, and write interest is only registered for
 * sockets that could not take everything at once.
 */
#include "relay_int.h"

#include "errors.h"
#include "ev.h"
#include "log.h"
#include "msgstore.h"
#include "redis_bus.h"
#include "redis_pub.h"
#include "seqalloc.h"
#include "socket_tokens.h"
#include "sqldb.h"
#include "timefmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- jobs */

struct token_job {
    struct job base;
    struct relay *relay;
    uint64_t conn_id;
    char token[HS_TOKEN_MAX + 1];
    int64_t user_id;
    int rc;
};

struct health_job {
    struct job base;
    struct relay *relay;
    uint64_t conn_id;
    int mongo; /* 0: MySQL, 1: MongoDB */
    int rc;
};

static void *sql_thread_init(void *arg)
{
    struct relay *r = arg;
    return sqldb_new(r->cfg); /* NULL: every job on this thread answers unavailable */
}

static void sql_thread_fini(void *ctx)
{
    sqldb_free(ctx);
}

static int load_last_seq(void *arg, int64_t room_id, int64_t *last)
{
    return msgstore_last_seq(arg, room_id, last);
}

/* ---------------------------------------------------------- connections */

static void conn_kill(struct conn *c);
static void http_reply(struct conn *c, int status, const char *extra, const char *ctype,
                       const char *body, size_t body_len);
static void conn_on_event(struct ev_loop *loop, int fd, void *data, int mask);

struct conn *relay_conn(struct relay *r, uint64_t id)
{
    struct conn *c = i64map_get(&r->conns, (int64_t) id);
    return c && !c->dead ? c : NULL;
}

static void set_interest(struct conn *c, int want)
{
    struct ev_loop *loop = c->relay->loop;
    int have = ev_mask(loop, c->fd);
    if (have & ~want)
        ev_del(loop, c->fd, have & ~want);
    if (want & ~have)
        ev_add(loop, c->fd, want & ~have, conn_on_event, c);
}

void conn_flush_later(struct conn *c)
{
    if (c->flushing || c->dead)
        return;
    c->flushing = 1;
    c->next_flush = c->relay->flush_list;
    c->relay->flush_list = c;
}

static void conn_kill(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    set_interest(c, EV_NONE);
    c->next_reap = c->relay->reap_list;
    c->relay->reap_list = c;
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->dead)
        return;
    if (c->state != CONN_OPEN) {
        conn_kill(c);
        return;
    }
    if (c->closing)
        return;
    c->closing = 1;
    c->close_deadline_ms = timefmt_mono_ms() + RELAY_CLOSE_GRACE_MS;
    if (wsconn_close(c->ws, code, reason) != 0) {
        conn_kill(c);
        return;
    }
    log_info("ws_close", "conn=%llu user=%lld code=%u", (unsigned long long) c->id,
             (long long) c->user_id, code);
    conn_flush_later(c);
}

/* conn_over_outbuf: 1 (and the connection is closing with 1008) when its
 * queued output plus `more` bytes would pass max_outbuf_bytes. Every kind
 * of frame counts, the pongs wslay queues for the peer's pings included. */
static int conn_over_outbuf(struct conn *c, size_t more)
{
    struct relay *r = c->relay;
    if (wsconn_queued_bytes(c->ws) + more <= (size_t) r->cfg->max_outbuf_bytes)
        return 0;
    metrics_refuse(&r->metrics, REFUSE_SLOW_CONSUMER);
    log_warn("slow_consumer", "conn=%llu user=%lld queued=%zu", (unsigned long long) c->id,
             (long long) c->user_id, wsconn_queued_bytes(c->ws));
    conn_close(c, 1008, "slow consumer");
    return 1;
}

/* conn_after_read: what reading did besides commands. A close queued by
 * the WebSocket layer (a protocol error, a ping flood, the echo of the
 * peer's close) makes the connection closing at once, so nothing more is
 * delivered to it or counted as sent; pongs it queued count against the
 * output limit. */
static void conn_after_read(struct conn *c)
{
    if (c->dead || c->closing)
        return;
    if (wsconn_closing(c->ws)) {
        c->closing = 1;
        c->close_deadline_ms = timefmt_mono_ms() + RELAY_CLOSE_GRACE_MS;
        /* The only 1008 the WebSocket layer sends by itself. */
        if (wsconn_close_code(c->ws) == 1008)
            metrics_refuse(&c->relay->metrics, REFUSE_PING_FLOOD);
        log_info("ws_close", "conn=%llu user=%lld code=%u", (unsigned long long) c->id,
                 (long long) c->user_id, wsconn_close_code(c->ws));
        return;
    }
    conn_over_outbuf(c, 0);
}

void conn_send_frame(struct conn *c, const char *frame, size_t len)
{
    if (c->dead || c->closing || c->state != CONN_OPEN)
        return;
    if (conn_over_outbuf(c, len))
        return;
    int rc = wsconn_send_text(c->ws, frame, len);
    if (rc == ERR_NOMEM) {
        conn_close(c, 1011, "out of memory");
        return;
    }
    conn_flush_later(c);
}

void conn_send_owned(struct conn *c, char *frame)
{
    if (!frame) {
        conn_close(c, 1011, "out of memory");
        return;
    }
    conn_send_frame(c, frame, strlen(frame));
    free(frame);
}

/* conn_flush: write what is pending, then choose the fd interest. */
static void conn_flush(struct conn *c)
{
    c->flushing = 0;
    if (c->dead)
        return;
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            conn_kill(c);
            return;
        }
        c->out_off += (size_t) w;
    }
    int out_pending = c->out_off < c->out_len;
    if (!out_pending && c->out) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }

    switch (c->state) {
    case CONN_HTTP:
        set_interest(c, EV_READ);
        break;
    case CONN_WAIT:
        set_interest(c, EV_NONE);
        break;
    case CONN_REPLY:
        if (!out_pending) {
            conn_kill(c);
            return;
        }
        set_interest(c, EV_WRITE);
        break;
    case CONN_OPEN:
        if (!out_pending && wsconn_write_wanted(c->ws) && wsconn_write(c->ws) != 0) {
            conn_kill(c);
            return;
        }
        if (wsconn_finished(c->ws)) {
            conn_kill(c);
            return;
        }
        set_interest(c, (wsconn_read_wanted(c->ws) ? EV_READ : 0) |
                            (out_pending || wsconn_write_wanted(c->ws) ? EV_WRITE : 0));
        break;
    }
}

static void conn_free(struct conn *c)
{
    struct relay *r = c->relay;
    if (c->state == CONN_OPEN) {
        log_info("ws_end", "conn=%llu user=%lld close_code=%u seconds=%lld",
                 (unsigned long long) c->id, (long long) c->user_id, wsconn_close_code(c->ws),
                 (long long) ((timefmt_mono_ms() - c->opened_ms) / 1000));
        session_close(c);
        r->n_open--;
        admission_user_close(&r->adm, c->user_id);
    }
    admission_remove(&r->adm, &c->adm);
    i64map_del(&r->conns, (int64_t) c->id);
    close(c->fd);
    wsconn_free(c->ws);
    free(c->in);
    free(c->out);
    free(c->subs);
    free(c->member_of);
    free(c);
}

/* ------------------------------------------------------------ accepting */

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
    ssize_t r;
    do
        r = recv(c->fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

static ssize_t sock_send(void *arg, const uint8_t *buf, size_t len, int more)
{
    struct conn *c = arg;
    ssize_t r;
    do
        r = send(c->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    while (r < 0 && errno == EINTR);
    return r;
}

static const struct wsconn_io sock_io = {sock_recv, sock_send, NULL};
static const struct wsconn_events session_events = {session_on_text, session_on_alive};

static int64_t accept_retry_timer(struct ev_loop *loop, int64_t id, void *data);
static void on_accept(struct ev_loop *loop, int fd, void *data, int mask);

/* shed: close the oldest HTTP-stage connection (named by admission) so a
 * newer one gets its place. */
static void shed(struct relay *r, struct adm_entry *e)
{
    struct conn *v = (struct conn *) (void *) ((char *) e - offsetof(struct conn, adm));
    admission_remove(&r->adm, e);
    metrics_refuse(&r->metrics, REFUSE_HANDSHAKE_SHED);
    log_info("handshake_shed", "conn=%llu", (unsigned long long) v->id);
    conn_kill(v);
}

static void accept_one(struct relay *r, int fd, const struct sockaddr *sa, socklen_t salen)
{
    /* select() cannot watch it: refuse before anything else touches it. */
    if (fd >= FD_SETSIZE) {
        metrics_refuse(&r->metrics, REFUSE_FD_LIMIT);
        log_warn("accept_refused", "reason=fd_limit fd=%d", fd);
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c)
        c->in = malloc(HS_MAX_REQUEST);
    if (!c || !c->in) {
        if (c)
            free(c);
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->id = r->next_conn_id++;
    c->fd = fd;
    c->relay = r;
    c->state = CONN_HTTP;
    c->opened_ms = c->last_heard_ms = c->last_ping_ms = timefmt_mono_ms();
    int64_t key = admission_addr_key(&r->adm, sa, salen);
    struct adm_entry *victim = admission_victim(&r->adm, key, 0);
    if (victim)
        shed(r, victim);
    if (admission_add(&r->adm, &c->adm, key) != 0) {
        free(c->in);
        free(c);
        close(fd);
        return;
    }
    if (i64map_put(&r->conns, (int64_t) c->id, c) != 0) {
        admission_remove(&r->adm, &c->adm);
        free(c->in);
        free(c);
        close(fd);
        return;
    }
    set_interest(c, EV_READ);
}

static void on_accept(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct relay *r = data;
    (void) mask;
    for (int i = 0; i < 64; i++) {
        if (i64map_len(&r->conns) >= r->fd_slots) {
            /* Every client descriptor is taken (closed ones are released
             * before the next select()): make room by closing the oldest
             * connection in the HTTP stage, or wait a little when every
             * slot holds a WebSocket or a token check. */
            struct adm_entry *victim = r->reap_list ? NULL : admission_victim(&r->adm, 0, 1);
            if (victim) {
                shed(r, victim);
            } else if (!r->reap_list) {
                ev_del(loop, fd, EV_READ);
                ev_timer_add(loop, 100, accept_retry_timer, r);
            }
            break;
        }
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *) &ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            accept_one(r, cfd, (struct sockaddr *) &ss, sslen);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: stop listening briefly instead of spinning. */
            log_warn("accept_failed", "errno=%d", errno);
            ev_del(loop, fd, EV_READ);
            ev_timer_add(loop, 100, accept_retry_timer, r);
        }
        break;
    }
}

static int64_t accept_retry_timer(struct ev_loop *loop, int64_t id, void *data)
{
    struct relay *r = data;
    (void) id;
    if (r->listen_fd >= 0)
        ev_add(loop, r->listen_fd, EV_READ, on_accept, r);
    return EV_TIMER_DONE;
}

/* ----------------------------------------------------------- HTTP stage */

static void http_reply(struct conn *c, int status, const char *extra, const char *ctype,
                       const char *body, size_t body_len)
{
    size_t cap = 512 + (extra ? strlen(extra) : 0) + body_len;
    free(c->out);
    c->out = malloc(cap);
    c->out_off = 0;
    c->out_len = c->out ? hs_format_response(c->out, cap, status, extra, ctype, body, body_len) : 0;
    c->state = CONN_REPLY;
    if (c->out_len == 0) {
        conn_kill(c);
        return;
    }
    conn_flush_later(c);
}

static void http_text(struct conn *c, int status, const char *extra, const char *text)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%s\n", text);
    http_reply(c, status, extra, "text/plain; charset=utf-8", body,
               n > 0 && (size_t) n < sizeof body ? (size_t) n : 0);
}

/* refuse: answer a handshake with an HTTP error, count and log it. */
static void refuse(struct conn *c, enum refusal why, int status, const char *extra,
                   const char *reason)
{
    metrics_refuse(&c->relay->metrics, why);
    log_info("handshake_refused", "conn=%llu status=%d reason=\"%s\"", (unsigned long long) c->id,
             status, reason);
    http_text(c, status, extra, reason);
}

static void token_run(struct job *j, void *ctx)
{
    struct token_job *t = (struct token_job *) j;
    t->rc = ctx ? socket_token_consume(ctx, t->token, &t->user_id) : ERR_UNAVAILABLE;
    OPENSSL_cleanse(t->token, sizeof t->token);
}

static void upgrade(struct conn *c, int64_t user_id);

static void token_done(struct job *j, int status)
{
    struct token_job *t = (struct token_job *) j;
    struct relay *r = t->relay;
    OPENSSL_cleanse(t->token, sizeof t->token);
    struct conn *c = status == WORKQ_OK ? relay_conn(r, t->conn_id) : NULL;
    if (status == WORKQ_OK)
        r->n_admitted--;
    if (c) {
        if (r->stop_phase)
            refuse(c, REFUSE_SHUTTING_DOWN, 503, NULL, "server shutting down");
        else if (t->rc == 0)
            upgrade(c, t->user_id);
        else if (t->rc == ERR_AUTH || t->rc == ERR_EXPIRED || t->rc == ERR_NOT_FOUND)
            refuse(c, REFUSE_TOKEN, 401, NULL, "invalid, expired or used token");
        else
            refuse(c, REFUSE_DB_UNAVAILABLE, 503, NULL, "database unavailable");
    }
    free(t);
}

static void health_run(struct job *j, void *ctx)
{
    struct health_job *h = (struct health_job *) j;
    if (h->mongo) {
        h->rc = msgstore_ping(h->relay->store);
        return;
    }
    MYSQL *m = ctx ? sqldb_conn(ctx) : NULL;
    h->rc = m ? 0 : ERR_UNAVAILABLE;
    if (m && mysql_ping(m) != 0)
        h->rc = sqldb_failed(ctx, mysql_errno(m));
}

#define HEALTH_SQL_OK   1
#define HEALTH_MONGO_OK 2

static void health_done(struct job *j, int status)
{
    struct health_job *h = (struct health_job *) j;
    struct conn *c = status == WORKQ_OK ? relay_conn(h->relay, h->conn_id) : NULL;
    if (c && c->state == CONN_WAIT) {
        if (h->rc == 0)
            c->health_ok |= h->mongo ? HEALTH_MONGO_OK : HEALTH_SQL_OK;
        if (--c->health_waiting == 0) {
            char body[128];
            int ok = c->health_ok == (HEALTH_SQL_OK | HEALTH_MONGO_OK);
            int n = snprintf(
                body, sizeof body, "{\"status\":\"%s\",\"mysql\":\"%s\",\"mongodb\":\"%s\"}\n",
                ok ? "ok" : "unavailable", c->health_ok & HEALTH_SQL_OK ? "ok" : "unavailable",
                c->health_ok & HEALTH_MONGO_OK ? "ok" : "unavailable");
            http_reply(c, ok ? 200 : 503, NULL, "application/json", body, (size_t) n);
        }
    }
    free(h);
}

static void serve_health(struct conn *c)
{
    struct relay *r = c->relay;
    c->state = CONN_WAIT;
    c->health_waiting = 2;
    c->health_ok = 0;
    for (int mongo = 0; mongo < 2; mongo++) {
        struct health_job *h = calloc(1, sizeof *h);
        if (!h) {
            c->health_waiting--;
            continue;
        }
        h->base.run = health_run;
        h->base.done = health_done;
        h->relay = r;
        h->conn_id = c->id;
        h->mongo = mongo;
        workq_submit(r->healthq, &h->base);
    }
    if (c->health_waiting == 0)
        http_text(c, 503, NULL, "out of memory");
    conn_flush_later(c);
}

/* append_redis_metrics: the scale-out lines after the others; frees body
 * and returns NULL when out of memory. */
static char *append_redis_metrics(struct relay *r, char *body, size_t *len)
{
    char extra[1024];
    uint64_t errors = r->redis_bus_errors + redis_pub_errors(r->pub);
    int n = snprintf(
        extra, sizeof extra,
        "# HELP chat_relay_redis_up 1 when the Redis subscriber is connected.\n"
        "# TYPE chat_relay_redis_up gauge\nchat_relay_redis_up %d\n"
        "# HELP chat_relay_redis_writer_up 1 when the writer's last Redis command succeeded.\n"
        "# TYPE chat_relay_redis_writer_up gauge\nchat_relay_redis_writer_up %d\n"
        "# HELP chat_relay_redis_errors_total Redis connects and commands that failed.\n"
        "# TYPE chat_relay_redis_errors_total counter\nchat_relay_redis_errors_total %llu\n"
        "# HELP chat_relay_redis_subscriptions Room channels subscribed.\n"
        "# TYPE chat_relay_redis_subscriptions gauge\nchat_relay_redis_subscriptions %zu\n"
        "# HELP chat_relay_redis_messages_in_total Messages received from other relays.\n"
        "# TYPE chat_relay_redis_messages_in_total counter\n"
        "chat_relay_redis_messages_in_total %llu\n"
        "# HELP chat_relay_gap_fetches_total Seq gaps (or Redis outages) closed from MongoDB.\n"
        "# TYPE chat_relay_gap_fetches_total counter\nchat_relay_gap_fetches_total %llu\n",
        redis_bus_up(r->bus), redis_pub_up(r->pub), (unsigned long long) errors,
        redis_bus_subscribed(r->bus), (unsigned long long) r->redis_in,
        (unsigned long long) r->gap_fetches);
    if (n <= 0 || (size_t) n >= sizeof extra) {
        free(body);
        return NULL;
    }
    char *more = realloc(body, *len + (size_t) n + 1);
    if (!more) {
        free(body);
        return NULL;
    }
    memcpy(more + *len, extra, (size_t) n + 1);
    *len += (size_t) n;
    return more;
}

static void serve_metrics(struct conn *c)
{
    struct relay *r = c->relay;
    struct metrics_gauges g = {
        .connections = r->n_open,
        .handshaking = i64map_len(&r->conns) - r->n_open,
        .rooms = roommap_count(&r->rooms),
        .queue_depth = writer_queued(r->writer),
        .writes_in_flight = writer_writing(r->writer),
        .max_connections = r->max_conns,
    };
    size_t len;
    char *body = metrics_render(&r->metrics, &g, &len);
    if (body && r->bus)
        body = append_redis_metrics(r, body, &len);
    if (!body) {
        http_text(c, 503, NULL, "out of memory");
        return;
    }
    http_reply(c, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", body, len);
    free(body);
}

static void serve_ws(struct conn *c)
{
    struct relay *r = c->relay;
    const struct config *cfg = r->cfg;
    if (r->stop_phase) {
        refuse(c, REFUSE_SHUTTING_DOWN, 503, NULL, "server shutting down");
        return;
    }
    if (r->n_open + r->n_admitted >= r->max_conns) {
        refuse(c, REFUSE_CAPACITY, 503, NULL, "at capacity");
        return;
    }
    if (c->hs.has_origin && !hs_origin_allowed(cfg->allowed_origins, c->hs.origin)) {
        refuse(c, REFUSE_ORIGIN, 403, NULL, "origin not allowed");
        return;
    }
    if (c->hs.token[0] == '\0' || c->hs.token_too_long) {
        OPENSSL_cleanse(c->hs.token, sizeof c->hs.token);
        refuse(c, REFUSE_TOKEN, 401, NULL, "invalid, expired or used token");
        return;
    }
    struct token_job *t = calloc(1, sizeof *t);
    if (!t) {
        http_text(c, 503, NULL, "out of memory");
        return;
    }
    t->base.run = token_run;
    t->base.done = token_done;
    t->relay = r;
    t->conn_id = c->id;
    memcpy(t->token, c->hs.token, sizeof t->token);
    OPENSSL_cleanse(c->hs.token, sizeof c->hs.token);
    c->state = CONN_WAIT;
    admission_remove(&r->adm, &c->adm); /* counted in n_admitted now */
    r->n_admitted++;
    workq_submit(r->sqlq, &t->base);
    conn_flush_later(c);
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
        conn_kill(c);
        return;
    }
    c->in_len += (size_t) n;
    int rc = hs_parse(c->in, c->in_len, &c->hs);
    if (rc == HS_INCOMPLETE)
        return;
    if (rc == HS_BAD) {
        const char *extra = NULL;
        if (c->hs.status == 405)
            extra = "Allow: GET\r\n";
        else if (c->hs.status == 426)
            extra = c->hs.want_version_header ? "Sec-WebSocket-Version: 13\r\n"
                                              : "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        refuse(c, REFUSE_BAD_HANDSHAKE, c->hs.status, extra, c->hs.reason);
        return;
    }
    c->early_off = c->hs.length;
    switch (c->hs.route) {
    case HS_ROUTE_HEALTHZ:
        serve_health(c);
        break;
    case HS_ROUTE_METRICS:
        serve_metrics(c);
        break;
    case HS_ROUTE_WS:
        serve_ws(c);
        break;
    }
}

static void upgrade(struct conn *c, int64_t user_id)
{
    struct relay *r = c->relay;
    char accept[HS_ACCEPT_LEN + 1], head[256];
    int rc = admission_user_open(&r->adm, user_id);
    if (rc == ERR_TOO_LARGE) {
        refuse(c, REFUSE_USER_LIMIT, 429, NULL, "too many connections for this user");
        return;
    }
    if (rc != 0) {
        http_text(c, 503, NULL, "out of memory");
        return;
    }
    hs_accept_key(c->hs.key, accept);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    c->ws = wsconn_new(&sock_io, c, &session_events, c, (size_t) r->cfg->max_message_bytes);
    c->out = malloc((size_t) n);
    if (!c->ws || !c->out) {
        admission_user_close(&r->adm, user_id);
        http_text(c, 503, NULL, "out of memory");
        return;
    }
    memcpy(c->out, head, (size_t) n);
    c->out_len = (size_t) n;
    c->out_off = 0;
    c->state = CONN_OPEN;
    c->user_id = user_id;
    c->last_heard_ms = c->last_ping_ms = timefmt_mono_ms();
    ratelimit_init(&c->rl, r->cfg->rate_per_sec, r->cfg->rate_burst, c->last_heard_ms);
    /* A page reconnecting ENTERs all its rooms at once: the burst allows it. */
    ratelimit_init(&c->enter_rl, RELAY_ENTER_RATE, r->cfg->max_rooms_per_conn + RELAY_ENTER_RATE,
                   c->last_heard_ms);
    r->n_open++;
    r->metrics.connections_total++;
    log_info("ws_open", "conn=%llu user=%lld origin=%s", (unsigned long long) c->id,
             (long long) user_id, c->hs.has_origin ? "yes" : "none");
    session_open(c);
    conn_flush_later(c);
    if (c->early_off < c->in_len) {
        if (wsconn_read(c->ws) != 0)
            conn_kill(c);
        else
            conn_after_read(c);
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
            if (wsconn_read(c->ws) != 0) {
                wsconn_write(c->ws); /* best effort: a close frame wslay queued */
                conn_kill(c);
                return;
            }
            conn_after_read(c);
            conn_flush_later(c);
        }
    }
    if ((mask & EV_WRITE) && !c->dead)
        conn_flush(c);
}

/* ------------------------------------------------- loop hooks and timers */

static void begin_stop(struct relay *r)
{
    int64_t now = timefmt_mono_ms();
    r->stop_phase = 1;
    r->drain_deadline_ms = now + 5000;
    r->stop_deadline_ms = now + 8000;
    if (r->listen_fd >= 0) {
        ev_del(r->loop, r->listen_fd, EV_READ);
        close(r->listen_fd);
        r->listen_fd = -1;
    }
    log_info("stopping", "connections=%zu pending=%zu writing=%zu", r->n_open,
             writer_queued(r->writer), writer_writing(r->writer));
}

static void advance_stop(struct relay *r)
{
    int64_t now = timefmt_mono_ms();
    if (r->stop_phase == 1 &&
        ((writer_queued(r->writer) == 0 && writer_writing(r->writer) == 0) ||
         now >= r->drain_deadline_ms)) {
        writer_fail_pending(r->writer, "server shutting down");
        r->stop_phase = 2;
        size_t pos = 0;
        int64_t key;
        void *val;
        while (i64map_next(&r->conns, &pos, &key, &val))
            conn_close(val, 1001, "server shutting down");
    }
    if (r->stop_phase == 2 && (i64map_len(&r->conns) == 0 || now >= r->stop_deadline_ms))
        ev_stop(r->loop);
}

static void before_sleep(struct ev_loop *loop, void *data)
{
    struct relay *r = data;
    (void) loop;
    writer_kick(r->writer);
    while (r->flush_list) {
        struct conn *c = r->flush_list;
        r->flush_list = c->next_flush;
        conn_flush(c);
    }
    while (r->reap_list) {
        struct conn *c = r->reap_list;
        r->reap_list = c->next_reap;
        conn_free(c);
    }
    if (r->stop_phase)
        advance_stop(r);
}

static void on_wake(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct relay *r = data;
    char buf[256];
    (void) loop;
    (void) mask;
    while (read(fd, buf, sizeof buf) > 0) {
    }
    if (r->stop_requested && r->stop_phase == 0)
        begin_stop(r);
    workq_complete(r->sqlq);
    workq_complete(r->mongoq);
    workq_complete(r->healthq);
    workq_complete(r->writerq);
}

static int64_t cron(struct ev_loop *loop, int64_t id, void *data)
{
    struct relay *r = data;
    const struct config *cfg = r->cfg;
    int64_t now = timefmt_mono_ms();
    size_t pos = 0;
    int64_t key;
    void *val;
    (void) loop;
    (void) id;

    while (i64map_next(&r->conns, &pos, &key, &val)) {
        struct conn *c = val;
        if (c->dead)
            continue;
        if (c->state != CONN_OPEN) {
            if (now - c->opened_ms > (int64_t) cfg->handshake_timeout * 1000) {
                metrics_refuse(&r->metrics, REFUSE_HANDSHAKE_TIMEOUT);
                log_info("handshake_timeout", "conn=%llu", (unsigned long long) c->id);
                conn_kill(c);
            }
            continue;
        }
        if (c->closing) {
            if (now >= c->close_deadline_ms)
                conn_kill(c);
            continue;
        }
        if (now - c->last_heard_ms > (int64_t) cfg->pong_timeout * 1000) {
            metrics_refuse(&r->metrics, REFUSE_PONG_TIMEOUT);
            log_info("pong_timeout", "conn=%llu user=%lld", (unsigned long long) c->id,
                     (long long) c->user_id);
            conn_kill(c);
            continue;
        }
        if (now - c->last_ping_ms >= (int64_t) cfg->ping_interval * 1000) {
            c->last_ping_ms = now;
            if (wsconn_ping(c->ws) == 0)
                conn_flush_later(c);
        }
    }
    if (r->stop_requested && r->stop_phase == 0)
        begin_stop(r);
    return RELAY_CRON_MS;
}

/* ------------------------------------------------------------ Redis bus */

static void bus_message(void *arg, int64_t room_id, const char *payload, size_t len)
{
    struct relay *r = arg;
    uint64_t origin;
    int64_t seq;
    const char *frame;
    size_t flen;
    if (redis_payload_parse(payload, len, &origin, &seq, &frame, &flen) != 0) {
        log_warn("redis_bad_payload", "room=%lld bytes=%zu", (long long) room_id, len);
        return;
    }
    if (origin == r->origin)
        return; /* ours: delivered locally when the write came back */
    r->redis_in++;
    session_remote_message(r, room_id, seq, frame, flen);
}

static void bus_up(void *arg)
{
    struct relay *r = arg;
    log_info("redis_up", "side=subscriber rooms=%zu", roommap_count(&r->rooms));
    r->redis_down_logged = 0;
    redis_pub_kick(r->pub);
    /* Whatever was published while we were away is in MongoDB. */
    session_resync(r);
}

static void bus_down(void *arg, const char *why)
{
    struct relay *r = arg;
    char q[256];
    r->redis_bus_errors++;
    if (r->redis_down_logged)
        return; /* retries with backoff; said once */
    r->redis_down_logged = 1;
    log_warn("redis_down", "side=subscriber err=%s local_delivery=continues retry=backoff",
             log_quote(q, sizeof q, why));
}

static void bus_subscribed(void *arg, int64_t room_id)
{
    session_room_subscribed(arg, room_id);
}

static const struct redis_bus_events bus_events = {bus_message, bus_up, bus_subscribed, bus_down};

static const struct writer_events writer_events = {session_write_done, session_write_failed};

/* ------------------------------------------------------------ lifecycle */

size_t relay_max_connections(const struct relay *r)
{
    return r->max_conns;
}

struct relay *relay_new(const struct config *cfg, char *errbuf, size_t errlen)
{
    struct relay *r = calloc(1, sizeof *r);
    int pfd[2];
    if (!r) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->listen_fd = r->wake_rd = r->wake_wr = -1;
    r->next_conn_id = 1;
    i64map_init(&r->conns);
    lastseq_init(&r->lastseq);
    roommap_init(&r->rooms);

    /* Descriptors the relay needs besides clients: stdio, listener, wake
     * pipe, one MySQL connection per SQL worker, per health worker (2) and
     * for the writer, MongoDB pool connections (readers, health, the
     * writer, monitoring), Redis (2), and some headroom so a handshake over
     * the limit can still be answered 503. */
    size_t reserved =
        3 + 1 + 2 + (size_t) cfg->relay_workers * 2 + 3 + 2 + 3 + 2 + RELAY_HEADROOM_FDS;
    char redis_host[REDIS_HOST_MAX];
    int redis_port = 0;
    if (cfg->redis_url[0] && redis_url_parse(cfg->redis_url, redis_host, &redis_port) != 0) {
        snprintf(errbuf, errlen, "redis_url: expected redis://host[:port], got \"%s\"",
                 cfg->redis_url);
        goto fail;
    }
    if (RAND_bytes((unsigned char *) &r->origin, sizeof r->origin) != 1)
        r->origin = ((uint64_t) getpid() << 32) ^ (uint64_t) timefmt_now_ms();
    r->max_conns = (size_t) cfg->max_connections;
    if (r->max_conns > FD_SETSIZE - reserved)
        r->max_conns = FD_SETSIZE - reserved;
    /* Every client, whatever its stage, fits in fd_slots; the headroom
     * above max_conns is never taken by WebSockets, so a new connection can
     * always displace one still in the HTTP stage and get its 503 or its
     * /healthz answer. */
    r->fd_slots = FD_SETSIZE - reserved + RELAY_HEADROOM_FDS;
    size_t max_hs = (size_t) cfg->max_handshakes;
    if (max_hs == 0) {
        max_hs = r->max_conns / 4;
        if (max_hs < RELAY_HEADROOM_FDS)
            max_hs = RELAY_HEADROOM_FDS;
    }
    admission_init(&r->adm, max_hs, (size_t) cfg->max_handshakes_per_address,
                   cfg->handshake_limit_loopback, (size_t) cfg->max_connections_per_user);

    if (!(r->loop = ev_new())) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    r->wake_rd = pfd[0];
    r->wake_wr = pfd[1];
    if (!(r->store = msgstore_new(cfg, errbuf, errlen)))
        goto fail;
    r->pub = redis_pub_new(redis_port ? redis_host : NULL, redis_port, r->origin);
    r->seqa = seqalloc_new(sqldb_new(cfg), load_last_seq, r->store);
    if (!r->pub || !r->seqa) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    r->sqlq = workq_new(cfg->relay_workers, sql_thread_init, sql_thread_fini, r, r->wake_wr);
    r->mongoq = workq_new(cfg->relay_workers, NULL, NULL, r, r->wake_wr);
    r->healthq = workq_new(2, sql_thread_init, sql_thread_fini, r, r->wake_wr);
    r->writerq = workq_new(1, NULL, NULL, r, r->wake_wr);
    if (!r->sqlq || !r->mongoq || !r->healthq || !r->writerq) {
        snprintf(errbuf, errlen, "cannot start worker threads");
        goto fail;
    }
    r->writer = writer_new(cfg, r->writerq, r->store, r->seqa, r->pub, &r->lastseq, &r->metrics,
                           &writer_events, r);
    if (!r->writer) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (ev_add(r->loop, r->wake_rd, EV_READ, on_wake, r) != 0 ||
        ev_timer_add(r->loop, RELAY_CRON_MS, cron, r) < 0) {
        snprintf(errbuf, errlen, "cannot set up the event loop");
        goto fail;
    }
    ev_set_before_sleep(r->loop, before_sleep, r);
    if (redis_port && !(r->bus = redis_bus_new(r->loop, redis_host, redis_port, &bus_events, r))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    return r;
fail:
    relay_free(r);
    return NULL;
}

int relay_listen(struct relay *r, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", r->cfg->relay_port);
    int rc = getaddrinfo(r->cfg->relay_host[0] ? r->cfg->relay_host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "relay_host %s: %s", r->cfg->relay_host, gai_strerror(rc));
        return ERR_IO;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* With Redis, several relays (same user) may share the port; the
         * kernel spreads new connections over them (DESIGN.md section 9).
         * Without it a relay is alone, so a second one started by mistake
         * fails with "address in use" instead of silently taking half of
         * the users, who could then not reach the other half. */
        if (r->cfg->redis_url[0])
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        snprintf(errbuf, errlen, "listen on %s:%s: %s", r->cfg->relay_host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ERR_IO;
    if (ev_add(r->loop, fd, EV_READ, on_accept, r) != 0) {
        snprintf(errbuf, errlen, "listening socket fd %d is above FD_SETSIZE", fd);
        close(fd);
        return ERR_IO;
    }
    r->listen_fd = fd;
    return 0;
}

int relay_run(struct relay *r)
{
    return ev_run(r->loop);
}

void relay_request_stop(struct relay *r)
{
    r->stop_requested = 1;
    char b = 1;
    ssize_t w = write(r->wake_wr, &b, 1);
    (void) w;
}

void relay_free(struct relay *r)
{
    if (!r)
        return;
    /* Connections first (their sessions leave the room map), then the
     * workers, whose late completions find no connection to answer. */
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&r->conns, &pos, &key, &val))
        conn_kill(val);
    while (r->reap_list) {
        struct conn *c = r->reap_list;
        r->reap_list = c->next_reap;
        conn_free(c);
    }
    r->flush_list = NULL;
    redis_bus_free(r->bus); /* after the sessions, which unsubscribe */
    r->bus = NULL;
    /* Workers are idle after a drain; one blocked in a database call is
     * not waited for long, so SIGTERM still ends within 10 s. */
    int stuck = workq_free(r->sqlq, 500) != 0;
    stuck |= workq_free(r->mongoq, 500) != 0;
    stuck |= workq_free(r->healthq, 500) != 0;
    stuck |= workq_free(r->writerq, 500) != 0; /* a batch still queued is cancelled */
    writer_free(r->writer);
    lastseq_deinit(&r->lastseq);
    i64map_deinit(&r->conns);
    admission_deinit(&r->adm);
    roommap_deinit(&r->rooms);
    if (!stuck) {
        msgstore_free(r->store); /* else a blocked worker still uses it */
        redis_pub_free(r->pub);
        seqalloc_free(r->seqa);
    }
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    if (r->wake_rd >= 0 && !stuck)
        close(r->wake_rd);
    if (r->wake_wr >= 0 && !stuck)
        close(r->wake_wr); /* a stuck worker would write to a reused fd */
    ev_free(r->loop);
    free(r);
}
