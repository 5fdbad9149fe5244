/*
 * rooms_api.h - POST /api/v1/rooms (find or create the 1:1 room of the
 * caller and a peer) and GET /api/v1/rooms (the caller's rooms, newest
 * first, paged by room id). Served by chat-rooms.
 */
#ifndef CHAT_ROOMS_API_H
#define CHAT_ROOMS_API_H

#include "api.h"

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

/* rooms_api_parse_list: before (a room id, 0 when absent) and limit
 * (1..100, default ROOMS_API_DEFAULT_LIMIT). 0, or -1 after a 400. */
int rooms_api_parse_list(const struct api_req *req, struct api_resp *resp, int64_t *before,
                         int *limit);

#endif
