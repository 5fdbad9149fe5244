/*
 * presence.h - who is online, told to the people they talk to.
 *
 * A user is online while at least one of its WebSockets is open on any
 * relay. This relay counts its own (admission.c); with Redis, each relay
 * adds its count to the user's hash in Redis and the sum over the relays
 * that are alive (their heartbeat key exists) decides, in one atomic
 * script, so a change is announced exactly once: by the relay whose
 * connection made the sum leave or reach zero. The announcement is one
 * PRESENCE frame on the users' channel, never one per room, and each relay
 * hands it to the connections here that watch that user (those whose
 * session confirmed a room with that user: presence_watch), so a user with
 * a thousand rooms connecting costs one publish.
 *
 * When the last connection closes, the time is saved as the user's
 * last_seen_at in MySQL; PRESENCE carries it while the user is offline.
 * Loop thread only (the Redis and MySQL calls run as jobs on the writer
 * and SQL workers).
 */
#ifndef RELAY_PRESENCE_H
#define RELAY_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

struct admission;
struct conn;
struct redis_pub;
struct transport;
struct workq;
struct presence;

/* presence_new: everything borrowed. writerq and pub are NULL without
 * Redis (then presence is this relay's alone); publish (may be NULL) sends
 * a frame for a user to the other relays. NULL when out of memory. */
typedef void presence_publish_fn(void *arg, int64_t user_id, const char *frame, size_t len);
struct presence *presence_new(struct transport *t, struct admission *adm, struct workq *sqlq,
                              struct workq *writerq, struct redis_pub *pub,
                              presence_publish_fn *publish, void *publish_arg);
void presence_free(struct presence *p);

/* presence_opened / presence_closing: a WebSocket of user_id opened
 * (already counted by admission) or is closing (still counted). */
void presence_opened(struct presence *p, int64_t user_id);
void presence_closing(struct presence *p, int64_t user_id);

/* presence_watch: c talks to user_id (a room of theirs is confirmed): c
 * gets user_id's PRESENCE now and on every change. presence_unwatch: c is
 * closing; it watched users[0..n-1]. */
void presence_watch(struct presence *p, struct conn *c, int64_t user_id);
void presence_unwatch(struct presence *p, const struct conn *c, const int64_t *users, size_t n);

/* presence_remote: a PRESENCE frame (online or not) another relay
 * announced for user_id; frame borrowed. A watcher told that state last
 * is not told again. */
void presence_remote(struct presence *p, int64_t user_id, int online, const char *frame,
                     size_t len);

/* presence_heartbeat: call every few seconds: this relay is alive (Redis). */
void presence_heartbeat(struct presence *p);

#endif
