/*
 * http_client.h - a blocking HTTP client for integration tests (libcurl).
 *
 * One call, one request; the response body is NUL-terminated and, when it
 * parses as JSON, also available as a cJSON tree. Everything in struct
 * http_resp is owned by it and freed by http_resp_free().
 */
#ifndef CHAT_HTTP_CLIENT_H
#define CHAT_HTTP_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct http_resp {
    long status;    /* 0 when the request did not complete */
    char *body;     /* NUL-terminated, never NULL after a completed request */
    size_t len;
    char *headers;  /* raw response headers, NUL-terminated */
    cJSON *json;    /* NULL when the body is not JSON */
};

/*
 * http_request: send `method` to `url` (absolute, or a path that is
 * appended to testenv_web_base()). `bearer` (may be NULL) becomes an
 * Authorization header; `content_type` (may be NULL) the Content-Type of
 * `body` (may be NULL). Returns 0 when a response arrived (any status), -1
 * on transport failure. Always initialises *out.
 */
int http_request(const char *method, const char *url, const char *bearer,
                 const char *content_type, const char *body, size_t body_len,
                 struct http_resp *out);

/* http_json: http_request with a JSON body (may be NULL) and JSON content type. */
int http_json(const char *method, const char *url, const char *bearer, const char *json_body,
              struct http_resp *out);

/* http_header: value of a response header (case-insensitive name), copied
 * into buf; returns buf, or NULL when absent. */
const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t cap);

/* http_error_code: the "error.code" string of a JSON error body, or "". */
const char *http_error_code(const struct http_resp *r);

void http_resp_free(struct http_resp *r);

/* test_login: dev-login `username` (created if new); returns a malloc'd
 * JWT (caller frees) and stores the user's id; NULL on failure. */
char *test_login(const char *username, int64_t *user_id);

#endif
