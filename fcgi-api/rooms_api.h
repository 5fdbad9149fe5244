/*
 * rooms_api.h - POST /api/v1/rooms (find or create the 1:1 room of the
 * caller and a peer), GET /api/v1/rooms (the caller's rooms with unread
 * counts and last message, most recently active first, paged by cursor)
 * and POST /api/v1/rooms/{id}/read (move the caller's read watermark).
 * Served by chat-rooms.
 */
#ifndef CHAT_ROOMS_API_H
#define CHAT_ROOMS_API_H

#include "api.h"
#include "rooms.h"

#define ROOMS_API_DEFAULT_LIMIT 50

extern const struct api_app rooms_api_app;

/* The peer named by a create request: exactly one of the two is set. */
struct rooms_api_peer {
    int64_t id;       /* peerUserId, or 0 */
    const char *name; /* peerUsername (borrowed from the request), or NULL */
};

/* rooms_api_parse_create: the peer of a create request. 0, or -1 after a
 * 400 naming the field. */
int rooms_api_parse_create(const struct api_req *req, struct api_resp *resp,
                           struct rooms_api_peer *peer);

/* rooms_api_parse_list: the page cursor ("<activity ms>.<room id>" as
 * handed out in nextCursor; *has_cursor 0 when absent) and limit (1..100,
 * default ROOMS_API_DEFAULT_LIMIT). 0, or -1 after a 400. */
int rooms_api_parse_list(const struct api_req *req, struct api_resp *resp,
                         struct room_cursor *cursor, int *has_cursor, int *limit);

/* rooms_api_parse_read: the seq of POST /rooms/{id}/read ({"seq": n}, a
 * whole number >= 1). 0, or -1 after a 400. */
int rooms_api_parse_read(const struct api_req *req, struct api_resp *resp, int64_t *seq);

#endif
