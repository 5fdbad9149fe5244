/* http_client.c - libcurl behind the small API of http_client.h. */
#include "http_client.h"
#include "testenv.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct grow {
    char *data;
    size_t len;
};

static size_t grow_append(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct grow *g = userdata;
    size_t n = size * nmemb;
    char *p = realloc(g->data, g->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + g->len, ptr, n);
    g->len += n;
    p[g->len] = '\0';
    g->data = p;
    return n;
}

int http_request(const char *method, const char *url, const char *bearer,
                 const char *content_type, const char *body, size_t body_len,
                 struct http_resp *out)
{
    memset(out, 0, sizeof *out);
    char full[2048];
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        snprintf(full, sizeof full, "%s", url);
    else
        snprintf(full, sizeof full, "%s%s", testenv_web_base(), url);

    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct curl_slist *hdrs = NULL;
    char line[4096];
    if (bearer) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");

    struct grow b = {0}, h = {0};
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, grow_append);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);

    out->body = b.data ? b.data : strdup("");
    out->len = b.len;
    out->headers = h.data ? h.data : strdup("");
    out->json = cJSON_Parse(out->body);
    return rc == CURLE_OK ? 0 : -1;
}

int http_json(const char *method, const char *url, const char *bearer, const char *json_body,
              struct http_resp *out)
{
    return http_request(method, url, bearer, json_body ? "application/json" : NULL, json_body,
                        json_body ? strlen(json_body) : 0, out);
}

const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t linelen = eol ? (size_t) (eol - p) : strlen(p);
        if (linelen > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = linelen - (size_t) (v - p);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = eol ? eol + 2 : p + linelen;
    }
    return NULL;
}

const char *http_error_code(const struct http_resp *r)
{
    cJSON *err = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    return cJSON_IsString(code) ? code->valuestring : "";
}

void http_resp_free(struct http_resp *r)
{
    free(r->body);
    free(r->headers);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

char *test_login(const char *username, int64_t *user_id)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\"}", username);
    struct http_resp r;
    char *jwt = NULL;
    if (http_json("POST", "/api/v1/dev/login", NULL, body, &r) == 0 && r.status == 200) {
        cJSON *tok = cJSON_GetObjectItemCaseSensitive(r.json, "token");
        cJSON *user = cJSON_GetObjectItemCaseSensitive(r.json, "user");
        cJSON *id = cJSON_GetObjectItemCaseSensitive(user, "id");
        if (cJSON_IsString(tok) && cJSON_IsNumber(id)) {
            jwt = strdup(tok->valuestring);
            if (user_id)
                *user_id = (int64_t) id->valuedouble;
        }
    }
    http_resp_free(&r);
    return jwt;
}
