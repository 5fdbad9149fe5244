/*
 * redis_pub.c - publishing stored messages to Redis (see redis_pub.h).
 *
 * Runs on the writer thread once per write batch: one pipelined round trip
 * for the whole batch; likewise one for each group of other frames
 * (redis_outbox.c). The connection is blocking with short time-outs;
 * every failure drops it and the next attempt waits out the backoff, so a
 * Redis outage slows no batch by more than one time-out per period.
 */
#include "redis_pub.h"

#include "errors.h"
#include "log.h"
#include "proto.h"
#include "redis_bus.h"
#include "timefmt.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define RP_TIMEOUT_MS     500
#define RP_BACKOFF_MIN_MS 100
#define RP_BACKOFF_MAX_MS 5000

struct redis_pub {
    char host[REDIS_HOST_MAX];
    int port; /* 0: no Redis */
    uint64_t origin;
    redisContext *ctx; /* NULL while disconnected */
    int64_t retry_ms;
    int backoff_ms;
    int up;          /* read by the loop thread (atomically) */
    int kick;        /* set by the loop thread (atomically): retry now */
    uint64_t errors; /* likewise */
};

struct redis_pub *redis_pub_new(const char *host, int port, uint64_t origin)
{
    struct redis_pub *rp = calloc(1, sizeof *rp);
    if (!rp)
        return NULL;
    if (host) {
        snprintf(rp->host, sizeof rp->host, "%s", host);
        rp->port = port;
    }
    rp->origin = origin;
    rp->backoff_ms = RP_BACKOFF_MIN_MS;
    return rp;
}

void redis_pub_free(struct redis_pub *rp)
{
    if (!rp)
        return;
    if (rp->ctx)
        redisFree(rp->ctx);
    free(rp);
}

void redis_pub_kick(struct redis_pub *rp)
{
    __atomic_store_n(&rp->kick, 1, __ATOMIC_RELAXED);
}

int redis_pub_up(const struct redis_pub *rp)
{
    return __atomic_load_n(&rp->up, __ATOMIC_RELAXED);
}

uint64_t redis_pub_errors(const struct redis_pub *rp)
{
    return __atomic_load_n(&rp->errors, __ATOMIC_RELAXED);
}

static void set_up(struct redis_pub *rp, int up)
{
    __atomic_store_n(&rp->up, up, __ATOMIC_RELAXED);
}

/* fail: count, drop the connection, back off. */
static void fail(struct redis_pub *rp, const char *what)
{
    __atomic_add_fetch(&rp->errors, 1, __ATOMIC_RELAXED);
    char q[256];
    if (redis_pub_up(rp))
        log_warn(
            "redis_down", "side=writer op=%s err=%s retry_ms=%d", what,
            log_quote(q, sizeof q, rp->ctx && rp->ctx->errstr[0] ? rp->ctx->errstr : "unreachable"),
            rp->backoff_ms);
    set_up(rp, 0);
    if (rp->ctx) {
        redisFree(rp->ctx);
        rp->ctx = NULL;
    }
    rp->retry_ms = timefmt_mono_ms() + rp->backoff_ms;
    rp->backoff_ms =
        rp->backoff_ms * 2 > RP_BACKOFF_MAX_MS ? RP_BACKOFF_MAX_MS : rp->backoff_ms * 2;
}

/* connected: a usable connection, connecting when the backoff allows. */
static int connected(struct redis_pub *rp)
{
    if (rp->port == 0)
        return 0;
    if (rp->ctx)
        return 1;
    if (__atomic_exchange_n(&rp->kick, 0, __ATOMIC_RELAXED))
        rp->retry_ms = 0;
    if (timefmt_mono_ms() < rp->retry_ms)
        return 0;
    struct timeval tv = {0, RP_TIMEOUT_MS * 1000};
    rp->ctx = redisConnectWithTimeout(rp->host, rp->port, tv);
    if (!rp->ctx || rp->ctx->err || redisSetTimeout(rp->ctx, tv) != REDIS_OK) {
        fail(rp, "connect");
        return 0;
    }
    rp->backoff_ms = RP_BACKOFF_MIN_MS;
    log_info("redis_up", "side=writer host=%s port=%d", rp->host, rp->port);
    set_up(rp, 1);
    return 1;
}

/* append_publish: PUBLISH payload (origin, number, frame) on room_id's
 * channel, appended to the pipeline (not sent yet). 0; ERR_NOMEM (nothing
 * appended); ERR_UNAVAILABLE (the connection was dropped). */
static int append_publish(struct redis_pub *rp, int64_t room_id, int64_t number, const char *frame,
                          size_t len)
{
    size_t plen = 0;
    char *payload = redis_payload_format(rp->origin, number, frame, len, &plen);
    if (!payload)
        return ERR_NOMEM;
    char ch[64];
    redis_channel(ch, sizeof ch, room_id);
    int rc = redisAppendCommand(rp->ctx, "PUBLISH %s %b", ch, payload, plen);
    free(payload);
    if (rc != REDIS_OK) {
        fail(rp, "publish");
        return ERR_UNAVAILABLE;
    }
    return 0;
}

/* read_replies: the answers to n appended commands (sent by the first
 * read). */
static void read_replies(struct redis_pub *rp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(rp->ctx, &reply) != REDIS_OK) {
            freeReplyObject(reply);
            fail(rp, "publish");
            return;
        }
        freeReplyObject(reply);
    }
}

void redis_pub_send(struct redis_pub *rp, const struct chat_message *const *msgs, size_t n)
{
    if (n == 0 || !connected(rp))
        return;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        const struct chat_message *m = msgs[i];
        char *frame = proto_message(m);
        int rc = frame ? append_publish(rp, m->room_id, m->seq, frame, strlen(frame)) : ERR_NOMEM;
        free(frame);
        if (rc == ERR_UNAVAILABLE)
            return;
        if (rc == 0) /* out of memory: receivers elsewhere catch up by seq */
            sent++;
    }
    read_replies(rp, sent);
}

void redis_pub_events(struct redis_pub *rp, const struct redis_event *ev, size_t n)
{
    if (n == 0 || !connected(rp))
        return;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        int user = ev[i].user_id > 0;
        int rc = append_publish(rp, user ? REDIS_USERS_ROOM : ev[i].room_id,
                                user ? ev[i].user_id : 0, ev[i].frame, ev[i].len);
        if (rc == ERR_UNAVAILABLE)
            return;  /* the connection is gone */
        if (rc == 0) /* else out of memory: this one is lost */
            sent++;
    }
    read_replies(rp, sent);
}

/* KEYS[1] chat:presence:<user>, a hash: relay origin -> connections there.
 * ARGV: origin, delta, the heartbeat key prefix, its lifetime. Relays that
 * stopped refreshing their heartbeat (killed) are not counted. */
static const char presence_lua[] =
    "local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]) "
    "if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end "
    "redis.call('SET', ARGV[3] .. ARGV[1], '1', 'EX', ARGV[4]) "
    "local total = 0 "
    "local h = redis.call('HGETALL', KEYS[1]) "
    "for i = 1, #h, 2 do "
    "  if redis.call('EXISTS', ARGV[3] .. h[i]) == 1 then total = total + tonumber(h[i + 1]) end "
    "end "
    "return total";

int redis_pub_presence(struct redis_pub *rp, int64_t user_id, int delta, long long *total)
{
    if (!connected(rp))
        return ERR_UNAVAILABLE;
    char key[64], origin[24], d[16], ttl[16];
    snprintf(key, sizeof key, "chat:presence:%lld", (long long) user_id);
    snprintf(origin, sizeof origin, "%016llx", (unsigned long long) rp->origin);
    snprintf(d, sizeof d, "%d", delta);
    snprintf(ttl, sizeof ttl, "%d", REDIS_PRESENCE_TTL);
    redisReply *reply = redisCommand(rp->ctx, "EVAL %s 1 %s %s %s chat:relay: %s", presence_lua,
                                     key, origin, d, ttl);
    if (!reply) {
        fail(rp, "presence");
        return ERR_UNAVAILABLE;
    }
    int rc = reply->type == REDIS_REPLY_INTEGER ? 0 : ERR_UNAVAILABLE;
    if (rc == 0)
        *total = reply->integer;
    freeReplyObject(reply);
    return rc;
}

void redis_pub_heartbeat(struct redis_pub *rp)
{
    if (!connected(rp))
        return;
    redisReply *reply = redisCommand(rp->ctx, "SET chat:relay:%016llx 1 EX %d",
                                     (unsigned long long) rp->origin, REDIS_PRESENCE_TTL);
    if (!reply) {
        fail(rp, "heartbeat");
        return;
    }
    freeReplyObject(reply);
}
