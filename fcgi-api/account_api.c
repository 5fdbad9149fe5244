/* account_api.c - the account endpoints (see account_api.h). */
#include "account_api.h"
#include "errors.h"
#include "jwt.h"
#include "log.h"

#include <time.h>

#define NAME_RULE "username must be 1 to 32 characters of A-Z a-z 0-9 _ . -"

static cJSON *user_body(const struct user *u)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *ju = users_to_json(u);
    if (!body || !ju || !cJSON_AddItemToObject(body, "user", ju)) {
        cJSON_Delete(ju);
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static void get_me(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void) ctx;
    api_resp_json(resp, 200, user_body(&req->user));
}

int account_api_parse_login(const struct api_req *req, struct api_resp *resp, const char **username)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->json, "username");
    if (!cJSON_IsString(v) || !users_name_valid(v->valuestring)) {
        api_resp_error(resp, 400, "bad_request", NAME_RULE);
        return -1;
    }
    *username = v->valuestring;
    return 0;
}

static void dev_login(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const char *name;
    struct user u;
    int created = 0;
    char jwt[JWT_MAX_LEN];
    if (account_api_parse_login(req, resp, &name) != 0)
        return;
    int rc = users_find_or_create(ctx->db, name, &u, &created);
    if (rc == ERR_INVALID) {
        api_resp_error(resp, 400, "bad_request", NAME_RULE);
        return;
    }
    if (rc == 0)
        rc = jwt_sign(ctx->cfg, u.id, (int64_t) time(NULL), jwt, sizeof jwt);
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return;
    }
    log_info("dev_login", "user=%lld created=%d", (long long) u.id, created);
    cJSON *body = user_body(&u);
    if (body && !cJSON_AddStringToObject(body, "token", jwt)) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_resp_json(resp, 200, body);
}

static const struct api_route routes[] = {
    {"GET", "/api/v1/me", API_AUTH, get_me},
    {"POST", "/api/v1/dev/login", API_JSON | API_DEV_ONLY, dev_login},
};

const struct api_app account_api_app = {"chat-account", routes, sizeof routes / sizeof routes[0],
                                        NULL, NULL};
