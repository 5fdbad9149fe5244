/*
 * handshake.h - the relay's strict HTTP/1.1 request parser and the
 * answers it sends before (or instead of) a WebSocket.
 *
 * The relay reads a request into a buffer of at most HS_MAX_REQUEST bytes
 * and calls hs_parse() after every read; hs_parse() is pure (no I/O, no
 * allocation) so requests split across reads, each malformed header and
 * oversized requests are unit-tested without sockets. Only GET without a
 * body is spoken: /ws (the WebSocket upgrade), /healthz and /metrics.
 */
#ifndef RELAY_HANDSHAKE_H
#define RELAY_HANDSHAKE_H

#include "ws_accept.h"

#include <stddef.h>

#define HS_MAX_REQUEST 8192 /* request line and headers, bytes */
#define HS_MAX_HEADERS 64
#define HS_MAX_TARGET  2048
#define HS_TOKEN_MAX   128 /* longest socket token accepted from the query */
#define HS_ORIGIN_MAX  256
#define HS_KEY_LEN     WS_KEY_LEN /* shared/ws_accept.h */
#define HS_ACCEPT_LEN  WS_ACCEPT_LEN

enum hs_result {
    HS_INCOMPLETE = 0, /* no blank line yet: read more (the buffer is not full) */
    HS_DONE = 1,       /* a request the relay answers: see route */
    HS_BAD = -1,       /* refuse with req->status (and req->reason) */
};

enum hs_route { HS_ROUTE_WS, HS_ROUTE_HEALTHZ, HS_ROUTE_METRICS };

struct hs_request {
    enum hs_route route;
    size_t length;                /* bytes up to and including the blank line */
    char key[HS_KEY_LEN + 1];     /* Sec-WebSocket-Key (HS_ROUTE_WS) */
    char token[HS_TOKEN_MAX + 1]; /* decoded ?token= value; "" when absent */
    int token_too_long;           /* a token was given but exceeds HS_TOKEN_MAX */
    char origin[HS_ORIGIN_MAX + 1];
    int has_origin;
    int status;              /* HS_BAD: 400, 403 (Origin too long), 404, 405, 426 */
    const char *reason;      /* HS_BAD: static one-line reason */
    int want_version_header; /* 426 for a bad version: add Sec-WebSocket-Version: 13 */
};

/* hs_parse: examine the first len bytes of a request. Returns HS_INCOMPLETE
 * while the header block is unfinished and len < HS_MAX_REQUEST; HS_DONE
 * for a complete request to serve (route set; for /ws every upgrade header
 * checked, but not the token or Origin, which are policy); HS_BAD with
 * req->status for anything else. Bytes after req->length (a client that
 * did not wait for 101) belong to the WebSocket stream. buf borrowed. */
int hs_parse(const char *buf, size_t len, struct hs_request *req);

/* hs_accept_key: Sec-WebSocket-Accept for a key, NUL-terminated into out:
 * shared/ws_accept.c computes it for the relay and the clients alike; this
 * name is what the relay's transport calls. */
void hs_accept_key(const char *key, char out[HS_ACCEPT_LEN + 1]);

/* hs_origin_allowed: 1 when origin equals (ASCII case-insensitively) one
 * entry of the comma-separated list `allowed` (spaces around entries
 * ignored), else 0. An empty list allows nothing. */
int hs_origin_allowed(const char *allowed, const char *origin);

/* hs_format_response: write "HTTP/1.1 <status> <reason>" (shared/http_reason.h)
 * with Content-Type,
 * Content-Length, Connection: close, `extra` header lines (each ending in
 * CRLF; may be NULL) and the body into buf. Returns the length, or 0 when
 * it does not fit in cap. */
size_t hs_format_response(char *buf, size_t cap, int status, const char *extra,
                          const char *content_type, const char *body, size_t body_len);

#endif
