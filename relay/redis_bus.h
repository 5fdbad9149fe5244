/*
 * redis_bus.h - the relay's Redis pub/sub subscriber, driven by the relay's
 * own ev loop through hiredis's async API (docs/operations.md, "Scaling out").
 *
 * One channel per room ("chat:room:<id>"). The relay says which rooms it
 * wants (a local connection has ENTERed them); the bus keeps that set
 * subscribed across disconnects, reconnecting with backoff. A room that is
 * no longer wanted is unsubscribed after a short grace, and never is a
 * SUBSCRIBE sent while that channel's UNSUBSCRIBE is still unanswered, so
 * a quick leave-and-enter (a page reconnecting) cannot lose the channel.
 *
 * Publishing is not done here: a subscribed connection cannot publish, and
 * the writer thread publishes right after MongoDB accepted a batch (see
 * redis_pub.h). The payload format is shared: redis_payload_format/parse.
 *
 * Loop thread only. The bus never logs; state changes reach the caller
 * through the callbacks.
 */
#ifndef RELAY_REDIS_BUS_H
#define RELAY_REDIS_BUS_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct redis_bus;

#define REDIS_HOST_MAX 256

/* The users' channel: frames for one user (ROOM, PRESENCE), on the channel
 * of this pseudo-room, far above every room id (ids stay below 2^53). */
#define REDIS_USERS_ROOM ((int64_t) 1 << 62)

/* redis_url_parse: "redis://host[:port][/db]" (port default 6379; the db
 * number is ignored: pub/sub needs none). Returns 0 or
 * ERR_INVALID. */
int redis_url_parse(const char *url, char host[REDIS_HOST_MAX], int *port);

/* The channel of a room, into buf. */
void redis_channel(char *buf, size_t cap, int64_t room_id);

/* redis_payload_format: the published form of a stored message:
 * "<origin hex>:<seq>:<MESSAGE frame>"; seq 0 marks a frame that is no
 * stored message (READ, TYPING), delivered as it comes. malloc'd (caller frees; *len set),
 * NULL when out of memory. */
char *redis_payload_format(uint64_t origin, int64_t seq, const char *frame, size_t frame_len,
                           size_t *len);

/* redis_room_notice_room: the room of a ROOM frame written by proto.c
 * ({"type":"ROOM","chatRoomId":<digits>,...), read without a JSON parse:
 * every relay receives every ROOM notice on the users' channel, one per
 * stored message. 0 with *room set; ERR_INVALID for any other frame or
 * spelling (the caller parses those fully). */
int redis_room_notice_room(const char *frame, size_t len, int64_t *room);

/* redis_payload_parse: split a payload; *frame points into payload
 * (borrowed). Returns 0 or ERR_INVALID. */
int redis_payload_parse(const char *payload, size_t len, uint64_t *origin, int64_t *seq,
                        const char **frame, size_t *frame_len);

struct redis_bus_events {
    /* A message on a room's channel (any origin, this relay's own too). */
    void (*message)(void *arg, int64_t room_id, const char *payload, size_t len);
    /* Connected and every wanted room re-subscribed: messages published
     * while the bus was down were missed and should be fetched. */
    void (*up)(void *arg);
    /* Redis confirmed the subscription of room_id's channel: anything
     * published before is not coming; fetch what a lookup may have missed. */
    void (*subscribed)(void *arg, int64_t room_id);
    /* The connection failed or was lost; why is a static or hiredis
     * string valid during the call. */
    void (*down)(void *arg, const char *why);
};

/* redis_bus_new: connect (asynchronously) to host:port. ev and arg are
 * borrowed for the bus's life. NULL when out of memory. */
struct redis_bus *redis_bus_new(struct ev_loop *loop, const char *host, int port,
                                const struct redis_bus_events *ev, void *arg);

/* redis_bus_free: disconnect and free; NULL is a no-op. */
void redis_bus_free(struct redis_bus *b);

/* redis_bus_want: subscribe to room_id's channel (now, or once connected).
 * Returns 0 or ERR_NOMEM. */
int redis_bus_want(struct redis_bus *b, int64_t room_id);

/* redis_bus_unwant: room_id has no local member any more: unsubscribe
 * after the grace period unless it is wanted again. */
void redis_bus_unwant(struct redis_bus *b, int64_t room_id);

/* redis_bus_up: 1 when connected with every wanted room subscribed. */
int redis_bus_up(const struct redis_bus *b);

/* redis_bus_subscribed: channels subscribed now (for /metrics). */
size_t redis_bus_subscribed(const struct redis_bus *b);

#endif
