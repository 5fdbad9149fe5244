/* rooms_api.c - the rooms endpoints (see rooms_api.h). */
#include "rooms_api.h"
#include "errors.h"
#include "log.h"
#include "rooms.h"

#include <stdlib.h>

int rooms_api_parse_create(const struct api_req *req, struct api_resp *resp,
                           struct rooms_api_peer *peer)
{
    peer->id = 0;
    peer->name = NULL;
    int has_id = api_body_id(req, resp, "peerUserId", &peer->id);
    if (has_id < 0)
        return -1;
    /* Any string may be looked up; only the length is bounded here. */
    int has_name = api_body_string(req, resp, "peerUsername", USER_NAME_BUF - 1, &peer->name);
    if (has_name < 0)
        return -1;
    if (has_id && has_name) {
        api_resp_error(resp, 400, "bad_request", "give peerUserId or peerUsername, not both");
        return -1;
    }
    if (!has_id && !has_name) {
        api_resp_error(resp, 400, "bad_request", "peerUserId or peerUsername is required");
        return -1;
    }
    return 0;
}

int rooms_api_parse_list(const struct api_req *req, struct api_resp *resp, int64_t *before,
                         int *limit)
{
    int64_t b = 0, l = ROOMS_API_DEFAULT_LIMIT;
    if (api_query_int(req, resp, "before", 1, INT64_MAX, &b) < 0 ||
        api_query_int(req, resp, "limit", 1, ROOMS_PAGE_MAX, &l) < 0)
        return -1;
    *before = b;
    *limit = (int) l;
    return 0;
}

static void create_room(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct rooms_api_peer p;
    struct user peer;
    struct room room;
    int created = 0;
    if (rooms_api_parse_create(req, resp, &p) != 0)
        return;
    int rc = p.name ? users_find_by_name(ctx->db, p.name, &peer)
                    : users_find_by_id(ctx->db, p.id, &peer);
    if (rc == ERR_NOT_FOUND) {
        api_resp_error(resp, 404, "user_not_found", "no user with that %s",
                       p.name ? "peerUsername" : "peerUserId");
        return;
    }
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return;
    }
    if (peer.id == req->user.id) {
        api_resp_error(resp, 400, "bad_request",
                       "a room needs two different users: the peer "
                       "is the caller");
        return;
    }
    rc = rooms_find_or_create(ctx->db, req->user.id, peer.id, &room, &created);
    if (rc == ERR_NOT_FOUND) { /* the peer was deleted meanwhile */
        api_resp_error(resp, 404, "user_not_found", "no such user");
        return;
    }
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return;
    }
    if (created)
        log_info("room_created", "room=%lld by=%lld peer=%lld", (long long) room.id,
                 (long long) req->user.id, (long long) peer.id);
    cJSON *body = cJSON_CreateObject();
    cJSON *r = rooms_to_json(&room);
    if (!body || !r || !cJSON_AddItemToObject(body, "room", r)) {
        cJSON_Delete(r);
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, created ? 201 : 200, body);
}

static void list_rooms(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    int64_t before;
    int limit;
    size_t n = 0;
    int more = 0;
    if (rooms_api_parse_list(req, resp, &before, &limit) != 0)
        return;
    struct room *rooms = calloc((size_t) limit, sizeof *rooms);
    if (!rooms) {
        api_resp_fail(resp, ERR_NOMEM);
        return;
    }
    int rc = rooms_list(ctx->db, req->user.id, before, limit, rooms, &n, &more);
    if (rc != 0) {
        api_resp_fail(resp, rc);
        goto out;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(body, "rooms");
    int ok = body && arr;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *r = rooms_to_json(&rooms[i]);
        ok = r && cJSON_AddItemToArray(arr, r);
    }
    ok = ok && (more && n ? cJSON_AddNumberToObject(body, "nextBefore", (double) rooms[n - 1].id)
                          : cJSON_AddNullToObject(body, "nextBefore")) != NULL;
    if (!ok) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, 200, body);
out:
    free(rooms);
}

static const struct api_route routes[] = {
    {"POST", "/api/v1/rooms", API_AUTH | API_JSON, create_room},
    {"GET", "/api/v1/rooms", API_AUTH, list_rooms},
};

const struct api_app rooms_api_app = {"chat-rooms", routes, sizeof routes / sizeof routes[0], NULL,
                                      NULL};
