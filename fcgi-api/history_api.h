/*
 * history_api.h - GET /api/v1/chat/<roomId>: one page of a room's message
 * history from MongoDB, for members only. Served by chat-history.
 *
 * Membership is checked in MySQL before MongoDB is touched; a room the
 * caller is not a member of gets exactly the answer of a room that does not
 * exist (404 not_found), so nothing about other rooms leaks.
 */
#ifndef CHAT_HISTORY_API_H
#define CHAT_HISTORY_API_H

#include "api.h"
#include "chat_message.h"

#define HISTORY_API_DEFAULT_LIMIT 50
#define HISTORY_API_MAX_LIMIT     100

extern const struct api_app history_api_app;

struct history_api_page {
    int64_t before; /* seq; 0: the newest page */
    int64_t after;  /* seq; -1: page backwards (before) instead */
    int limit;      /* 1..HISTORY_API_MAX_LIMIT */
};

/* history_api_parse: before | after (not both) and limit from the query.
 * 0, or -1 after a 400 naming the parameter. */
int history_api_parse(const struct api_req *req, struct api_resp *resp,
                      struct history_api_page *page);

/* history_api_body: {"messages":[...], "nextBefore"|"nextAfter": seq|null}
 * for n messages (oldest first) of a page asked for as `page`; `more` says
 * whether another page exists in that direction. Caller owns the result;
 * NULL when out of memory. */
cJSON *history_api_body(const struct history_api_page *page, const struct chat_message *msgs,
                        size_t n, int more);

#endif
