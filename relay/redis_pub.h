/*
 * redis_pub.h - the writer thread's side of scale-out: it publishes every
 * message it stored (or found already stored) to the room's Redis channel,
 * so that relays with members of the room deliver it (redis_bus.h is the
 * subscriber on the loop thread). Seqs do not come from Redis: see
 * seqalloc.h.
 *
 * Best effort: a failure drops the connection and is retried with backoff
 * (100 ms doubling to 5 s); receivers elsewhere recover what they missed
 * through `since` and gap fetches.
 *
 * Writer thread only, except redis_pub_up / redis_pub_errors /
 * redis_pub_kick, which any thread may call.
 */
#ifndef RELAY_REDIS_PUB_H
#define RELAY_REDIS_PUB_H

#include "chat_message.h"

#include <stddef.h>
#include <stdint.h>

struct redis_pub;

/* redis_pub_new: host NULL = no Redis (every call is a no-op). origin tags
 * published payloads so the publishing relay can skip its own. NULL when
 * out of memory. Does not connect yet. */
struct redis_pub *redis_pub_new(const char *host, int port, uint64_t origin);
void redis_pub_free(struct redis_pub *rp);

/* redis_pub_send: publish msgs[0..n-1] (borrowed) in one pipeline. */
void redis_pub_send(struct redis_pub *rp, const struct chat_message *const *msgs, size_t n);

/* A frame that is no stored message. user_id == 0: for room_id's channel
 * (READ, TYPING), with seq 0 so receivers deliver it as it comes.
 * user_id > 0: for that user (ROOM, PRESENCE) on the users' channel, which
 * every relay subscribes to, the user id in the payload's number
 * (REDIS_USERS_ROOM's channel); room_id unused. */
struct redis_event {
    int64_t room_id;
    int64_t user_id;
    const char *frame; /* len bytes, borrowed */
    size_t len;
};

/* redis_pub_events: publish ev[0..n-1] in one pipeline (one round trip
 * for all of them, not one each). Best effort: lost while Redis is away. */
void redis_pub_events(struct redis_pub *rp, const struct redis_event *ev, size_t n);

/* redis_pub_presence: add delta (+1, -1, or 0 to ask) to this relay's count
 * of user_id's connections, and count them over every relay that is alive
 * (its heartbeat key exists), atomically (one Lua script). 0 with *total
 * set, or ERR_UNAVAILABLE. redis_pub_heartbeat: this relay is alive for
 * REDIS_PRESENCE_TTL seconds more. */
#define REDIS_PRESENCE_TTL 30
int redis_pub_presence(struct redis_pub *rp, int64_t user_id, int delta, long long *total);
void redis_pub_heartbeat(struct redis_pub *rp);

/* redis_pub_kick: Redis answers again (the subscriber reconnected): the
 * next publish tries at once instead of waiting out its backoff. */
void redis_pub_kick(struct redis_pub *rp);

/* 1 when the last Redis command of the writer succeeded (0 without Redis). */
int redis_pub_up(const struct redis_pub *rp);

/* Failed Redis commands and connects so far (writer side). */
uint64_t redis_pub_errors(const struct redis_pub *rp);

#endif
