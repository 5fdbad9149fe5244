/*
 * redis_seq.h - where the writer thread gets a batch's seqs when several
 * relays write to the same rooms, and where it publishes what it stored.
 *
 * With Redis (redis_url set): one counter key per room ("chat:seq:<id>"),
 * reserved with one INCRBY per room per batch (a Lua script, so a missing
 * key is reported instead of silently starting at 0). A missing key is
 * initialised from the room's highest stored seq (the loop's hint first,
 * else a MongoDB query), only ever raised, never lowered. After a
 * collision on the unique index {chatRoomId, seq} the room is "repaired":
 * the next reservation raises the key to the stored maximum first (Redis
 * restarted empty, or seqs were handed out in memory while it was down).
 *
 * Without Redis, or while it is unreachable: the in-memory counters of
 * seqgen.h, reset at every switch so none is stale, with the unique index
 * as the backstop (collision -> reload -> retry). A lost connection is
 * retried with backoff (100 ms doubling to 5 s), so a dead Redis costs one
 * failed attempt per backoff period, not one per batch.
 *
 * After the insert, redis_seq_publish sends every stored (or found
 * duplicate) message to its room's channel in one pipeline.
 *
 * Writer thread only, except redis_seq_up / redis_seq_errors, which any
 * thread may read.
 */
#ifndef RELAY_REDIS_SEQ_H
#define RELAY_REDIS_SEQ_H

#include "seqgen.h"

#include <stddef.h>
#include <stdint.h>

struct outmsg;
struct redis_seq;

/* redis_seq_new: host NULL = no Redis (in-memory counters only). load/arg
 * read a room's highest stored seq (borrowed). origin tags published
 * payloads so the publishing relay can skip its own. NULL when out of
 * memory. Does not connect yet. */
struct redis_seq *redis_seq_new(const char *host, int port, uint64_t origin, seqgen_load_fn *load,
                                void *arg);
void redis_seq_free(struct redis_seq *rs);

/* redis_seq_assign: give batch[idx[0..n-1]] their seqs (om->m.seq), room
 * by room in idx order, using om->seq_hint on round 0. A message that
 * cannot get one has om->m.seq = 0 and om->status set (ERR_UNAVAILABLE
 * when neither Redis nor MongoDB could tell the room's last seq,
 * ERR_INTERNAL when out of memory). */
void redis_seq_assign(struct redis_seq *rs, struct outmsg **batch, const size_t *idx, size_t n,
                      int round);

/* redis_seq_collided: the insert of a seq of room_id hit the unique index
 * and it was not an idempotent retry: repair before the next assignment. */
void redis_seq_collided(struct redis_seq *rs, int64_t room_id);

/* redis_seq_publish: publish batch[0..n-1] whose status is stored or
 * duplicate. Best effort: a failure counts as an error and marks Redis
 * down; receivers elsewhere catch up through `since`/gap fetches. */
void redis_seq_publish(struct redis_seq *rs, struct outmsg **batch, size_t n);

/* redis_seq_kick: Redis answers again (the subscriber reconnected): the
 * writer's next batch tries at once instead of waiting out its backoff.
 * Any thread. */
void redis_seq_kick(struct redis_seq *rs);

/* 1 when the last Redis command of the writer succeeded (0 without Redis). */
int redis_seq_up(const struct redis_seq *rs);

/* Failed Redis commands and connects so far (writer side). */
uint64_t redis_seq_errors(const struct redis_seq *rs);

#endif
