/*
 * redis_seq.c - shared seq counters in Redis with an in-memory fallback,
 * and publishing stored messages (see redis_seq.h).
 *
 * Runs on the writer thread, once per write batch: one round trip per room
 * of the batch to reserve its seqs, one pipelined round trip to publish.
 * The connection is blocking with short time-outs; every failure drops it
 * and the next attempt waits out the backoff, so a Redis outage slows no
 * batch by more than one time-out per backoff period.
 */
#include "redis_seq.h"

#include "errors.h"
#include "i64map.h"
#include "log.h"
#include "proto.h"
#include "redis_bus.h"
#include "relay_int.h"
#include "timefmt.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define RS_TIMEOUT_MS     500
#define RS_BACKOFF_MIN_MS 100
#define RS_BACKOFF_MAX_MS 5000
#define RS_MAX_ROOMS      100000 /* in-memory fallback counters */

/* Reserve count seqs if the key exists, else answer -1 (the caller then
 * initialises it from the store). */
static const char script_incr[] = "if redis.call('EXISTS', KEYS[1]) == 1 then "
                                  "return redis.call('INCRBY', KEYS[1], ARGV[1]) end return -1";

/* Raise the key to at least ARGV[1] (never lower it), then reserve. */
static const char script_floor_incr[] =
    "local c = tonumber(redis.call('GET', KEYS[1]) or '-1') "
    "if c == nil or c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end "
    "return redis.call('INCRBY', KEYS[1], ARGV[2])";

struct redis_seq {
    char host[REDIS_HOST_MAX];
    int port; /* 0: no Redis */
    uint64_t origin;
    seqgen_load_fn *load;
    void *arg;
    redisContext *ctx; /* NULL while disconnected */
    int64_t retry_ms;
    int backoff_ms;
    int mode_redis;       /* the last assignment used Redis */
    struct seqgen *mem;   /* fallback counters */
    struct i64map repair; /* room id -> (void *) 1: raise to stored max first */
    int up;               /* read by the loop thread (atomically) */
    int kick;             /* set by the loop thread (atomically): retry now */
    uint64_t errors;      /* likewise */
};

struct redis_seq *redis_seq_new(const char *host, int port, uint64_t origin, seqgen_load_fn *load,
                                void *arg)
{
    struct redis_seq *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    if (host) {
        snprintf(rs->host, sizeof rs->host, "%s", host);
        rs->port = port;
    }
    rs->origin = origin;
    rs->load = load;
    rs->arg = arg;
    rs->backoff_ms = RS_BACKOFF_MIN_MS;
    i64map_init(&rs->repair);
    if (!(rs->mem = seqgen_new(load, arg, RS_MAX_ROOMS))) {
        free(rs);
        return NULL;
    }
    return rs;
}

void redis_seq_free(struct redis_seq *rs)
{
    if (!rs)
        return;
    if (rs->ctx)
        redisFree(rs->ctx);
    seqgen_free(rs->mem);
    i64map_deinit(&rs->repair);
    free(rs);
}

void redis_seq_kick(struct redis_seq *rs)
{
    __atomic_store_n(&rs->kick, 1, __ATOMIC_RELAXED);
}

int redis_seq_up(const struct redis_seq *rs)
{
    return __atomic_load_n(&rs->up, __ATOMIC_RELAXED);
}

uint64_t redis_seq_errors(const struct redis_seq *rs)
{
    return __atomic_load_n(&rs->errors, __ATOMIC_RELAXED);
}

static void set_up(struct redis_seq *rs, int up)
{
    __atomic_store_n(&rs->up, up, __ATOMIC_RELAXED);
}

/* fail: count, drop the connection, back off. */
static void fail(struct redis_seq *rs, const char *what)
{
    __atomic_add_fetch(&rs->errors, 1, __ATOMIC_RELAXED);
    if (redis_seq_up(rs))
        log_warn("redis_down", "side=writer op=%s err=\"%s\" retry_ms=%d", what,
                 rs->ctx && rs->ctx->errstr[0] ? rs->ctx->errstr : "unreachable", rs->backoff_ms);
    set_up(rs, 0);
    if (rs->ctx) {
        redisFree(rs->ctx);
        rs->ctx = NULL;
    }
    rs->retry_ms = timefmt_mono_ms() + rs->backoff_ms;
    rs->backoff_ms =
        rs->backoff_ms * 2 > RS_BACKOFF_MAX_MS ? RS_BACKOFF_MAX_MS : rs->backoff_ms * 2;
}

/* connected: a usable connection, connecting when the backoff allows. */
static int connected(struct redis_seq *rs)
{
    if (rs->port == 0)
        return 0;
    if (rs->ctx)
        return 1;
    if (__atomic_exchange_n(&rs->kick, 0, __ATOMIC_RELAXED))
        rs->retry_ms = 0;
    if (timefmt_mono_ms() < rs->retry_ms)
        return 0;
    struct timeval tv = {0, RS_TIMEOUT_MS * 1000};
    rs->ctx = redisConnectWithTimeout(rs->host, rs->port, tv);
    if (!rs->ctx || rs->ctx->err || redisSetTimeout(rs->ctx, tv) != REDIS_OK) {
        fail(rs, "connect");
        return 0;
    }
    rs->backoff_ms = RS_BACKOFF_MIN_MS;
    log_info("redis_up", "side=writer host=%s port=%d", rs->host, rs->port);
    set_up(rs, 1);
    return 1;
}

/* reserve: count seqs of room_id; floor < 0 only when the key exists.
 * *last = the highest reserved. 0, ERR_NOT_FOUND (no key, floor < 0),
 * ERR_UNAVAILABLE. */
static int reserve(struct redis_seq *rs, int64_t room_id, int64_t count, int64_t floor,
                   int64_t *last)
{
    char key[64], cnt[24], fl[24];
    redis_seq_key(key, sizeof key, room_id);
    snprintf(cnt, sizeof cnt, "%" PRId64, count);
    snprintf(fl, sizeof fl, "%" PRId64, floor);
    redisReply *r =
        floor < 0 ? redisCommand(rs->ctx, "EVAL %s 1 %s %s", script_incr, key, cnt)
                  : redisCommand(rs->ctx, "EVAL %s 1 %s %s %s", script_floor_incr, key, fl, cnt);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (r)
            log_error("redis_seq_failed", "room=%" PRId64 " reply_type=%d msg=\"%s\"", room_id,
                      r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
        fail(rs, "reserve");
        return ERR_UNAVAILABLE;
    }
    long long v = r->integer;
    freeReplyObject(r);
    if (v < 0)
        return ERR_NOT_FOUND;
    *last = v;
    return 0;
}

/* assign_redis: one reservation per room; 0, or ERR_UNAVAILABLE when
 * Redis failed (then nothing in the batch has a seq from Redis). */
static int assign_redis(struct redis_seq *rs, struct outmsg **batch, const size_t *idx, size_t n,
                        int round)
{
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[idx[i]];
        int64_t room = om->m.room_id;
        if (om->m.seq != 0 || om->status != 0)
            continue; /* done as part of an earlier room, or failed */
        int64_t count = 0, hint = round == 0 ? om->seq_hint : -1;
        for (size_t j = i; j < n; j++)
            if (batch[idx[j]]->m.room_id == room)
                count++;
        int64_t last = 0, floor = -1;
        int repair = i64map_get(&rs->repair, room) != NULL;
        int rc = repair ? ERR_NOT_FOUND : reserve(rs, room, count, -1, &last);
        if (rc == ERR_NOT_FOUND) {
            floor = hint;
            if (repair || floor < 0)
                rc = rs->load(rs->arg, room, &floor);
            else
                rc = 0;
            if (rc == 0)
                rc = reserve(rs, room, count, floor, &last);
            if (rc == 0)
                i64map_del(&rs->repair, room);
        }
        if (rc == ERR_UNAVAILABLE && !rs->ctx)
            return ERR_UNAVAILABLE; /* Redis itself failed: fall back */
        int64_t seq = last - count + 1;
        for (size_t j = i; j < n; j++) {
            struct outmsg *o = batch[idx[j]];
            if (o->m.room_id != room)
                continue;
            if (rc) {
                o->status = rc == ERR_NOMEM ? ERR_INTERNAL : ERR_UNAVAILABLE;
                o->m.seq = 0;
            } else {
                o->m.seq = seq++;
            }
        }
    }
    return 0;
}

void redis_seq_assign(struct redis_seq *rs, struct outmsg **batch, const size_t *idx, size_t n,
                      int round)
{
    for (size_t i = 0; i < n; i++) {
        batch[idx[i]]->m.seq = 0;
        batch[idx[i]]->status = 0;
    }
    if (connected(rs)) {
        if (assign_redis(rs, batch, idx, n, round) == 0) {
            rs->mode_redis = 1;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            batch[idx[i]]->m.seq = 0;
            batch[idx[i]]->status = 0;
        }
    }
    if (rs->mode_redis) {
        /* Counters from before Redis took over are stale: start afresh. */
        struct seqgen *fresh = seqgen_new(rs->load, rs->arg, RS_MAX_ROOMS);
        if (fresh) {
            seqgen_free(rs->mem);
            rs->mem = fresh;
            rs->mode_redis = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[idx[i]];
        /* Several relays may write while Redis is away: the hint is only
         * trusted when no Redis is configured (this relay is the writer). */
        int64_t hint = round == 0 && rs->port == 0 ? om->seq_hint : -1;
        int rc = seqgen_next(rs->mem, om->m.room_id, hint, &om->m.seq);
        if (rc) {
            om->m.seq = 0;
            om->status = rc == ERR_NOMEM ? ERR_INTERNAL : ERR_UNAVAILABLE;
        }
    }
}

void redis_seq_collided(struct redis_seq *rs, int64_t room_id)
{
    seqgen_forget(rs->mem, room_id);
    if (rs->port != 0)
        i64map_put(&rs->repair, room_id, (void *) 1); /* ERR_NOMEM: the next collision retries */
}

void redis_seq_publish(struct redis_seq *rs, struct outmsg **batch, size_t n)
{
    if (!connected(rs))
        return;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[i];
        if (om->status != OUTMSG_STORED && om->status != OUTMSG_DUPLICATE)
            continue;
        char *frame = proto_message(&om->m);
        size_t len = 0;
        char *payload =
            frame ? redis_payload_format(rs->origin, om->m.seq, frame, strlen(frame), &len) : NULL;
        free(frame);
        if (!payload)
            continue; /* out of memory: receivers elsewhere catch up by seq */
        char ch[64];
        redis_channel(ch, sizeof ch, om->m.room_id);
        int rc = redisAppendCommand(rs->ctx, "PUBLISH %s %b", ch, payload, len);
        free(payload);
        if (rc != REDIS_OK) {
            fail(rs, "publish");
            return;
        }
        sent++;
    }
    for (size_t i = 0; i < sent; i++) {
        void *reply = NULL;
        if (redisGetReply(rs->ctx, &reply) != REDIS_OK) {
            freeReplyObject(reply);
            fail(rs, "publish");
            return;
        }
        freeReplyObject(reply);
    }
}
