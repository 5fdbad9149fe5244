/* token_api.c - the socket-token endpoint (see token_api.h). */
#include "token_api.h"
#include "errors.h"
#include "socket_tokens.h"

#include <stdio.h>
#include <string.h>

int token_api_url(const char *base, const char *token, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%stoken=%s", base, strchr(base, '?') ? "&" : "?", token);
    return n < 0 || (size_t) n >= cap ? ERR_TOO_LARGE : 0;
}

static void issue_token(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    char token[SOCKET_TOKEN_TEXT_LEN];
    char url[CONFIG_STR_MAX + SOCKET_TOKEN_TEXT_LEN + 16];
    int retry_after = 0;
    int rc = socket_token_issue_limited(ctx->db, req->user.id, ctx->cfg->socket_token_ttl,
                                        ctx->cfg->socket_tokens_per_minute, token, &retry_after);
    if (rc == ERR_RATE_LIMITED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", retry_after);
        api_resp_header(resp, "Retry-After", secs);
        api_resp_error(resp, 429, "rate_limited",
                       "at most %d socket tokens a minute; try again in %d s",
                       ctx->cfg->socket_tokens_per_minute, retry_after);
        return;
    }
    if (rc == 0)
        rc = token_api_url(ctx->cfg->public_ws_url, token, url, sizeof url);
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    if (!cJSON_AddStringToObject(body, "token", token) ||
        !cJSON_AddNumberToObject(body, "expiresIn", ctx->cfg->socket_token_ttl) ||
        !cJSON_AddStringToObject(body, "url", url)) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, 201, body);
}

static const struct api_route routes[] = {
    {"POST", "/api/v1/socket-token", API_AUTH, issue_token},
};

const struct api_app token_api_app = {"chat-token", routes, sizeof routes / sizeof routes[0], NULL,
                                      NULL};
