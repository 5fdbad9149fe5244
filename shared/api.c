/*
 * api.c - request parsing, routing, the generic checks and the answer
 * helpers of the API core (see api.h).
 *
 * The checks run in a fixed order so that each failure has one answer:
 * route (404) -> method (405) -> declared size (413) -> bearer token (401,
 * or 503 when the user lookup cannot reach MySQL) -> content type (415) ->
 * body read and JSON syntax (400) -> handler. The body is read only after
 * everything that can refuse the request without it.
 */
#include "api.h"
#include "decimal.h"
#include "errors.h"
#include "http_reason.h"
#include "ids.h"
#include "jsonnul.h"
#include "jwk.h"
#include "jwks_source.h"
#include "jwt.h"
#include "log.h"
#include "pct.h"
#include "sqldb.h"
#include "utf8.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AUTH_CHALLENGE "Bearer realm=\"chat\""

/* ------------------------------------------------------------ answers */

void api_resp_init(struct api_resp *resp)
{
    memset(resp, 0, sizeof *resp);
}

void api_resp_deinit(struct api_resp *resp)
{
    if (resp->stream_free)
        resp->stream_free(resp->stream_arg);
    cJSON_Delete(resp->json);
    memset(resp, 0, sizeof *resp);
}

int api_resp_header(struct api_resp *resp, const char *name, const char *value)
{
    size_t room = sizeof resp->headers - resp->headers_len;
    int n = snprintf(resp->headers + resp->headers_len, room, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t) n >= room) {
        resp->headers[resp->headers_len] = '\0';
        return ERR_TOO_LARGE;
    }
    resp->headers_len += (size_t) n;
    return 0;
}

void api_resp_stream(struct api_resp *resp, int status,
                     int (*stream)(void *arg, api_write_fn write, void *write_arg),
                     void (*free_fn)(void *arg), void *arg)
{
    cJSON_Delete(resp->json);
    resp->json = NULL;
    resp->status = status;
    resp->stream = stream;
    resp->stream_free = free_fn;
    resp->stream_arg = arg;
}

void api_resp_json(struct api_resp *resp, int status, cJSON *body)
{
    cJSON_Delete(resp->json);
    resp->json = NULL;
    if (!body) {
        api_resp_error(resp, 500, "internal", "out of memory");
        return;
    }
    resp->status = status;
    resp->json = body;
}

void api_resp_error(struct api_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    cJSON_Delete(resp->json);
    resp->status = status;
    resp->json = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(resp->json, "error");
    if (!err || !cJSON_AddStringToObject(err, "code", code) ||
        !cJSON_AddStringToObject(err, "message", msg)) {
        /* Rendered as a 500 with an empty body: nothing better is possible. */
        cJSON_Delete(resp->json);
        resp->json = NULL;
        resp->status = 500;
    }
}

void api_resp_fail(struct api_resp *resp, int err)
{
    switch (err) {
    case ERR_UNAVAILABLE:
        api_resp_error(resp, 503, "unavailable", "a database is unreachable; try again shortly");
        break;
    case ERR_NOT_FOUND:
        api_resp_error(resp, 404, "not_found", "not found");
        break;
    case ERR_INVALID:
        api_resp_error(resp, 400, "bad_request", "invalid request");
        break;
    case ERR_AUTH:
    case ERR_EXPIRED:
        api_resp_header(resp, "WWW-Authenticate", AUTH_CHALLENGE ", error=\"invalid_token\"");
        api_resp_error(resp, 401, "unauthorized", "authentication required");
        break;
    case ERR_DENIED:
        api_resp_error(resp, 403, "forbidden", "not allowed");
        break;
    case ERR_TOO_LARGE:
        api_resp_error(resp, 413, "too_large", "request too large");
        break;
    case ERR_CONFLICT:
        api_resp_error(resp, 409, "conflict", "conflicts with existing data");
        break;
    case ERR_RATE_LIMITED:
        api_resp_error(resp, 429, "rate_limited", "too many requests; try again later");
        break;
    default:
        api_resp_error(resp, 500, "internal", "internal error");
        break;
    }
}

/* render_stream_head: the head of a streamed answer, headers from the
 * handler only. */
static char *render_stream_head(const struct api_resp *resp, size_t *len)
{
    char head[API_HEADERS_MAX + 64];
    int n = snprintf(head, sizeof head, "Status: %d %s\r\n%.*s\r\n", resp->status,
                     http_reason(resp->status), (int) resp->headers_len, resp->headers);
    if (n < 0 || (size_t) n >= sizeof head)
        return NULL;
    *len = (size_t) n;
    return strdup(head);
}

char *api_resp_render(const struct api_resp *resp, size_t *len)
{
    if (resp->stream)
        return render_stream_head(resp, len);
    char *body = resp->json ? cJSON_PrintUnformatted(resp->json) : NULL;
    size_t body_len = body ? strlen(body) : 0;
    int status = resp->status ? resp->status : 500;
    char head[API_HEADERS_MAX + 512];
    int n = snprintf(head, sizeof head,
                     "Status: %d %s\r\n"
                     "Content-Type: application/json; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%.*s\r\n",
                     status, http_reason(status), body_len, (int) resp->headers_len, resp->headers);
    char *out = NULL;
    if (n > 0 && (size_t) n < sizeof head && (out = malloc((size_t) n + body_len + 1))) {
        memcpy(out, head, (size_t) n);
        if (body_len)
            memcpy(out + n, body, body_len);
        out[(size_t) n + body_len] = '\0';
        *len = (size_t) n + body_len;
    }
    cJSON_free(body);
    return out;
}

/* ------------------------------------------------------------ parsing */

/* env_get: the value of NAME in a "NAME=value" array, or NULL. */
static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* decode_path: percent-decode len bytes of src into out (cap bytes, NUL
 * added). Refuses bad escapes, control bytes, and overlong paths. */
static int decode_path(const char *src, size_t len, char *out, size_t cap)
{
    int rc = pct_decode(src, len, out, cap, NULL);
    if (rc != 0)
        return rc;
    for (const char *p = out; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            return ERR_INVALID;
    return 0;
}

/* request_path: the path the client asked for. REQUEST_URI is what the
 * client sent (lighttpd, Apache and nginx all pass it); servers that do not
 * set it give SCRIPT_NAME + PATH_INFO, already decoded. */
static int request_path(char **envp, char *out, size_t cap)
{
    const char *uri = env_get(envp, "REQUEST_URI");
    if (uri && uri[0] == '/') {
        size_t len = strcspn(uri, "?#");
        return decode_path(uri, len, out, cap);
    }
    const char *script = env_get(envp, "SCRIPT_NAME");
    const char *info = env_get(envp, "PATH_INFO");
    int n = snprintf(out, cap, "%s%s", script ? script : "", info ? info : "");
    if (n < 0 || (size_t) n >= cap)
        return ERR_TOO_LARGE;
    for (const char *p = out; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            return ERR_INVALID;
    return out[0] == '/' ? 0 : ERR_INVALID;
}

/* key_len: the length of the {key} segment at s, 0 when it is not one. */
static size_t key_len(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
    return n <= API_KEY_MAX && (s[n] == '/' || s[n] == '\0') ? n : 0;
}

/* route_match: 1 when path fits pattern (segment by segment; "{id}"
 * matches one positive id segment, stored in *id; "{key}" one key segment,
 * copied to key). */
static int route_match(const char *pattern, const char *path, int64_t *id,
                       char key[API_KEY_MAX + 1])
{
    const char *p = pattern, *s = path;
    for (;;) {
        if (strncmp(p, "{key}", 5) == 0) {
            size_t n = key_len(s);
            if (n == 0)
                return 0;
            memcpy(key, s, n);
            key[n] = '\0';
            p += 5;
            s += n;
            continue;
        }
        if (strncmp(p, "{id}", 4) == 0) {
            size_t n = strcspn(s, "/");
            if (id_parse(s, n, id) != 0)
                return 0;
            p += 4;
            s += n;
            continue;
        }
        if (*p != *s)
            return 0;
        if (*p == '\0')
            return 1;
        p++;
        s++;
    }
}

/* media_type_is_json: "application/json", any case, optionally followed by
 * parameters, of which a charset must be UTF-8. */
static int media_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    const char *rest = ct + sizeof want - 1;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest == '\0')
        return 1;
    if (*rest != ';')
        return 0;
    const char *cs = strcasestr(rest, "charset=");
    if (!cs)
        return 1;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 && strchr("\"; \t", cs[5]);
}

/* read_body: read the declared (or, without a declaration, the available)
 * body, at most max bytes. */
static int read_body(struct api_req *req, api_read_fn rd, void *arg, size_t max)
{
    size_t want = req->content_length >= 0 ? (size_t) req->content_length : max + 1;
    req->body = malloc(want + 1);
    if (!req->body)
        return ERR_NOMEM;
    size_t got = 0;
    while (got < want) {
        long n = rd ? rd(arg, req->body + got, want - got) : 0;
        if (n < 0)
            return ERR_IO;
        if (n == 0)
            break;
        got += (size_t) n;
    }
    req->body[got] = '\0';
    req->body_len = got;
    if (got > max)
        return ERR_TOO_LARGE;
    if (req->content_length >= 0 && got != want)
        return ERR_IO;
    return 0;
}

/* ------------------------------------------------------------ checks */

static void answer_unauthorized(struct api_resp *resp, const char *why, int token_given)
{
    api_resp_header(resp, "WWW-Authenticate",
                    token_given ? AUTH_CHALLENGE ", error=\"invalid_token\"" : AUTH_CHALLENGE);
    api_resp_error(resp, 401, "unauthorized", "%s", why);
}

/* authenticate: the bearer token of the request and the user it names. */
static int authenticate(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const char *h = req->authorization;
    if (!h || !*h) {
        answer_unauthorized(resp, "an Authorization: Bearer token is required", 0);
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        answer_unauthorized(resp, "the Authorization header must use the Bearer scheme", 1);
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    struct jwt_identity id;
    const char *reason = NULL;
    int rc = jwt_verify_token(ctx->cfg, ctx->keys, tok, (int64_t) time(NULL), &id, &reason);
    const char *event = ctx->keys ? jwks_source_event(ctx->keys) : NULL;
    if (event)
        log_info("jwks", "%s", event);
    if (rc != 0)
        log_info("auth_failed", "status=401 reason=%s alg=%s", reason,
                 id.alg ? jwt_alg_name(id.alg) : "-");
    if (rc == ERR_EXPIRED) {
        answer_unauthorized(resp, "the token has expired", 1);
        return -1;
    }
    if (rc != 0) {
        answer_unauthorized(resp, "the token is not valid", 1);
        return -1;
    }
    int created = 0;
    if (!ctx->db)
        rc = ERR_UNAVAILABLE;
    else if (id.alg == JWT_ALG_HS256)
        rc = users_find_by_id(ctx->db, id.user_id, &req->user);
    else
        rc = users_provision(ctx->db, id.issuer, id.subject, id.name, &req->user, &created);
    if (rc == ERR_NOT_FOUND) {
        log_info("auth_failed", "status=401 reason=no_such_user alg=%s", jwt_alg_name(id.alg));
        answer_unauthorized(resp, "the token names no existing user", 1);
        return -1;
    }
    if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
        log_warn("auth_failed", "status=401 reason=%s alg=%s",
                 rc == ERR_INVALID ? "identity_too_long" : "no_free_username",
                 jwt_alg_name(id.alg));
        answer_unauthorized(resp, "the token names no user that can be created", 1);
        return -1;
    }
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return -1;
    }
    if (created)
        log_info("user_provisioned", "user=%lld alg=%s", (long long) req->user.id,
                 jwt_alg_name(id.alg));
    return 0;
}

static int parse_json_body(const struct api_ctx *ctx, struct api_req *req, api_read_fn rd,
                           void *arg, struct api_resp *resp)
{
    int rc = read_body(req, rd, arg, (size_t) ctx->cfg->max_body_bytes);
    if (rc == ERR_TOO_LARGE) {
        api_resp_error(resp, 413, "too_large", "the request body exceeds %d bytes",
                       ctx->cfg->max_body_bytes);
        return -1;
    }
    if (rc == ERR_NOMEM) {
        api_resp_fail(resp, rc);
        return -1;
    }
    if (rc != 0) {
        api_resp_error(resp, 400, "bad_request", "the request body is shorter than declared");
        return -1;
    }
    if (req->body_len == 0) {
        api_resp_error(resp, 400, "bad_request", "a JSON object body is required");
        return -1;
    }
    if (!utf8_valid(req->body, req->body_len, NULL) ||
        memchr(req->body, '\0', req->body_len) != NULL) {
        api_resp_error(resp, 400, "bad_request", "the request body is not valid UTF-8 text");
        return -1;
    }
    if (json_has_nul(req->body, req->body_len)) {
        api_resp_error(resp, 400, "bad_request", "strings must not contain \\u0000");
        return -1;
    }
    const char *end = NULL;
    req->json = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
    if (req->json && end != req->body + req->body_len) {
        /* cJSON stops at the end of the first value; only whitespace may follow */
        for (const char *p = end; p < req->body + req->body_len; p++) {
            if (!strchr(" \t\r\n", *p)) {
                cJSON_Delete(req->json);
                req->json = NULL;
                break;
            }
        }
    }
    if (!req->json) {
        api_resp_error(resp, 400, "bad_request", "the request body is not valid JSON");
        return -1;
    }
    if (!cJSON_IsObject(req->json)) {
        api_resp_error(resp, 400, "bad_request", "the request body must be a JSON object");
        return -1;
    }
    return 0;
}

/* find_route: the route for the request, or NULL after answering 404/405. */
static const struct api_route *find_route(const struct api_app *app, const struct api_ctx *ctx,
                                          struct api_req *req, struct api_resp *resp)
{
    char allow[128] = "";
    size_t allow_len = 0;
    int path_known = 0;
    for (size_t i = 0; i < app->nroutes; i++) {
        const struct api_route *r = &app->routes[i];
        int64_t id = 0;
        char key[API_KEY_MAX + 1] = "";
        if ((r->flags & API_DEV_ONLY) && ctx->cfg->dev_login != 1)
            continue;
        if (!route_match(r->pattern, req->path, &id, key))
            continue;
        if (strcmp(r->method, req->method) == 0) {
            req->path_id = id;
            memcpy(req->path_key, key, sizeof key);
            return r;
        }
        path_known = 1;
        if (!strstr(allow, r->method)) {
            int n = snprintf(allow + allow_len, sizeof allow - allow_len, "%s%s",
                             allow_len ? ", " : "", r->method);
            if (n > 0 && (size_t) n < sizeof allow - allow_len)
                allow_len += (size_t) n;
        }
    }
    if (!path_known) {
        api_resp_error(resp, 404, "not_found", "no such endpoint");
        return NULL;
    }
    api_resp_header(resp, "Allow", allow);
    api_resp_error(resp, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                   req->method, allow);
    return NULL;
}

/* parse_request: the request line and headers from the CGI variables. */
static int parse_request(char **envp, struct api_req *req, struct api_resp *resp)
{
    const char *cl = env_get(envp, "CONTENT_LENGTH");
    req->method = env_get(envp, "REQUEST_METHOD");
    req->query = env_get(envp, "QUERY_STRING");
    if (!req->query)
        req->query = "";
    req->content_type = env_get(envp, "CONTENT_TYPE");
    req->authorization = env_get(envp, "HTTP_AUTHORIZATION");
    req->content_length = -1;
    if (!req->method || !*req->method) {
        api_resp_error(resp, 400, "bad_request", "no request method");
        return -1;
    }
    if (cl && *cl) {
        int64_t v;
        if (dec_parse(cl, strlen(cl), &v) != 0) {
            api_resp_error(resp, 400, "bad_request", "invalid Content-Length");
            return -1;
        }
        req->content_length = v;
    }
    int rc = request_path(envp, req->path, sizeof req->path);
    if (rc == ERR_TOO_LARGE) {
        api_resp_error(resp, 404, "not_found", "no such endpoint");
        return -1;
    }
    if (rc != 0) {
        api_resp_error(resp, 400, "bad_request", "malformed request path");
        return -1;
    }
    return 0;
}

void api_handle(const struct api_app *app, struct api_ctx *ctx, char **envp, api_read_fn read_fn,
                void *read_arg, struct api_resp *resp)
{
    struct api_req req;
    memset(&req, 0, sizeof req);
    assert(resp->status == 0 && resp->json == NULL);

    if (parse_request(envp, &req, resp) != 0)
        goto out;
    const struct api_route *route = find_route(app, ctx, &req, resp);
    if (!route)
        goto out;
    req.envp = envp;
    req.read = read_fn;
    req.read_arg = read_arg;
    if (!(route->flags & API_RAW_BODY) && req.content_length > ctx->cfg->max_body_bytes) {
        api_resp_error(resp, 413, "too_large", "the request body exceeds %d bytes",
                       ctx->cfg->max_body_bytes);
        goto out;
    }
    if ((route->flags & API_AUTH) && authenticate(ctx, &req, resp) != 0)
        goto out;
    if (route->flags & API_JSON) {
        if (!media_type_is_json(req.content_type)) {
            api_resp_error(resp, 415, "unsupported_media_type",
                           "the body must be sent as Content-Type: application/json");
            goto out;
        }
        if (parse_json_body(ctx, &req, read_fn, read_arg, resp) != 0)
            goto out;
    }
    route->handler(ctx, &req, resp);
    if (resp->status == 0)
        api_resp_error(resp, 500, "internal", "the handler gave no answer");
out:
    if (resp->status >= 500) {
        char path[128];
        log_warn("request_failed", "method=%s path=%s status=%d", req.method ? req.method : "-",
                 log_quote(path, sizeof path, req.path), resp->status);
    }
    free(req.body);
    cJSON_Delete(req.json);
}

const char *api_req_env(const struct api_req *req, const char *name)
{
    return env_get(req->envp, name);
}

/* ------------------------------------------------------------ parameters */

/* query_find: the raw value of a query parameter and its length; *dups is
 * set when the name occurs more than once. NULL when absent. */
static const char *query_find(const char *q, const char *name, size_t *len, int *dups)
{
    size_t n = strlen(name);
    const char *found = NULL;
    *dups = 0;
    for (const char *p = q; *p;) {
        size_t seg = strcspn(p, "&");
        if (seg >= n && strncmp(p, name, n) == 0 && (seg == n || p[n] == '=')) {
            if (found) {
                *dups = 1;
                break;
            }
            found = seg == n ? p + n : p + n + 1;
            *len = seg == n ? 0 : seg - n - 1;
        }
        p += seg;
        if (*p == '&')
            p++;
    }
    return found;
}

int api_query_int(const struct api_req *req, struct api_resp *resp, const char *name, int64_t min,
                  int64_t max, int64_t *out)
{
    size_t len = 0;
    int dups = 0;
    const char *v = query_find(req->query, name, &len, &dups);
    if (!v)
        return 0;
    int64_t x = 0;
    if (dups || dec_parse(v, len, &x) != 0 || x < min || x > max) {
        api_resp_error(resp, 400, "bad_request",
                       "%s must be given once, as a whole number from %lld to %lld", name,
                       (long long) min, (long long) max);
        return -1;
    }
    *out = x;
    return 1;
}

int api_query_pair(const struct api_req *req, struct api_resp *resp, const char *name,
                   int64_t out[2])
{
    size_t len = 0;
    int dups = 0;
    const char *v = query_find(req->query, name, &len, &dups);
    if (!v)
        return 0;
    const char *dot = memchr(v, '.', len);
    int64_t a = 0, b = 0;
    if (dups || !dot || dec_parse(v, (size_t) (dot - v), &a) != 0 ||
        dec_parse(dot + 1, len - (size_t) (dot - v) - 1, &b) != 0) {
        api_resp_error(resp, 400, "bad_request", "%s must be given once, as it was handed out",
                       name);
        return -1;
    }
    out[0] = a;
    out[1] = b;
    return 1;
}

int api_body_id(const struct api_req *req, struct api_resp *resp, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->json, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || id_from_double(v->valuedouble, 1, out) != 0) {
        api_resp_error(resp, 400, "bad_request", "%s must be a positive whole number", name);
        return -1;
    }
    return 1;
}

int api_body_string(const struct api_req *req, struct api_resp *resp, const char *name,
                    size_t max_bytes, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->json, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > max_bytes) {
        api_resp_error(resp, 400, "bad_request", "%s must be a string of 1 to %zu bytes", name,
                       max_bytes);
        return -1;
    }
    *out = v->valuestring;
    return 1;
}
