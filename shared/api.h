/*
 * api.h - the request/response core shared by the FastCGI programs.
 *
 * Each API program is a route table (struct api_app) over this core, the
 * way lighttpd's protocol modules sit on gw_backend: the core turns the CGI
 * variables of one request into a struct api_req, applies every check that
 * does not depend on the endpoint (route, method, body size, bearer token,
 * content type, JSON syntax) in that order, and calls the route's handler,
 * which fills a struct api_resp. Nothing here knows about FastCGI sockets,
 * so the whole path is testable with a fake environment and body (see
 * api_handle); api_fcgi.h runs it under FastCGI or CGI.
 *
 * Status codes and error codes of the answers the core produces itself:
 *   400 bad_request             malformed path/query/body, named field
 *   401 unauthorized            missing, malformed, wrong or expired JWT,
 *                               or a subject that names no user
 *                               (with WWW-Authenticate: Bearer; the
 *                               reason goes to the log as an
 *                               auth_failed line, never the token)
 *   404 not_found               no route for the path (dev-only routes
 *                               while dev_login is off look the same)
 *   405 method_not_allowed      path known, method not (with Allow)
 *   413 too_large               CONTENT_LENGTH above cfg->max_body_bytes
 *   415 unsupported_media_type  a JSON route without application/json
 *   503 unavailable             a database could not be reached
 * Every error body is {"error":{"code":"...","message":"..."}}.
 *
 * One request at a time per process (FastCGI programs are single-threaded);
 * a handler may take milliseconds, the core adds microseconds.
 */
#ifndef CHAT_API_H
#define CHAT_API_H

#include "config.h"
#include "users.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct sqldb;
struct msgstore;
struct jwks_source;

#define API_PATH_MAX    512  /* decoded path bytes; longer paths are 404 */
#define API_HEADERS_MAX 1024 /* extra response header bytes */
#define API_KEY_MAX     64   /* characters of a {key} path segment */

/* api_read_fn: read up to n body bytes into buf; return the count, 0 at the
 * end of the body, < 0 on error. */
typedef long (*api_read_fn)(void *arg, char *buf, size_t n);

/* api_write_fn: send n bytes of a streamed response body; 0, or ERR_IO
 * when the client is gone. */
typedef int (*api_write_fn)(void *arg, const char *buf, size_t n);

/* Per-process state the handlers share: opened once at start, reused by
 * every request (and reconnected by sqldb/msgstore themselves). */
struct api_ctx {
    const struct config *cfg; /* borrowed, process lifetime */
    struct sqldb *db;         /* NULL only in tests: answers 503 */
    struct msgstore *ms;      /* NULL unless the app opened one */
    /* The identity provider's keys (NULL: none configured, or in tests;
     * then only HS256 tokens can pass). */
    struct jwks_source *keys;
};

struct api_req {
    const char *method;        /* REQUEST_METHOD; borrowed from the environment */
    char path[API_PATH_MAX];   /* percent-decoded path, no query */
    const char *query;         /* raw QUERY_STRING; "" when absent */
    const char *content_type;  /* CONTENT_TYPE or NULL */
    const char *authorization; /* HTTP_AUTHORIZATION or NULL */
    long long content_length;  /* CONTENT_LENGTH; -1 when absent */
    char *body;                /* owned, NUL-terminated; API_JSON routes only */
    size_t body_len;
    cJSON *json;      /* owned; the body object on API_JSON routes */
    int64_t path_id;  /* the {id} segment of the route, else 0 */
    char path_key[API_KEY_MAX + 1]; /* the {key} segment of the route, else "" */
    struct user user; /* the caller on API_AUTH routes */
    char **envp;      /* the CGI variables, for api_req_env */
    api_read_fn read; /* API_RAW_BODY routes: the body, read by the handler */
    void *read_arg;
};

struct api_resp {
    int status;                    /* 0 until a handler answers */
    char headers[API_HEADERS_MAX]; /* extra "Name: value\r\n" lines */
    size_t headers_len;
    cJSON *json; /* owned body; NULL: empty body */
    /* A streamed body (media downloads). When stream is set the answer has
     * no JSON body and no default headers but Status: the handler adds
     * Content-Type, Content-Length and caching itself; after the head is
     * sent, stream is called once to write the body, then stream_free
     * (also when the head could not be sent). */
    int (*stream)(void *arg, api_write_fn write, void *write_arg);
    void (*stream_free)(void *arg);
    void *stream_arg;
};

enum api_route_flags {
    API_AUTH = 1 << 0,     /* needs a valid bearer JWT of an existing user */
    API_JSON = 1 << 1,     /* needs a JSON object body */
    API_DEV_ONLY = 1 << 2, /* exists only while cfg->dev_login == 1 */
    API_RAW_BODY = 1 << 3, /* the handler reads the body itself (req->read)
                            * and applies its own size limit: the core's
                            * max_body_bytes check is skipped */
};

typedef void (*api_handler_fn)(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

struct api_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/chat/{id}": literal segments and at
                          * most one {id}, a positive decimal int64, or one
                          * {key}, 1..API_KEY_MAX of [A-Za-z0-9_-] */
    unsigned flags;      /* enum api_route_flags */
    api_handler_fn handler;
};

/* An API program: its routes and optional set-up of extra handles. */
struct api_app {
    const char *name; /* program name for logs */
    const struct api_route *routes;
    size_t nroutes;
    /* init (may be NULL): open what the handlers need beyond ctx->db, e.g.
     * the msgstore; return 0, or non-zero with a message in err. */
    int (*init)(struct api_ctx *ctx, char *err, size_t errlen);
    void (*deinit)(struct api_ctx *ctx); /* may be NULL */
};

/*
 * api_handle: serve one request. envp is the NULL-terminated "NAME=value"
 * array of CGI variables (borrowed for the call); the body is read through
 * read_body only when the route takes one, after the size, auth and
 * content-type checks passed. resp must be fresh (api_resp_init) and is
 * always answered when this returns; the caller renders it and then calls
 * api_resp_deinit.
 */
void api_handle(const struct api_app *app, struct api_ctx *ctx, char **envp, api_read_fn read_body,
                void *read_arg, struct api_resp *resp);

/* api_req_env: the CGI variable `name` (e.g. "HTTP_RANGE") of the request,
 * or NULL; borrowed for the request. */
const char *api_req_env(const struct api_req *req, const char *name);

/* api_resp_stream: answer status with a streamed body (see struct
 * api_resp); takes ownership of arg, released with free_fn. */
void api_resp_stream(struct api_resp *resp, int status,
                     int (*stream)(void *arg, api_write_fn write, void *write_arg),
                     void (*free_fn)(void *arg), void *arg);

void api_resp_init(struct api_resp *resp);
void api_resp_deinit(struct api_resp *resp);

/* api_resp_render: the CGI response (Status line, headers, blank line, JSON
 * body) as one malloc'd buffer (caller frees) of *len bytes; NULL when out
 * of memory. */
char *api_resp_render(const struct api_resp *resp, size_t *len);

/* Answers for handlers. api_resp_json takes ownership of body (NULL means
 * allocation failed and becomes a 500). api_resp_error formats the message
 * (printf-style). api_resp_fail maps a project error code to the usual
 * answer (ERR_UNAVAILABLE 503, ERR_NOT_FOUND 404, ERR_NOMEM 500, ...). */
void api_resp_json(struct api_resp *resp, int status, cJSON *body);
void api_resp_error(struct api_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_resp_fail(struct api_resp *resp, int err);

/* api_resp_header: add a "name: value" line; 0, or ERR_TOO_LARGE when the
 * header space is full (the header is then not added). */
int api_resp_header(struct api_resp *resp, const char *name, const char *value);

/*
 * api_query_int: the query parameter `name` as an integer in [min, max].
 * Returns 1 with *out set when present and valid, 0 when absent (*out
 * untouched), -1 after answering 400 naming the parameter when it is
 * present but not a plain decimal number in range or given twice.
 */
int api_query_int(const struct api_req *req, struct api_resp *resp, const char *name, int64_t min,
                  int64_t max, int64_t *out);

/* api_query_pair: the query parameter `name` as two whole numbers written
 * "A.B" (a page cursor). Same returns as api_query_int. */
int api_query_pair(const struct api_req *req, struct api_resp *resp, const char *name,
                   int64_t out[2]);

/*
 * Members of the JSON body (API_JSON routes). Same returns as
 * api_query_int: 1 present and valid, 0 absent (or JSON null), -1 after a
 * 400 naming the field.
 * api_body_id: a positive integer (JSON number, no fraction, < 2^53).
 * api_body_string: a string of 1..max_bytes bytes; *out borrowed from
 * req->json until the request ends.
 */
int api_body_id(const struct api_req *req, struct api_resp *resp, const char *name, int64_t *out);
int api_body_string(const struct api_req *req, struct api_resp *resp, const char *name,
                    size_t max_bytes, const char **out);

#endif
