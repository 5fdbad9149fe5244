/*
 * fuzz_api.c - the API core (api_handle): CGI variables and a body from a
 * client, through request parsing, routing, the generic checks, the
 * parameter helpers and the rendered answer. No FastCGI, no database
 * (ctx.db NULL answers 503 after a valid token, as in check_api_core).
 *
 * Input: newline-separated fields REQUEST_METHOD, REQUEST_URI,
 * QUERY_STRING, CONTENT_TYPE, HTTP_AUTHORIZATION, CONTENT_LENGTH and
 * PATH_INFO (an empty field leaves the variable out), then the body. The
 * body is read through the core's reader from a heap block of its exact
 * size. Properties: every request is answered with a status from 200 to
 * 599, an error answer carries {"error":{"code":...}}, and the rendered
 * CGI response starts with its Status line.
 */
#include "api.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void h_list(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    int64_t before = 0, limit = 0;
    if (api_query_int(req, r, "before", 1, INT64_MAX, &before) < 0 ||
        api_query_int(req, r, "limit", 1, 100, &limit) < 0)
        return;
    api_resp_header(r, "X-Fuzz", "list");
    api_resp_json(r, 200, cJSON_CreateObject());
}

static void h_create(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    int64_t id = 0;
    const char *name = NULL;
    if (api_body_id(req, r, "peerId", &id) < 0 || api_body_string(req, r, "name", 64, &name) < 0)
        return;
    api_resp_json(r, 201, cJSON_CreateObject());
}

static void h_item(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    FUZZ_CHECK(req->path_id > 0);
    api_resp_json(r, 200, cJSON_CreateObject());
}

static void h_silent(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    (void) req;
    (void) r;
}

static const struct api_route routes[] = {
    {"GET", "/api/v1/rooms", API_AUTH, h_list},
    {"GET", "/api/v1/open", 0, h_list},
    {"POST", "/api/v1/rooms", API_JSON, h_create},
    {"POST", "/api/v1/auth", API_AUTH | API_JSON, h_create},
    {"GET", "/api/v1/rooms/{id}", 0, h_item},
    {"DELETE", "/api/v1/rooms/{id}", 0, h_item},
    {"GET", "/api/v1/rooms/{id}/messages", 0, h_list},
    {"POST", "/api/v1/dev/login", API_JSON | API_DEV_ONLY, h_create},
    {"GET", "/api/v1/silent", 0, h_silent},
};

static const struct api_app app = {"fuzz", routes, sizeof routes / sizeof routes[0], NULL, NULL};

struct body {
    const char *data;
    size_t len, off;
};

static long body_read(void *arg, char *buf, size_t n)
{
    struct body *b = arg;
    size_t left = b->len - b->off;
    if (n > left)
        n = left;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    return (long) n;
}

static const char *const vars[] = {"REQUEST_METHOD", "REQUEST_URI",        "QUERY_STRING",
                                   "CONTENT_TYPE",   "HTTP_AUTHORIZATION", "CONTENT_LENGTH",
                                   "PATH_INFO"};
#define NVARS (sizeof vars / sizeof vars[0])

int fuzz_api_one(const uint8_t *data, size_t size)
{
    static struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    memcpy(cfg.jwt_secret, "fuzz-secret-0123456789abcdef-0123456789",
           sizeof "fuzz-secret-0123456789abcdef-0123456789");
    cfg.jwt_ttl = 600;
    cfg.max_body_bytes = 4096;
    cfg.dev_login = 1;
    struct api_ctx ctx = {&cfg, NULL, NULL, NULL};

    char *env[NVARS + 2] = {NULL};
    size_t nenv = 0, off = 0;
    for (size_t i = 0; i < NVARS; i++) {
        const uint8_t *nl = off < size ? memchr(data + off, '\n', size - off) : NULL;
        size_t flen = nl ? (size_t) (nl - (data + off)) : size - off;
        if (flen > 0) {
            size_t cap = strlen(vars[i]) + flen + 2;
            char *e = malloc(cap);
            if (!e)
                goto out;
            snprintf(e, cap, "%s=%.*s", vars[i], (int) flen, (const char *) data + off);
            env[nenv++] = e;
        }
        off += flen + (nl != NULL);
    }
    env[nenv++] = strdup("SCRIPT_NAME=/api/v1");
    struct body b = {NULL, size - off, 0};
    char *body = malloc(b.len ? b.len : 1);
    if (!body || !env[nenv - 1]) {
        free(body);
        goto out;
    }
    if (b.len)
        memcpy(body, data + off, b.len);
    b.data = body;

    struct api_resp resp;
    api_resp_init(&resp);
    api_handle(&app, &ctx, env, body_read, &b, &resp);
    FUZZ_CHECK(resp.status >= 200 && resp.status <= 599);
    if (resp.status >= 400) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp.json, "error");
        FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")));
    }
    size_t len = 0;
    char *text = api_resp_render(&resp, &len);
    if (text) {
        FUZZ_CHECK(len > 8 && strncmp(text, "Status: ", 8) == 0);
        free(text);
    }
    api_resp_deinit(&resp);
    free(body);
out:
    for (size_t i = 0; i < nenv; i++)
        free(env[i]);
    return 0;
}

FUZZ_TARGET(fuzz_api_one)
