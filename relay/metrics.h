/*
 * metrics.h - the relay's counters and their Prometheus text form
 * (GET /metrics, text exposition format 0.0.4).
 *
 * Plain integers updated by the loop thread only; rendering takes a
 * snapshot of the gauges the caller computes at that moment.
 */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum refusal {
    REFUSE_CAPACITY,       /* handshake beyond max_connections: 503 */
    REFUSE_FD_LIMIT,       /* accepted fd the loop cannot watch (ev_fd_limit): closed at once */
    REFUSE_ORIGIN,         /* 403 */
    REFUSE_TOKEN,          /* 401 */
    REFUSE_DB_UNAVAILABLE, /* 503: MySQL down at handshake */
    REFUSE_BAD_HANDSHAKE,  /* 400/404/405/426 */
    REFUSE_HANDSHAKE_TIMEOUT,
    REFUSE_SHUTTING_DOWN,
    REFUSE_BAD_REQUEST, /* ERROR bad_request / too_large */
    REFUSE_FORBIDDEN,   /* ERROR forbidden (userId spoofing) */
    REFUSE_NOT_MEMBER,
    REFUSE_RATE_LIMITED,
    REFUSE_TOO_MANY_ROOMS,
    REFUSE_STORE_UNAVAILABLE, /* ERROR unavailable */
    REFUSE_SLOW_CONSUMER,     /* closed 1008 */
    REFUSE_PONG_TIMEOUT,
    REFUSE_PING_FLOOD,     /* more pings than WSCONN_PING_RATE allows: closed 1008 */
    REFUSE_HANDSHAKE_SHED, /* oldest HTTP-stage connection closed to make room */
    REFUSE_USER_LIMIT,     /* 429: max_connections_per_user */
    REFUSE__COUNT
};

#define METRICS_BATCH_BUCKETS   12
#define METRICS_LATENCY_BUCKETS 14

struct metrics {
    uint64_t connections_total; /* WebSocket connections opened */
    uint64_t messages_in;       /* TEXT/IMAGE frames accepted for storage */
    uint64_t messages_stored;   /* of those, newly stored */
    uint64_t messages_out;      /* MESSAGE frames queued to clients (live and replay) */
    uint64_t acks;              /* ACK frames, retries included */
    uint64_t enter_lookups;     /* ENTER lookups sent to workers (repeats folded into one) */
    uint64_t jobs_dropped;      /* queued lookups of connections that closed, never run */
    uint64_t events_dropped;    /* READ/TYPING not published: too many waiting */
    uint64_t batch_count;
    uint64_t batch_sum;                            /* messages over all batches */
    uint64_t batch_buckets[METRICS_BATCH_BUCKETS]; /* cumulative at render */
    uint64_t latency_count;
    uint64_t latency_sum_ms;
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS];
    uint64_t refusals[REFUSE__COUNT];
};

struct metrics_gauges {
    size_t connections;      /* open WebSockets */
    size_t handshaking;      /* accepted sockets not (yet) WebSockets */
    size_t rooms;            /* rooms with at least one local member */
    size_t queue_depth;      /* messages waiting for a write batch */
    size_t writes_in_flight; /* messages in the batch being written */
    size_t max_connections;  /* effective limit */
};

/* metrics_observe_batch: one insertMany of n messages that took latency_ms. */
void metrics_observe_batch(struct metrics *m, size_t n, int64_t latency_ms);

static inline void metrics_refuse(struct metrics *m, enum refusal r)
{
    m->refusals[r]++;
}

/* metrics_render: the exposition text (malloc'd, caller frees; *len set),
 * NULL when out of memory. */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len);

#endif
