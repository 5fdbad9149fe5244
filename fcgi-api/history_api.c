/* history_api.c - the history endpoint (see history_api.h). */
#include "history_api.h"
#include "errors.h"
#include "log.h"
#include "msgstore.h"
#include "rooms.h"

#include <stdio.h>

int history_api_parse(const struct api_req *req, struct api_resp *resp,
                      struct history_api_page *page)
{
    int64_t before = 0, after = -1, limit = HISTORY_API_DEFAULT_LIMIT;
    int has_before = api_query_int(req, resp, "before", 1, INT64_MAX, &before);
    if (has_before < 0)
        return -1;
    int has_after = api_query_int(req, resp, "after", 0, INT64_MAX, &after);
    if (has_after < 0)
        return -1;
    if (has_before && has_after) {
        api_resp_error(resp, 400, "bad_request", "give before or after, not both");
        return -1;
    }
    if (api_query_int(req, resp, "limit", 1, HISTORY_API_MAX_LIMIT, &limit) < 0)
        return -1;
    page->before = before;
    page->after = after;
    page->limit = (int) limit;
    return 0;
}

cJSON *history_api_body(const struct history_api_page *page, const struct chat_message *msgs,
                        size_t n, int more)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(body, "messages");
    int ok = body && arr;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *m = chat_message_to_json(&msgs[i]);
        ok = m && cJSON_AddItemToArray(arr, m);
    }
    /* The cursor of the next page: the oldest seq shown when paging back,
     * the newest when paging forward. */
    const char *key = page->after >= 0 ? "nextAfter" : "nextBefore";
    if (ok && more && n)
        ok = cJSON_AddNumberToObject(
                 body, key, (double) (page->after >= 0 ? msgs[n - 1].seq : msgs[0].seq)) != NULL;
    else if (ok)
        ok = cJSON_AddNullToObject(body, key) != NULL;
    if (!ok) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static void get_history(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct history_api_page page;
    struct chat_message *msgs = NULL;
    size_t n = 0;
    int more = 0;
    if (history_api_parse(req, resp, &page) != 0)
        return;
    int rc = rooms_is_member(ctx->db, req->path_id, req->user.id);
    if (rc < 0) {
        log_warn("history_failed", "stage=membership err=%s", err_str(rc));
        api_resp_fail(resp, rc);
        return;
    }
    if (rc == 0) {
        api_resp_error(resp, 404, "not_found", "no such chat room");
        return;
    }
    rc =
        msgstore_page(ctx->ms, req->path_id, page.before, page.after, page.limit, &msgs, &n, &more);
    if (rc != 0) {
        log_warn("history_failed", "stage=messages err=%s", err_str(rc));
        api_resp_fail(resp, rc);
        return;
    }
    api_resp_json(resp, 200, history_api_body(&page, msgs, n, more));
    chat_message_array_free(msgs, n);
}

static int history_init(struct api_ctx *ctx, char *err, size_t errlen)
{
    ctx->ms = msgstore_new(ctx->cfg, err, errlen);
    return ctx->ms ? 0 : -1;
}

static void history_deinit(struct api_ctx *ctx)
{
    msgstore_free(ctx->ms);
    ctx->ms = NULL;
}

static const struct api_route routes[] = {
    {"GET", "/api/v1/chat/{id}", API_AUTH, get_history},
};

const struct api_app history_api_app = {"chat-history", routes, sizeof routes / sizeof routes[0],
                                        history_init, history_deinit};
