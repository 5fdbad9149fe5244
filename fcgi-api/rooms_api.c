/* rooms_api.c - the rooms endpoints (see rooms_api.h). */
#include "rooms_api.h"
#include "errors.h"
#include "log.h"
#include "room_state.h"
#include "rooms.h"

#include <stdio.h>
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

int rooms_api_parse_list(const struct api_req *req, struct api_resp *resp,
                         struct room_cursor *cursor, int *has_cursor, int *limit)
{
    int64_t pair[2] = {0, 0}, l = ROOMS_API_DEFAULT_LIMIT;
    int has = api_query_pair(req, resp, "cursor", pair);
    if (has < 0 || api_query_int(req, resp, "limit", 1, ROOMS_PAGE_MAX, &l) < 0)
        return -1;
    cursor->activity_ms = pair[0];
    cursor->id = pair[1];
    *has_cursor = has;
    *limit = (int) l;
    return 0;
}

int rooms_api_parse_read(const struct api_req *req, struct api_resp *resp, int64_t *seq)
{
    int rc = api_body_id(req, resp, "seq", seq);
    if (rc == 0)
        api_resp_error(resp, 400, "bad_request", "seq is required");
    return rc == 1 ? 0 : -1;
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
    struct room_cursor cursor;
    int has_cursor, limit;
    size_t n = 0;
    int more = 0;
    if (rooms_api_parse_list(req, resp, &cursor, &has_cursor, &limit) != 0)
        return;
    struct room *rooms = calloc((size_t) limit, sizeof *rooms);
    if (!rooms) {
        api_resp_fail(resp, ERR_NOMEM);
        return;
    }
    int rc =
        rooms_list(ctx->db, req->user.id, has_cursor ? &cursor : NULL, limit, rooms, &n, &more);
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
    if (ok && more && n) {
        char next[48];
        snprintf(next, sizeof next, "%lld.%lld", (long long) rooms[n - 1].view.last_activity_ms,
                 (long long) rooms[n - 1].id);
        ok = cJSON_AddStringToObject(body, "nextCursor", next) != NULL;
    } else if (ok) {
        ok = cJSON_AddNullToObject(body, "nextCursor") != NULL;
    }
    if (!ok) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, 200, body);
out:
    free(rooms);
}

/* mark_read: the caller has read the room up to seq (forward only). */
static void mark_read(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    int64_t seq = 0, read = 0;
    if (rooms_api_parse_read(req, resp, &seq) != 0)
        return;
    int rc = room_state_mark_read(ctx->db, req->path_id, req->user.id, seq, &read, NULL);
    if (rc == ERR_NOT_FOUND) {
        api_resp_error(resp, 404, "not_found", "no such room");
        return;
    }
    if (rc == ERR_INVALID) {
        api_resp_error(resp, 400, "seq_out_of_range", "seq is beyond the room's last message");
        return;
    }
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    if (body && (!cJSON_AddNumberToObject(body, "chatRoomId", (double) req->path_id) ||
                 !cJSON_AddNumberToObject(body, "lastReadSeq", (double) read))) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, 200, body);
}

static const struct api_route routes[] = {
    {"POST", "/api/v1/rooms", API_AUTH | API_JSON, create_room},
    {"GET", "/api/v1/rooms", API_AUTH, list_rooms},
    {"POST", "/api/v1/rooms/{id}/read", API_AUTH | API_JSON, mark_read},
};

const struct api_app rooms_api_app = {"chat-rooms", routes, sizeof routes / sizeof routes[0], NULL,
                                      NULL};
