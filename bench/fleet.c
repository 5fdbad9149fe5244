/*
 * fleet.c - many protocol clients in one epoll loop (see fleet.h).
 *
 * Hot path: fleet_send_text and on_text run once per message sent and
 * twice per message received (ACK and MESSAGE); they format into stack
 * buffers and scan frames with jscan, no JSON trees and no allocation
 * except wslay's copy of each queued frame.
 */
#include "fleet.h"

#include "errors.h"
#include "jscan.h"
#include "procstat.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS   512
#define FRAME_MAX    8192
#define MIN_SLEEP_NS 200000

struct fleet {
    int epfd;                 /* borrowed */
    struct chatapi *api;      /* borrowed */
    struct fleet_client **cl; /* owned, with their wsclients */
    size_t n, cap;
    struct fleet_meas *m; /* current measurement, borrowed; NULL: none */
    unsigned next_phase;
    char filler[4001]; /* the text of every message */
    size_t filler_len;
    int trace; /* BENCH_TRACE set: print every frame received */
};

/* ------------------------------------------------------------ measurement */

void fleet_meas_init(struct fleet_meas *m)
{
    memset(m, 0, sizeof *m);
    latstats_init(&m->e2e);
    latstats_init(&m->ack);
}

void fleet_meas_deinit(struct fleet_meas *m)
{
    latstats_deinit(&m->e2e);
    latstats_deinit(&m->ack);
}

void fleet_meas_begin(struct fleet *f, struct fleet_meas *m)
{
    m->phase = ++f->next_phase;
    m->t_start = procstat_mono_ns();
    f->m = m;
}

void fleet_meas_end(struct fleet *f)
{
    f->m = NULL;
}

static void note_error(struct fleet_meas *m, const char *code, size_t clen, const char *frame,
                       size_t flen)
{
    m->errors++;
    if (!m->first_error[0])
        snprintf(m->first_error, sizeof m->first_error, "%.*s", (int) flen, frame);
    for (int i = 0; i < FLEET_ERR_CODES; i++) {
        if (!m->err_code[i][0]) {
            snprintf(m->err_code[i], sizeof m->err_code[i], "%.*s", (int) clen, code);
            m->err_count[i] = 1;
            return;
        }
        if (strlen(m->err_code[i]) == clen && memcmp(m->err_code[i], code, clen) == 0) {
            m->err_count[i]++;
            return;
        }
    }
}

/* parse_tag: phase and send time of a clientMsgId we made,
 * "<phase>.<client>.<n>.<send ns>". */
static int parse_tag(const char *id, size_t len, unsigned *phase, int64_t *sent_ns)
{
    char buf[80];
    if (len >= sizeof buf)
        return ERR_INVALID;
    memcpy(buf, id, len);
    buf[len] = '\0';
    unsigned long long v[4];
    char *p = buf, *end;
    for (int i = 0; i < 4; i++) {
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno || end == p || *end != (i < 3 ? '.' : '\0'))
            return ERR_INVALID;
        p = end + 1;
    }
    if (v[0] > UINT_MAX || v[3] > INT64_MAX)
        return ERR_INVALID;
    *phase = (unsigned) v[0];
    *sent_ns = (int64_t) v[3];
    return 0;
}

/* ------------------------------------------------------------ frames in */

static void on_text(struct wsclient *ws, const uint8_t *msg, size_t len, void *ud)
{
    (void) ws;
    struct fleet_client *c = ud;
    struct fleet *f = c->f;
    struct fleet_meas *m = f->m;
    const char *j = (const char *) msg;
    const char *type, *id;
    size_t tlen, idlen;
    int64_t now = procstat_mono_ns();
    if (f->trace)
        fprintf(stderr, "bench: client %zu got %.*s\n", c->idx, (int) (len > 300 ? 300 : len), j);
    if (jscan_str(j, len, "type", &type, &tlen) != 0 || tlen == 0)
        return;

    if (tlen == 7 && memcmp(type, "MESSAGE", 7) == 0) {
        int64_t seq = 0;
        if (jscan_int(j, len, "seq", &seq) == 0) {
            if (m && seq <= c->last_seq)
                m->out_of_order++;
            if (seq > c->last_seq)
                c->last_seq = seq;
        }
        if (!m)
            return;
        if (!m->messages_any++)
            m->t_first_any = now;
        m->t_last_any = now;
        unsigned phase;
        int64_t sent;
        if (jscan_str(j, len, "clientMsgId", &id, &idlen) == 0 &&
            parse_tag(id, idlen, &phase, &sent) == 0 && phase == m->phase) {
            m->delivered++;
            m->t_last_recv = now;
            latstats_add(&m->e2e, now - sent);
            int64_t sec = (sent - m->t_start) / 1000000000;
            if (sec >= 0 && sec < FLEET_SECONDS_MAX && now - sent > m->e2e_max_by_sec[sec])
                m->e2e_max_by_sec[sec] = now - sent;
        } else {
            m->stale++;
        }
    } else if (tlen == 3 && memcmp(type, "ACK", 3) == 0) {
        unsigned phase;
        int64_t sent;
        if (!m)
            return;
        if (jscan_str(j, len, "clientMsgId", &id, &idlen) == 0 &&
            parse_tag(id, idlen, &phase, &sent) == 0 && phase == m->phase) {
            m->acked++;
            m->t_last_recv = now;
            latstats_add(&m->ack, now - sent);
        } else {
            m->stale++;
        }
    } else if (tlen == 7 && memcmp(type, "ENTERED", 7) == 0) {
        c->entered = 1;
        c->t_entered = now;
        /* lastSeq does not move last_seq: after ENTER with since, older
         * messages are still to come */
        jscan_int(j, len, "lastSeq", &c->entered_last_seq);
    } else if (tlen == 5 && memcmp(type, "ERROR", 5) == 0) {
        const char *code = "?";
        size_t clen = 1;
        jscan_str(j, len, "code", &code, &clen);
        int no_id = jscan_str(j, len, "clientMsgId", &id, &idlen) != 0;
        if (!c->entered && no_id) {
            c->enter_failed = 1;
            snprintf(c->enter_error, sizeof c->enter_error, "%.*s", (int) len, j);
        }
        if (m && no_id)
            m->enter_errors++;
        if (m)
            note_error(m, code, clen, j, len);
    }
}

static void on_closed(struct wsclient *ws, void *ud)
{
    struct fleet_client *c = ud;
    c->closed = 1;
    struct fleet_meas *m = c->f->m;
    if (m && wsclient_http_status(ws) == 101) {
        m->closed++;
        if (!m->first_error[0])
            snprintf(m->first_error, sizeof m->first_error, "client %zu closed: %s (code %d)",
                     c->idx, wsclient_why(ws), wsclient_close_code(ws));
    }
}

static const struct wsclient_handlers handlers = {NULL, on_text, on_closed};

/* ------------------------------------------------------------ fleet */

struct fleet *fleet_new(struct chatapi *api, int epfd, int msg_chars)
{
    struct fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->epfd = epfd;
    f->api = api;
    f->trace = getenv("BENCH_TRACE") != NULL;
    if (msg_chars < 1)
        msg_chars = 1;
    if ((size_t) msg_chars >= sizeof f->filler)
        msg_chars = (int) sizeof f->filler - 1;
    static const char words[] = "the quick brown fox jumps over the lazy dog ";
    for (int i = 0; i < msg_chars; i++)
        f->filler[i] = words[(size_t) i % (sizeof words - 1)];
    f->filler_len = (size_t) msg_chars;
    return f;
}

static void free_clients(struct fleet *f)
{
    for (size_t i = 0; i < f->n; i++) {
        wsclient_free(f->cl[i]->ws);
        free(f->cl[i]);
    }
    f->n = 0;
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    free_clients(f);
    free(f->cl);
    free(f);
}

struct fleet_client **fleet_clients(struct fleet *f, size_t *n)
{
    *n = f->n;
    return f->cl;
}

size_t fleet_open_count(const struct fleet *f)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++)
        k += wsclient_state(f->cl[i]->ws) == WSCLIENT_OPEN;
    return k;
}

/* loop_once: wait up to timeout_ns for events and handle them. */
static void loop_once(struct fleet *f, int64_t timeout_ns)
{
    struct epoll_event ev[MAX_EVENTS];
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    int n = epoll_pwait2(f->epfd, ev, MAX_EVENTS, &ts, NULL);
    for (int i = 0; i < n; i++)
        wsclient_on_event(ev[i].data.ptr, ev[i].events);
}

int fleet_run(struct fleet *f, int (*done)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = procstat_mono_ns() + (int64_t) timeout_ms * 1000000;
    while (!done(arg)) {
        int64_t left = deadline - procstat_mono_ns();
        if (left <= 0)
            return 0;
        loop_once(f, left > 10000000 ? 10000000 : left);
    }
    return 1;
}

int fleet_send_enter(struct fleet *f, struct fleet_client *c, int64_t since)
{
    (void) f;
    char buf[128];
    int n = since >= 0 ? snprintf(buf, sizeof buf,
                                  "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld,\"since\":%lld}",
                                  (long long) c->room, (long long) since)
                       : snprintf(buf, sizeof buf, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}",
                                  (long long) c->room);
    return wsclient_send_text(c->ws, buf, (size_t) n);
}

int fleet_send_text(struct fleet *f, struct fleet_client *c)
{
    struct fleet_meas *m = f->m;
    assert(m != NULL);
    if ((!c->entered && !c->send_early) || c->closed)
        return ERR_INVALID;
    char buf[FRAME_MAX];
    int64_t now = procstat_mono_ns();
    int n = snprintf(buf, sizeof buf,
                     "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%.*s\","
                     "\"clientMsgId\":\"%u.%zu.%llu.%lld\"}",
                     (long long) c->room, (int) f->filler_len, f->filler, m->phase, c->idx,
                     (unsigned long long) c->n_sent, (long long) now);
    if (n < 0 || (size_t) n >= sizeof buf)
        return ERR_TOO_LARGE;
    int rc = wsclient_send_text(c->ws, buf, (size_t) n);
    if (rc != 0)
        return rc;
    c->n_sent++;
    m->sent++;
    m->t_last_send = now;
    return 0;
}

/* ------------------------------------------------------------ connect */

struct batch_wait {
    struct fleet *f;
    size_t from, to;
    int enter;
};

static int batch_settled(void *arg)
{
    struct batch_wait *w = arg;
    for (size_t i = w->from; i < w->to; i++) {
        struct fleet_client *c = w->f->cl[i];
        enum wsclient_state st = wsclient_state(c->ws);
        if (st == WSCLIENT_CLOSED)
            continue;
        if (st != WSCLIENT_OPEN)
            return 0;
        if (w->enter && !c->entered && !c->enter_failed)
            return 0;
    }
    return 1;
}

static int push_client(struct fleet *f, struct fleet_client *c)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        struct fleet_client **p = realloc(f->cl, cap * sizeof(struct fleet_client *));
        if (!p)
            return ERR_NOMEM;
        f->cl = p;
        f->cap = cap;
    }
    f->cl[f->n++] = c;
    return 0;
}

static void note_failure(struct fleet_connect_result *res, const char *prefix, const char *what)
{
    if (!res->first_failure[0])
        snprintf(res->first_failure, sizeof res->first_failure, "%s%s", prefix, what);
}

int fleet_connect(struct fleet *f, const struct wsclient_target *t, struct fleet_user **users,
                  size_t n, int enter, size_t batch, struct fleet_connect_result *res)
{
    memset(res, 0, sizeof *res);
    if (batch == 0)
        batch = 50;
    for (size_t done = 0; done < n;) {
        size_t from = f->n;
        size_t k = n - done < batch ? n - done : batch;
        for (size_t i = 0; i < k; i++) {
            struct fleet_user *u = users[done + i];
            char token[256];
            int rc = chatapi_socket_token(f->api, u->jwt, token, sizeof token);
            if (rc != 0) {
                note_failure(res, "socket token: ", chatapi_error(f->api));
                res->failed += n - done - i;
                return ERR_UNAVAILABLE;
            }
            struct fleet_client *c = calloc(1, sizeof *c);
            if (!c || push_client(f, c) != 0) {
                free(c);
                res->failed++;
                note_failure(res, "", "out of memory");
                continue;
            }
            c->f = f;
            c->idx = f->n - 1;
            c->user = u;
            c->room = u->room;
            int err = 0;
            c->ws = wsclient_connect(f->epfd, t, token, &handlers, c, &err);
            if (!c->ws) {
                c->closed = 1;
                note_failure(res, "connect: ", strerror(errno));
                f->n--;
                free(c);
                res->failed++;
            }
        }
        struct batch_wait w = {f, from, f->n, 0};
        fleet_run(f, batch_settled, &w, 10000);
        if (enter) {
            for (size_t i = from; i < f->n; i++)
                if (wsclient_state(f->cl[i]->ws) == WSCLIENT_OPEN)
                    fleet_send_enter(f, f->cl[i], -1);
            w.enter = 1;
            fleet_run(f, batch_settled, &w, 10000);
        }
        for (size_t i = from; i < f->n; i++) {
            struct fleet_client *c = f->cl[i];
            enum wsclient_state st = wsclient_state(c->ws);
            if (st == WSCLIENT_OPEN && (!enter || c->entered)) {
                res->opened++;
            } else if (st == WSCLIENT_CLOSED && wsclient_http_status(c->ws) == 503) {
                res->refused_503++;
            } else if (st == WSCLIENT_CLOSED && wsclient_http_status(c->ws) != 0 &&
                       wsclient_http_status(c->ws) != 101) {
                res->refused_other++;
                note_failure(res, "handshake: ", wsclient_why(c->ws));
            } else {
                res->failed++;
                if (st == WSCLIENT_CLOSED)
                    note_failure(res, "", wsclient_why(c->ws));
                else if (c->enter_failed)
                    note_failure(res, "ENTER refused: ", c->enter_error);
                else
                    note_failure(res, "", enter ? "no ENTERED in time" : "no handshake in time");
            }
        }
        done += k;
    }
    return 0;
}

static int all_closed(void *arg)
{
    struct fleet *f = arg;
    for (size_t i = 0; i < f->n; i++)
        if (wsclient_state(f->cl[i]->ws) != WSCLIENT_CLOSED)
            return 0;
    return 1;
}

void fleet_close_all(struct fleet *f, int timeout_ms)
{
    for (size_t i = 0; i < f->n; i++)
        wsclient_close(f->cl[i]->ws, 1000);
    fleet_run(f, all_closed, f, timeout_ms);
    free_clients(f);
}

/* ------------------------------------------------------------ offered load */

int fleet_all_answered(void *fleet)
{
    struct fleet *f = fleet;
    struct fleet_meas *m = f->m;
    return m->acked + (m->errors - m->enter_errors) >= m->sent && m->delivered >= m->acked;
}

int fleet_offer(struct fleet *f, struct fleet_client **senders, size_t n, double rate,
                double seconds, int drain_ms)
{
    struct fleet_meas *m = f->m;
    assert(m != NULL && n > 0 && rate > 0);
    uint64_t total = (uint64_t) (rate * seconds + 0.5);
    double ns_per_msg = 1e9 / rate;
    int64_t t0 = procstat_mono_ns();
    uint64_t due_sent = 0; /* sends attempted, whether or not a client could take one */
    size_t next = 0;
    while (due_sent < total) {
        int64_t now = procstat_mono_ns();
        uint64_t due = (uint64_t) ((double) (now - t0) / ns_per_msg) + 1;
        if (due > total)
            due = total;
        while (due_sent < due) {
            int64_t due_at = t0 + (int64_t) ((double) due_sent * ns_per_msg);
            if (now - due_at > m->max_lag)
                m->max_lag = now - due_at;
            /* skip clients that closed; count nothing for them */
            for (size_t tries = 0; tries < n; tries++) {
                struct fleet_client *c = senders[next];
                next = (next + 1) % n;
                if (fleet_send_text(f, c) == 0)
                    break;
            }
            due_sent++;
        }
        int64_t next_at = t0 + (int64_t) ((double) due_sent * ns_per_msg);
        int64_t wait = next_at - procstat_mono_ns();
        /* sleep at least MIN_SLEEP_NS: at high rates each wake-up sends a
         * handful of due messages instead of spinning a core the relay and
         * the database need */
        loop_once(f, wait < MIN_SLEEP_NS ? MIN_SLEEP_NS : wait);
    }
    return fleet_run(f, fleet_all_answered, f, drain_ms);
}
