/* metrics.c - Prometheus text for the relay's counters (see metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const unsigned batch_bounds[METRICS_BATCH_BUCKETS - 1] = {1,  2,   4,   8,   16,  32,
                                                                 64, 128, 256, 512, 1024};
static const unsigned latency_bounds_ms[METRICS_LATENCY_BUCKETS - 1] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

static const char *const refusal_names[REFUSE__COUNT] = {
    "capacity",
    "fd_limit",
    "origin",
    "token",
    "db_unavailable",
    "bad_handshake",
    "handshake_timeout",
    "shutting_down",
    "bad_request",
    "forbidden",
    "not_member",
    "rate_limited",
    "too_many_rooms",
    "store_unavailable",
    "slow_consumer",
    "pong_timeout",
    "ping_flood",
    "handshake_shed",
    "user_limit",
};

void metrics_observe_batch(struct metrics *m, size_t n, int64_t latency_ms)
{
    size_t i = 0;
    while (i < METRICS_BATCH_BUCKETS - 1 && n > batch_bounds[i])
        i++;
    m->batch_buckets[i]++;
    m->batch_count++;
    m->batch_sum += n;

    if (latency_ms < 0)
        latency_ms = 0;
    i = 0;
    while (i < METRICS_LATENCY_BUCKETS - 1 && (uint64_t) latency_ms > latency_bounds_ms[i])
        i++;
    m->latency_buckets[i]++;
    m->latency_count++;
    m->latency_sum_ms += (uint64_t) latency_ms;
}

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t) n < o->cap - o->len) {
            o->len += (size_t) n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t) n;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

static void gauge(struct out *o, const char *name, const char *help, size_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s gauge\n%s %zu\n", name, help, name, name, v);
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long) v);
}

char *metrics_render(const struct metrics *m, const struct metrics_gauges *g, size_t *len)
{
    struct out o = {malloc(4096), 0, 4096, 0};
    if (!o.buf)
        return NULL;

    gauge(&o, "chat_relay_connections", "Open WebSocket connections.", g->connections);
    gauge(&o, "chat_relay_connections_max", "Effective connection limit.", g->max_connections);
    gauge(&o, "chat_relay_handshakes", "Sockets still in the HTTP stage.", g->handshaking);
    gauge(&o, "chat_relay_rooms", "Rooms with at least one local member.", g->rooms);
    gauge(&o, "chat_relay_queue_depth", "Messages waiting for a write batch.", g->queue_depth);
    gauge(&o, "chat_relay_writes_in_flight", "Messages in the batch being written.",
          g->writes_in_flight);
    counter(&o, "chat_relay_connections_total", "WebSocket connections opened.",
            m->connections_total);
    counter(&o, "chat_relay_messages_in_total", "TEXT and IMAGE messages accepted for storage.",
            m->messages_in);
    counter(&o, "chat_relay_messages_stored_total", "Messages newly stored.", m->messages_stored);
    counter(&o, "chat_relay_messages_out_total", "MESSAGE frames sent (live and replay).",
            m->messages_out);
    counter(&o, "chat_relay_acks_total", "ACK frames sent.", m->acks);
    counter(&o, "chat_relay_enter_lookups_total",
            "ENTER lookups given to workers (ENTERs repeated meanwhile share one).",
            m->enter_lookups);
    counter(&o, "chat_relay_jobs_dropped_total",
            "Queued database lookups dropped unrun because their connection closed.",
            m->jobs_dropped);
    counter(&o, "chat_relay_events_dropped_total",
            "READ and TYPING frames not published to other relays: too many waiting.",
            m->events_dropped);

    put(&o, "# HELP chat_relay_write_batch_size Messages per insertMany.\n"
            "# TYPE chat_relay_write_batch_size histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_BATCH_BUCKETS; i++) {
        cum += m->batch_buckets[i];
        if (i < METRICS_BATCH_BUCKETS - 1)
            put(&o, "chat_relay_write_batch_size_bucket{le=\"%u\"} %llu\n", batch_bounds[i],
                (unsigned long long) cum);
        else
            put(&o, "chat_relay_write_batch_size_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long) cum);
    }
    put(&o, "chat_relay_write_batch_size_sum %llu\nchat_relay_write_batch_size_count %llu\n",
        (unsigned long long) m->batch_sum, (unsigned long long) m->batch_count);

    put(&o, "# HELP chat_relay_write_latency_seconds Time from batch start to store answer.\n"
            "# TYPE chat_relay_write_latency_seconds histogram\n");
    cum = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cum += m->latency_buckets[i];
        if (i < METRICS_LATENCY_BUCKETS - 1)
            put(&o, "chat_relay_write_latency_seconds_bucket{le=\"%u.%03u\"} %llu\n",
                latency_bounds_ms[i] / 1000, latency_bounds_ms[i] % 1000, (unsigned long long) cum);
        else
            put(&o, "chat_relay_write_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long) cum);
    }
    put(&o,
        "chat_relay_write_latency_seconds_sum %llu.%03llu\n"
        "chat_relay_write_latency_seconds_count %llu\n",
        (unsigned long long) (m->latency_sum_ms / 1000),
        (unsigned long long) (m->latency_sum_ms % 1000), (unsigned long long) m->latency_count);

    put(&o, "# HELP chat_relay_refusals_total Requests and frames refused, by reason.\n"
            "# TYPE chat_relay_refusals_total counter\n");
    for (size_t i = 0; i < REFUSE__COUNT; i++)
        put(&o, "chat_relay_refusals_total{reason=\"%s\"} %llu\n", refusal_names[i],
            (unsigned long long) m->refusals[i]);

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
