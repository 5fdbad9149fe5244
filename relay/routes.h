/*
 * routes.h - what a parsed HTTP request gets: /healthz (a ping of MySQL
 * and MongoDB on the health workers, a queue of their own so no backlog
 * delays it), /metrics, and /ws: shutting down, capacity, Origin, the
 * token (consumed on a SQL worker), the per-user limit, then the upgrade.
 * Refusals are counted and logged here. Loop thread only.
 */
#ifndef RELAY_ROUTES_H
#define RELAY_ROUTES_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

struct admission;
struct conn;
struct metrics;
struct msgstore;
struct workq;

/* What routes tell their owner; arg is routes_new's. */
struct routes_events {
    /* opened: c is a WebSocket now: set up its session (before any frame
     * that came with the request is read). */
    void (*opened)(void *arg, struct conn *c);
    /* metrics: the /metrics body (malloc'd, *len set), NULL when out of
     * memory. */
    char *(*metrics)(void *arg, size_t *len);
};

struct routes;

/* routes_new: every pointer is borrowed. sqlq consumes tokens, healthq
 * pings (its threads' context is a struct sqldb *, or NULL), store is
 * pinged from healthq. max_conns: WebSockets and token checks together.
 * NULL when out of memory. */
struct routes *routes_new(const struct config *cfg, struct admission *adm, struct metrics *metrics,
                          struct workq *sqlq, struct workq *healthq, struct msgstore *store,
                          size_t max_conns, const struct routes_events *ev, void *arg);
void routes_free(struct routes *rt);

/* routes_request: a transport_events.request handler (arg: the routes). */
void routes_request(void *arg, struct conn *c, int rc);

/* routes_stop: from now on /ws is answered 503 (shutting down). */
void routes_stop(struct routes *rt);

/* routes_admitted: token checks in flight (counted against max_conns). */
size_t routes_admitted(const struct routes *rt);

#endif
