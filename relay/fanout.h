/*
 * fanout.h - delivery of stored messages to the connections that ENTERed
 * their room: the room map, the ENTER lookup (the room's last seq, then a
 * `since` replay merged with live delivery), MESSAGE frames in seq order,
 * and with Redis (several relays) the messages of other relays, the gap
 * timers that fetch a missing seq from MongoDB, and the resync after
 * Redis comes back. It also keeps the per-room last seq this relay has
 * seen stored.
 *
 * A connection takes part through a struct fanout_member its session
 * owns (fanout_join at open, fanout_part before it is freed); jobs carry
 * the connection id and find the member again, so a member gone meanwhile
 * is simply not found. Loop thread only.
 */
#ifndef RELAY_FANOUT_H
#define RELAY_FANOUT_H

#include "chat_message.h"
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define FANOUT_REPLAY_PAGE     200  /* messages per replay query */
#define FANOUT_REPLAY_MAX_HELD 1000 /* live messages held per replaying subscription */

struct conn;
struct ev_loop;
struct lastseq;
struct metrics;
struct msgstore;
struct redis_bus;
struct sub;
struct transport;
struct workq;

/* One connection's rooms (at most cfg->max_rooms_per_conn). */
struct fanout_member {
    struct conn *conn;
    struct sub **subs;
    size_t nsubs;
};

/* Where lookups read (on the workers). The default reads MySQL (sql_ctx:
 * the SQL thread's struct sqldb *, NULL when it has none) and the message
 * store (store_arg: the struct msgstore *); tests give their own. Each
 * returns 0 or an ERR_*, like room_seq_last, msgstore_last_seq and
 * msgstore_page. */
struct fanout_source {
    int (*last_seq)(void *sql_ctx, int64_t room_id, int64_t *last);
    int (*store_last_seq)(void *store_arg, int64_t room_id, int64_t *last);
    int (*page)(void *store_arg, int64_t room_id, int64_t after, size_t limit,
                struct chat_message **msgs, size_t *n, int *more);
};

struct fanout;

/* fanout_new: every pointer is borrowed; bus is NULL without Redis. sqlq
 * threads' context is a struct sqldb * (or NULL); mongoq's is unused.
 * NULL when out of memory. */
struct fanout *fanout_new(const struct config *cfg, struct ev_loop *loop, struct transport *t,
                          struct workq *sqlq, struct workq *mongoq, struct msgstore *store,
                          struct metrics *metrics, struct lastseq *lastseq, struct redis_bus *bus);
/* fanout_set_source: read through src (borrowed) with store_arg instead. */
void fanout_set_source(struct fanout *fo, const struct fanout_source *src, void *store_arg);

/* fanout_set_on_empty: call on_empty(arg, c, room_id) when c ENTERed a
 * room that holds no message yet (ENTERED said lastSeq 0): a room just
 * made, that its other member should hear of. */
typedef void fanout_empty_fn(void *arg, struct conn *c, int64_t room_id);
void fanout_set_on_empty(struct fanout *fo, fanout_empty_fn *on_empty, void *arg);

/* fanout_free: every member must have parted. NULL is fine. */
void fanout_free(struct fanout *fo);

/* fanout_join: fm (zeroed by the caller) takes part for c. 0 or ERR_NOMEM. */
int fanout_join(struct fanout *fo, struct fanout_member *fm, struct conn *c);

/* fanout_part: leave every room and stop taking part. */
void fanout_part(struct fanout *fo, struct fanout_member *fm);

/* fanout_entered: 1 when fm has ENTERed room_id. */
int fanout_entered(const struct fanout_member *fm, int64_t room_id);

/* fanout_enter: (re)subscribe fm to room_id (membership is checked) and
 * look it up: ENTERED follows, then the replay after `since` (-1: none).
 * Returns 0, or ERR_NOMEM (nothing changed; the caller answers). */
int fanout_enter(struct fanout *fo, struct fanout_member *fm, int64_t room_id, int64_t since);

/* fanout_leave: unsubscribe fm from room_id (no-op when not in it). */
void fanout_leave(struct fanout *fo, struct fanout_member *fm, int64_t room_id);

/* fanout_stored: m was stored (or found stored): remember its seq and
 * send it to every subscription of its room but the sender's (NULL: none
 * is), in seq order per subscription. */
void fanout_stored(struct fanout *fo, const struct chat_message *m, const struct conn *sender);

/* fanout_event: a frame that is no stored message (READ, TYPING) to
 * every connection that ENTERed room_id but `except` (NULL: none), as it
 * comes: such frames carry no seq and are never replayed. frame borrowed. */
void fanout_event(struct fanout *fo, int64_t room_id, const char *frame, size_t len,
                  const struct conn *except);

/* fanout_remote: a message another relay stored (via Redis); frame is
 * borrowed for the call. */
void fanout_remote(struct fanout *fo, int64_t room_id, int64_t seq, const char *frame, size_t len);

/* fanout_resync: Redis is back: fetch what every subscription may have
 * missed while it was away. */
void fanout_resync(struct fanout *fo);

/* fanout_room_subscribed: the room's channel is live now: fetch what was
 * stored between each subscription's lookup and this moment. */
void fanout_room_subscribed(struct fanout *fo, int64_t room_id);

/* fanout_rooms: rooms with at least one local subscription;
 * fanout_gap_fetches: seq gaps (or outages) closed from MongoDB so far. */
size_t fanout_rooms(const struct fanout *fo);
uint64_t fanout_gap_fetches(const struct fanout *fo);

#endif
