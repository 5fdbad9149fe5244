/*
 * chatapi.c - libcurl calls of the load generator (see chatapi.h). Cold
 * path: set-up and one token per WebSocket connect.
 */
#include "chatapi.h"

#include "errors.h"
#include "ids.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (4 << 20) /* /metrics and API answers are far smaller */

struct chatapi {
    CURL *curl;
    char base[256];
    char *body; /* last response body, owned */
    size_t len;
    long status; /* last HTTP status, 0 when none */
    char err[256];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct chatapi *a = ud;
    size_t n = size * nmemb;
    if (n > BODY_MAX - a->len)
        return 0; /* makes curl fail the transfer */
    char *p = realloc(a->body, a->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + a->len, ptr, n);
    a->len += n;
    p[a->len] = '\0';
    a->body = p;
    return n;
}

struct chatapi *chatapi_new(const char *web_base)
{
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = 1;
    }
    struct chatapi *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->curl = curl_easy_init();
    if (!a->curl || (size_t) snprintf(a->base, sizeof a->base, "%s", web_base) >= sizeof a->base) {
        chatapi_free(a);
        return NULL;
    }
    return a;
}

void chatapi_free(struct chatapi *a)
{
    if (!a)
        return;
    if (a->curl)
        curl_easy_cleanup(a->curl);
    free(a->body);
    free(a);
}

const char *chatapi_error(const struct chatapi *a)
{
    return a->err;
}

static int fail(struct chatapi *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct chatapi *a, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    return code;
}

/* call: one request; url is absolute or a path under base. Returns 0 when
 * any HTTP answer arrived (status in a->status, body in a->body). */
static int call(struct chatapi *a, const char *method, const char *url, const char *jwt,
                const char *json_body)
{
    char full[1024], auth[2048];
    if ((size_t) snprintf(full, sizeof full, "%s%s", strncmp(url, "http", 4) == 0 ? "" : a->base,
                          url) >= sizeof full)
        return fail(a, ERR_INVALID, "url too long");
    struct curl_slist *hdrs = NULL, *h;
    if (jwt) {
        if ((size_t) snprintf(auth, sizeof auth, "Authorization: Bearer %s", jwt) >= sizeof auth)
            return fail(a, ERR_INVALID, "jwt too long");
        if (!(h = curl_slist_append(hdrs, auth)))
            goto nomem;
        hdrs = h;
    }
    if (json_body) {
        if (!(h = curl_slist_append(hdrs, "Content-Type: application/json")))
            goto nomem;
        hdrs = h;
    }
    if (!(h = curl_slist_append(hdrs, "Expect:")))
        goto nomem;
    hdrs = h;

    a->len = 0;
    a->status = 0;
    a->err[0] = '\0';
    if (a->body)
        a->body[0] = '\0';
    CURL *c = a->curl;
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (json_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(json_body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK)
        return fail(a, ERR_UNAVAILABLE, "%s %s: %s", method, full, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    if (!a->body && !(a->body = calloc(1, 1)))
        return fail(a, ERR_NOMEM, "out of memory");
    return 0;
nomem:
    curl_slist_free_all(hdrs);
    return fail(a, ERR_NOMEM, "out of memory");
}

/* call_json: call, expect one of two statuses and a JSON object. *out
 * becomes the parsed body (cJSON_Delete). */
static int call_json(struct chatapi *a, const char *method, const char *path, const char *jwt,
                     const char *body, long ok1, long ok2, cJSON **out)
{
    int rc = call(a, method, path, jwt, body);
    if (rc != 0)
        return rc;
    if (a->status != ok1 && a->status != ok2)
        return fail(a, ERR_INTERNAL, "%s %s: status %ld: %.160s", method, path, a->status, a->body);
    *out = cJSON_Parse(a->body);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return fail(a, ERR_INTERNAL, "%s %s: answer is not a JSON object", method, path);
    }
    return 0;
}

static int get_i64(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) && id_from_double(v->valuedouble, 1, out) == 0 ? 0 : ERR_INTERNAL;
}

int chatapi_login(struct chatapi *a, const char *username, char **jwt, int64_t *user_id)
{
    char body[256];
    if ((size_t) snprintf(body, sizeof body, "{\"username\":\"%s\"}", username) >= sizeof body)
        return fail(a, ERR_INVALID, "username too long");
    cJSON *j = NULL;
    int rc = call_json(a, "POST", "/api/v1/dev/login", NULL, body, 200, 201, &j);
    if (rc != 0)
        return rc;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
    if (!cJSON_IsString(tok) || get_i64(user, "id", user_id) != 0) {
        rc = fail(a, ERR_INTERNAL, "dev login: no token or user.id in the answer");
    } else if (!(*jwt = strdup(tok->valuestring))) {
        rc = fail(a, ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(j);
    return rc;
}

int chatapi_open_room(struct chatapi *a, const char *jwt, int64_t peer_id, int64_t *room_id)
{
    char body[64];
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) peer_id);
    cJSON *j = NULL;
    int rc = call_json(a, "POST", "/api/v1/rooms", jwt, body, 200, 201, &j);
    if (rc != 0)
        return rc;
    if (get_i64(cJSON_GetObjectItemCaseSensitive(j, "room"), "id", room_id) != 0)
        rc = fail(a, ERR_INTERNAL, "rooms: no room.id in the answer");
    cJSON_Delete(j);
    return rc;
}

int chatapi_socket_token(struct chatapi *a, const char *jwt, char *tok, size_t cap)
{
    cJSON *j = NULL;
    int rc = call_json(a, "POST", "/api/v1/socket-token", jwt, "{}", 201, 200, &j);
    if (rc != 0)
        return rc;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t))
        rc = fail(a, ERR_INTERNAL, "socket-token: no token in the answer");
    else if ((size_t) snprintf(tok, cap, "%s", t->valuestring) >= cap)
        rc = fail(a, ERR_TOO_LARGE, "socket-token: token longer than %zu bytes", cap - 1);
    cJSON_Delete(j);
    return rc;
}

int chatapi_history_page(struct chatapi *a, const char *jwt, const char *path, int *n)
{
    cJSON *j = NULL;
    int rc = call_json(a, "GET", path, jwt, NULL, 200, 200, &j);
    if (rc != 0)
        return rc;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsArray(msgs))
        rc = fail(a, ERR_INTERNAL, "history: no messages array in the answer");
    else
        *n = cJSON_GetArraySize(msgs);
    cJSON_Delete(j);
    return rc;
}

int chatapi_get_text(struct chatapi *a, const char *url, char **body)
{
    int rc = call(a, "GET", url, NULL, NULL);
    if (rc != 0)
        return rc;
    if (a->status != 200)
        return fail(a, ERR_INTERNAL, "GET %s: status %ld", url, a->status);
    *body = a->body;
    a->body = NULL;
    a->len = 0;
    return 0;
}
