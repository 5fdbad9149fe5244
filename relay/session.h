/*
 * session.h - the chat protocol of each open WebSocket (docs/protocol.md):
 * ENTER/LEAVE/TEXT/IMAGE in; ENTERED/LEFT/ACK/MESSAGE/ERROR out.
 *
 * A connection's commands are handled in the order they arrived: when one
 * needs a membership answer from MySQL, the connection's later commands
 * wait in its inbox until it comes (so a TEXT never overtakes the ENTER
 * before it). Once confirmed, membership is cached for the connection's
 * lifetime, so steady chatting costs no MySQL round trip and keeps working
 * while MySQL is down. TEXT and IMAGE go to the writer; the sender's ACK
 * or ERROR and the delivery (fanout.c) follow the batch's result.
 *
 * A session is allocated by session_open and freed by session_close; it
 * hangs off conn->session in between. Loop thread only.
 */
#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H

#include "batch.h"
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define SESSION_INBOX_MAX     256 /* commands waiting behind a membership check */
#define SESSION_ENTER_RATE    20  /* ENTERs per second per connection, on average */
#define SESSION_STATE_RATE    5   /* READ and TYPING per second per connection, on average */
#define SESSION_STATE_BURST   20
#define SESSION_TYPING_TTL_MS 5000 /* a TYPING shows this long unless repeated */

struct conn;
struct fanout;
struct metrics;
struct transport;
struct workq;
struct writer;

struct sessions;

/* sessions_new: every pointer is borrowed. sqlq checks membership (its
 * threads' context is a struct sqldb *, or NULL). NULL when out of memory. */
struct sessions *sessions_new(const struct config *cfg, struct transport *t, struct writer *writer,
                              struct fanout *fo, struct workq *sqlq, struct metrics *metrics);
void sessions_free(struct sessions *ss);

/* sessions_set_membership: check membership with is_member (on a SQL
 * worker, sql_ctx its struct sqldb * or NULL; returns 1, 0 or an ERR_*)
 * instead of MySQL's rooms table (tests). */
typedef int session_member_fn(void *sql_ctx, int64_t room_id, int64_t user_id, int64_t *peer);
void sessions_set_membership(struct sessions *ss, session_member_fn *is_member);

/* sessions_set_publisher: how READ and TYPING frames reach the other
 * relays (room_id's channel), and frames for one user (ROOM, PRESENCE) the
 * relays where that user may be connected; without them they stay here. */
typedef void session_publish_fn(void *arg, int64_t room_id, const char *frame, size_t len);
typedef void session_publish_user_fn(void *arg, int64_t user_id, const char *frame, size_t len);
void sessions_set_publisher(struct sessions *ss, session_publish_fn *publish,
                            session_publish_user_fn *publish_user, void *arg);

/* sessions_set_presence: tell p which users each connection talks to
 * (borrowed; NULL: nobody is told of presence). */
struct presence;
void sessions_set_presence(struct sessions *ss, struct presence *p);

/* session_room_empty: c ENTERed a room with no message yet: its other
 * member hears of it (ROOM with lastSeq 0), here and on other relays. */
void session_room_empty(struct sessions *ss, struct conn *c, int64_t room_id);

/* sessions_notify_user: a ROOM frame for user_id's connections here that
 * have not ENTERed room_id (those get the MESSAGE itself). frame borrowed. */
void sessions_notify_user(struct sessions *ss, int64_t user_id, int64_t room_id, const char *frame,
                          size_t len);

/* sessions_stop: shutting down: TEXT and IMAGE are refused from now on. */
void sessions_stop(struct sessions *ss);

/* session_open: c became a WebSocket: give it a session (out of memory:
 * c is closed with 1011). */
void session_open(struct sessions *ss, struct conn *c);

/* session_text: one text frame of c (borrowed). */
void session_text(struct sessions *ss, struct conn *c, const char *text, size_t len);

/* session_close: c is being freed: leave every room, drop queued
 * commands, free the session. */
void session_close(struct sessions *ss, struct conn *c);

/* session_write_done: writer_events.batch_done: deliver what was stored
 * (each room in seq order) and answer each sender (in the order it sent). */
void session_write_done(struct sessions *ss, struct outmsg **batch, size_t n);

/* session_write_failed: writer_events.failed: the sender gets an ERROR. */
void session_write_failed(struct sessions *ss, struct outmsg *om, const char *why);

#endif
