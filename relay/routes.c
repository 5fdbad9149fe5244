/*
 * routes.c - routing and admission of HTTP requests (see routes.h).
 */
#include "routes.h"

#include "admission.h"
#include "errors.h"
#include "handshake.h"
#include "log.h"
#include "metrics.h"
#include "msgstore.h"
#include "socket_tokens.h"
#include "sqldb.h"
#include "transport.h"
#include "workq.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct routes {
    const struct config *cfg;
    struct admission *adm;
    struct metrics *metrics;
    struct workq *sqlq, *healthq;
    struct msgstore *store;
    size_t max_conns;
    size_t n_admitted; /* CONN_WAIT for a token, counted against the limit */
    int stopping;
    const struct routes_events *ev;
    void *arg;
};

struct token_job {
    struct job base;
    struct routes *rt;
    struct transport *t;
    uint64_t conn_id;
    char token[HS_TOKEN_MAX + 1];
    int64_t user_id;
    int rc;
};

struct health_job {
    struct job base;
    struct transport *t;
    struct msgstore *store;
    uint64_t conn_id;
    int mongo; /* 0: MySQL, 1: MongoDB */
    int rc;
};

struct routes *routes_new(const struct config *cfg, struct admission *adm, struct metrics *metrics,
                          struct workq *sqlq, struct workq *healthq, struct msgstore *store,
                          size_t max_conns, const struct routes_events *ev, void *arg)
{
    struct routes *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    *rt = (struct routes){.cfg = cfg,
                          .adm = adm,
                          .metrics = metrics,
                          .sqlq = sqlq,
                          .healthq = healthq,
                          .store = store,
                          .max_conns = max_conns,
                          .ev = ev,
                          .arg = arg};
    return rt;
}

void routes_free(struct routes *rt)
{
    free(rt);
}

void routes_stop(struct routes *rt)
{
    rt->stopping = 1;
}

size_t routes_admitted(const struct routes *rt)
{
    return rt->n_admitted;
}

/* refuse: answer a handshake with an HTTP error, count and log it. */
static void refuse(struct routes *rt, struct conn *c, enum refusal why, int status,
                   const char *extra, const char *reason)
{
    metrics_refuse(rt->metrics, why);
    log_info("handshake_refused", "conn=%llu status=%d reason=\"%s\"", (unsigned long long) c->id,
             status, reason);
    transport_http_text(c, status, extra, reason);
}

/* -------------------------------------------------------------- /healthz */

/* health_run (health worker): ping MySQL (ctx) or MongoDB. */
static void health_run(struct job *j, void *ctx)
{
    struct health_job *h = (struct health_job *) j;
    if (h->mongo) {
        h->rc = msgstore_ping(h->store);
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
    struct conn *c = status == WORKQ_OK ? transport_conn(h->t, h->conn_id) : NULL;
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
            transport_http_reply(c, ok ? 200 : 503, NULL, "application/json", body, (size_t) n);
        }
    }
    free(h);
}

static void serve_health(struct routes *rt, struct conn *c)
{
    transport_wait(c);
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
        h->t = c->t;
        h->store = rt->store;
        h->conn_id = c->id;
        h->mongo = mongo;
        workq_submit(rt->healthq, &h->base);
    }
    if (c->health_waiting == 0)
        transport_http_text(c, 503, NULL, "out of memory");
}

/* -------------------------------------------------------------- /metrics */

static void serve_metrics(struct routes *rt, struct conn *c)
{
    size_t len;
    char *body = rt->ev->metrics(rt->arg, &len);
    if (!body) {
        transport_http_text(c, 503, NULL, "out of memory");
        return;
    }
    transport_http_reply(c, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", body, len);
    free(body);
}

/* ------------------------------------------------------------------- /ws */

/* token_run (SQL worker): consume the token; it is wiped either way. */
static void token_run(struct job *j, void *ctx)
{
    struct token_job *tj = (struct token_job *) j;
    tj->rc = ctx ? socket_token_consume(ctx, tj->token, &tj->user_id) : ERR_UNAVAILABLE;
    OPENSSL_cleanse(tj->token, sizeof tj->token);
}

static void upgrade(struct routes *rt, struct conn *c, int64_t user_id)
{
    int rc = admission_user_open(rt->adm, user_id);
    if (rc == ERR_TOO_LARGE) {
        refuse(rt, c, REFUSE_USER_LIMIT, 429, NULL, "too many connections for this user");
        return;
    }
    if (rc != 0) {
        transport_http_text(c, 503, NULL, "out of memory");
        return;
    }
    if (transport_upgrade(c, user_id) != 0) {
        admission_user_close(rt->adm, user_id);
        transport_http_text(c, 503, NULL, "out of memory");
        return;
    }
    rt->metrics->connections_total++;
    log_info("ws_open", "conn=%llu user=%lld origin=%s", (unsigned long long) c->id,
             (long long) user_id, c->hs.has_origin ? "yes" : "none");
    rt->ev->opened(rt->arg, c);
    transport_start(c);
}

static void token_done(struct job *j, int status)
{
    struct token_job *tj = (struct token_job *) j;
    struct routes *rt = tj->rt;
    OPENSSL_cleanse(tj->token, sizeof tj->token);
    struct conn *c = status == WORKQ_OK ? transport_conn(tj->t, tj->conn_id) : NULL;
    if (status == WORKQ_OK)
        rt->n_admitted--;
    if (c) {
        if (rt->stopping)
            refuse(rt, c, REFUSE_SHUTTING_DOWN, 503, NULL, "server shutting down");
        else if (tj->rc == 0)
            upgrade(rt, c, tj->user_id);
        else if (tj->rc == ERR_AUTH || tj->rc == ERR_EXPIRED || tj->rc == ERR_NOT_FOUND)
            refuse(rt, c, REFUSE_TOKEN, 401, NULL, "invalid, expired or used token");
        else
            refuse(rt, c, REFUSE_DB_UNAVAILABLE, 503, NULL, "database unavailable");
    }
    free(tj);
}

static void serve_ws(struct routes *rt, struct conn *c)
{
    if (rt->stopping) {
        refuse(rt, c, REFUSE_SHUTTING_DOWN, 503, NULL, "server shutting down");
        return;
    }
    if (transport_open(c->t) + rt->n_admitted >= rt->max_conns) {
        refuse(rt, c, REFUSE_CAPACITY, 503, NULL, "at capacity");
        return;
    }
    if (c->hs.has_origin && !hs_origin_allowed(rt->cfg->allowed_origins, c->hs.origin)) {
        refuse(rt, c, REFUSE_ORIGIN, 403, NULL, "origin not allowed");
        return;
    }
    if (c->hs.token[0] == '\0' || c->hs.token_too_long) {
        OPENSSL_cleanse(c->hs.token, sizeof c->hs.token);
        refuse(rt, c, REFUSE_TOKEN, 401, NULL, "invalid, expired or used token");
        return;
    }
    struct token_job *tj = calloc(1, sizeof *tj);
    if (!tj) {
        transport_http_text(c, 503, NULL, "out of memory");
        return;
    }
    tj->base.run = token_run;
    tj->base.done = token_done;
    tj->rt = rt;
    tj->t = c->t;
    tj->conn_id = c->id;
    memcpy(tj->token, c->hs.token, sizeof tj->token);
    OPENSSL_cleanse(c->hs.token, sizeof c->hs.token);
    transport_wait(c);
    admission_remove(rt->adm, &c->adm); /* counted in n_admitted now */
    rt->n_admitted++;
    workq_submit(rt->sqlq, &tj->base);
}

void routes_request(void *arg, struct conn *c, int rc)
{
    struct routes *rt = arg;
    if (rc == HS_BAD) {
        const char *extra = NULL;
        if (c->hs.status == 405)
            extra = "Allow: GET\r\n";
        else if (c->hs.status == 426)
            extra = c->hs.want_version_header ? "Sec-WebSocket-Version: 13\r\n"
                                              : "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        refuse(rt, c, REFUSE_BAD_HANDSHAKE, c->hs.status, extra, c->hs.reason);
        return;
    }
    switch (c->hs.route) {
    case HS_ROUTE_HEALTHZ:
        serve_health(rt, c);
        break;
    case HS_ROUTE_METRICS:
        serve_metrics(rt, c);
        break;
    case HS_ROUTE_WS:
        serve_ws(rt, c);
        break;
    }
}
