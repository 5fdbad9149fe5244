/*
 * presence.c - online state and last seen (see presence.h).
 *
 * Three kinds of job: a change (+1 / -1 in Redis, on the writer thread,
 * which owns the synchronous Redis connection), a question for one
 * watcher (MySQL's last_seen on a SQL worker, then Redis's sum on the
 * writer thread), and saving last_seen (SQL worker). Without Redis the
 * sum is this relay's own count, known at once. A Redis that does not
 * answer makes the answer this relay's own count too: presence is best
 * effort, messages never wait for it.
 */
#include "presence.h"

#include "admission.h"
#include "errors.h"
#include "i64map.h"
#include "proto.h"
#include "redis_pub.h"
#include "timefmt.h"
#include "transport.h"
#include "users.h"
#include "workq.h"

#include <stdlib.h>
#include <string.h>

/* Connections watching one user, by id (a closed one is simply not found),
 * and what each was told last: TOLD_NOTHING until the first answer or
 * change. A change can overtake the answer to the watcher's question (it
 * comes from another relay through Redis): once a change has been told,
 * the answer is older news and dropped, and no state is told twice. */
#define TOLD_NOTHING (-1)

struct watchers {
    uint64_t *conn_ids;
    int8_t *told; /* TOLD_NOTHING, 0 offline, 1 online */
    size_t n, cap;
};

struct presence {
    struct transport *t;
    struct admission *adm;
    struct workq *sqlq, *writerq;
    struct redis_pub *pub;
    presence_publish_fn *publish;
    void *publish_arg;
    struct i64map watched; /* user id -> struct watchers * */
};

struct presence_job {
    struct job base;
    struct presence *p;
    int64_t user_id;
    int delta;         /* change: +1 / -1; question: 0 */
    uint64_t conn_id;  /* question: who asked */
    int64_t last_seen; /* ms, 0: never */
    long long total;   /* connections over all relays */
    int rc;
};

struct presence *presence_new(struct transport *t, struct admission *adm, struct workq *sqlq,
                              struct workq *writerq, struct redis_pub *pub,
                              presence_publish_fn *publish, void *publish_arg)
{
    struct presence *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    *p = (struct presence){.t = t,
                           .adm = adm,
                           .sqlq = sqlq,
                           .writerq = pub ? writerq : NULL,
                           .pub = pub,
                           .publish = publish,
                           .publish_arg = publish_arg};
    i64map_init(&p->watched);
    return p;
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&p->watched, &pos, &key, &val)) {
        struct watchers *w = val;
        free(w->conn_ids);
        free(w->told);
        free(w);
    }
    i64map_deinit(&p->watched);
    free(p);
}

/* local_online: this relay's own answer. */
static int local_online(const struct presence *p, int64_t user_id)
{
    return admission_user_count(p->adm, user_id) > 0;
}

/* tell_watchers: frame (online or not) to every connection here watching
 * user_id that was not told that state last. */
static void tell_watchers(struct presence *p, int64_t user_id, int online, const char *frame,
                          size_t len)
{
    struct watchers *w = i64map_get(&p->watched, user_id);
    size_t keep = 0;
    for (size_t i = 0; w && i < w->n; i++) {
        struct conn *c = transport_conn(p->t, w->conn_ids[i]);
        if (!c)
            continue; /* closed: forget it */
        w->conn_ids[keep] = w->conn_ids[i];
        w->told[keep] = w->told[i];
        if (w->told[keep] != online && transport_usable(c)) {
            transport_send(c, frame, len);
            w->told[keep] = (int8_t) online;
        }
        keep++;
    }
    if (w)
        w->n = keep;
}

/* told_slot: where what conn_id was told of user_id is kept; NULL when
 * it does not watch (any more). */
static int8_t *told_slot(struct presence *p, uint64_t conn_id, int64_t user_id)
{
    struct watchers *w = i64map_get(&p->watched, user_id);
    for (size_t i = 0; w && i < w->n; i++)
        if (w->conn_ids[i] == conn_id)
            return &w->told[i];
    return NULL;
}

/* announce: user_id went online or offline: here, and to the other relays. */
static void announce(struct presence *p, int64_t user_id, int online, int64_t last_seen)
{
    char *frame = proto_presence(user_id, online, online ? 0 : last_seen);
    if (!frame)
        return;
    size_t len = strlen(frame);
    tell_watchers(p, user_id, online, frame, len);
    if (p->publish && p->writerq)
        p->publish(p->publish_arg, user_id, frame, len);
    free(frame);
}

static struct presence_job *job_new(struct presence *p, int64_t user_id)
{
    struct presence_job *j = calloc(1, sizeof *j);
    if (j) {
        j->p = p;
        j->user_id = user_id;
    }
    return j;
}

/* ---------------------------------------------------------------- changes */

static void change_run(struct job *j, void *ctx)
{
    struct presence_job *pj = (struct presence_job *) j;
    (void) ctx;
    pj->rc = redis_pub_presence(pj->p->pub, pj->user_id, pj->delta, &pj->total);
}

static void change_done(struct job *j, int status)
{
    struct presence_job *pj = (struct presence_job *) j;
    struct presence *p = pj->p;
    if (status == WORKQ_OK) {
        /* The sum moved by exactly delta in the script: it crossed zero
         * here or not at all. Without an answer, this relay's own count. */
        long long after = pj->rc == 0 ? pj->total : local_online(p, pj->user_id);
        long long before = pj->rc == 0 ? after - pj->delta : !after;
        if ((before > 0) != (after > 0))
            announce(p, pj->user_id, after > 0, timefmt_now_ms());
    }
    free(pj);
}

/* change: user_id's count here went from 0 to 1 or from 1 to 0. */
static void change(struct presence *p, int64_t user_id, int delta)
{
    if (!p->writerq) {
        announce(p, user_id, delta > 0, timefmt_now_ms());
        return;
    }
    struct presence_job *pj = job_new(p, user_id);
    if (!pj)
        return;
    pj->delta = delta;
    pj->base.run = change_run;
    pj->base.done = change_done;
    workq_submit(p->writerq, &pj->base);
}

static void seen_run(struct job *j, void *ctx)
{
    struct presence_job *pj = (struct presence_job *) j;
    pj->rc = ctx ? users_set_last_seen(ctx, pj->user_id, pj->last_seen) : ERR_UNAVAILABLE;
}

static void job_free(struct job *j, int status)
{
    (void) status;
    free(j);
}

void presence_opened(struct presence *p, int64_t user_id)
{
    if (admission_user_count(p->adm, user_id) == 1)
        change(p, user_id, +1);
}

void presence_closing(struct presence *p, int64_t user_id)
{
    if (admission_user_count(p->adm, user_id) != 1)
        return; /* another connection of the user stays here */
    /* Saved whatever the other relays hold: the last time seen here. */
    struct presence_job *pj = job_new(p, user_id);
    if (pj) {
        pj->last_seen = timefmt_now_ms();
        pj->base.run = seen_run;
        pj->base.done = job_free;
        workq_submit(p->sqlq, &pj->base);
    }
    change(p, user_id, -1);
}

/* -------------------------------------------------------------- questions */

static void answer(struct presence *p, uint64_t conn_id, int64_t user_id, int online,
                   int64_t last_seen)
{
    struct conn *c = transport_conn(p->t, conn_id);
    int8_t *told = told_slot(p, conn_id, user_id);
    if (!told || *told != TOLD_NOTHING)
        return; /* no longer watching, or a change got there first */
    *told = (int8_t) online;
    if (c && transport_usable(c)) {
        transport_send_owned(c, proto_presence(user_id, online, online ? 0 : last_seen));
        transport_flush_later(c);
    }
}

static void ask_done(struct job *j, int status)
{
    struct presence_job *pj = (struct presence_job *) j;
    if (status == WORKQ_OK) {
        int online = pj->rc == 0 ? pj->total > 0 : local_online(pj->p, pj->user_id);
        answer(pj->p, pj->conn_id, pj->user_id, online, pj->last_seen);
    }
    free(pj);
}

static void last_seen_run(struct job *j, void *ctx)
{
    struct presence_job *pj = (struct presence_job *) j;
    if (!ctx || users_last_seen(ctx, pj->user_id, &pj->last_seen) != 0)
        pj->last_seen = 0; /* unknown: shown as never */
}

static void last_seen_done(struct job *j, int status)
{
    struct presence_job *pj = (struct presence_job *) j;
    struct presence *p = pj->p;
    if (status != WORKQ_OK || !transport_conn(p->t, pj->conn_id)) {
        free(pj);
        return;
    }
    if (!p->writerq) {
        answer(p, pj->conn_id, pj->user_id, local_online(p, pj->user_id), pj->last_seen);
        free(pj);
        return;
    }
    pj->delta = 0; /* a question: the script only counts */
    pj->base.run = change_run;
    pj->base.done = ask_done;
    workq_submit(p->writerq, &pj->base);
}

void presence_watch(struct presence *p, struct conn *c, int64_t user_id)
{
    if (user_id <= 0)
        return;
    struct watchers *w = i64map_get(&p->watched, user_id);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return;
        if (i64map_put(&p->watched, user_id, w) != 0) {
            free(w);
            return;
        }
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->conn_ids[i] == c->id)
            return; /* watching already: told of every change since */
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        uint64_t *v = realloc(w->conn_ids, cap * sizeof *v);
        if (v)
            w->conn_ids = v;
        int8_t *t = v ? realloc(w->told, cap * sizeof *t) : NULL;
        if (t)
            w->told = t;
        if (!v || !t)
            return;
        w->cap = cap;
    }
    w->told[w->n] = TOLD_NOTHING;
    w->conn_ids[w->n++] = c->id;
    struct presence_job *pj = job_new(p, user_id);
    if (!pj)
        return;
    pj->conn_id = c->id;
    pj->base.owner = c->id; /* a question nobody waits for any more is dropped */
    pj->base.run = last_seen_run;
    pj->base.done = last_seen_done;
    workq_submit(p->sqlq, &pj->base);
}

void presence_unwatch(struct presence *p, const struct conn *c, const int64_t *users, size_t n)
{
    for (size_t u = 0; u < n; u++) {
        struct watchers *w = users[u] > 0 ? i64map_get(&p->watched, users[u]) : NULL;
        for (size_t i = 0; w && i < w->n; i++)
            if (w->conn_ids[i] == c->id) {
                w->n--;
                w->conn_ids[i] = w->conn_ids[w->n];
                w->told[i] = w->told[w->n];
                break;
            }
        if (w && w->n == 0) {
            i64map_del(&p->watched, users[u]);
            free(w->conn_ids);
            free(w->told);
            free(w);
        }
    }
}

void presence_remote(struct presence *p, int64_t user_id, int online, const char *frame, size_t len)
{
    tell_watchers(p, user_id, online, frame, len);
}

static void heartbeat_run(struct job *j, void *ctx)
{
    struct presence_job *pj = (struct presence_job *) j;
    (void) ctx;
    redis_pub_heartbeat(pj->p->pub);
}

void presence_heartbeat(struct presence *p)
{
    if (!p->writerq)
        return;
    struct presence_job *pj = job_new(p, 0);
    if (!pj)
        return;
    pj->base.run = heartbeat_run;
    pj->base.done = job_free;
    workq_submit(p->writerq, &pj->base);
}
