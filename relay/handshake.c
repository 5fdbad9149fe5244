/*
 * handshake.c - strict HTTP/1.1 request parsing for the relay (see
 * handshake.h).
 *
 * Strict means: CRLF line ends only (a bare CR or LF is a 400), no
 * obsolete line folding, header names are RFC 9110 tokens, no control
 * bytes, one Host, no request body, and every header that decides what
 * the connection becomes (Upgrade, Key, Version, Origin) at most once.
 * Runs once per connection, on at most HS_MAX_REQUEST bytes.
 */
#include "handshake.h"
#include "errors.h"
#include "http_list.h"
#include "http_reason.h"
#include "pct.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int bad(struct hs_request *req, int status, const char *reason)
{
    req->status = status;
    req->reason = reason;
    return HS_BAD;
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* is_field_char: VCHAR, SP, HT or obs-text (RFC 9110 field-value). */
static int is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* valid_key: 22 base64 characters and "==": the encoding of 16 bytes. */
static int valid_key(const char *v, size_t vlen)
{
    if (vlen != HS_KEY_LEN || v[22] != '=' || v[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        unsigned char c = (unsigned char) v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    /* The last character before the padding carries 2 bits, the rest zero. */
    return strchr("AQgw", v[21]) != NULL;
}

/* parse_query: find token=... in the query string q (qlen bytes) and
 * percent-decode it into req->token. Returns 0, or -1 for a malformed
 * escape or a repeated token. */
static int parse_query(const char *q, size_t qlen, struct hs_request *req)
{
    int seen = 0;
    size_t i = 0;
    while (i < qlen) {
        size_t start = i;
        while (i < qlen && q[i] != '&')
            i++;
        size_t plen = i - start;
        if (i < qlen)
            i++; /* skip '&' */
        if (plen < 6 || memcmp(q + start, "token=", 6) != 0)
            continue;
        if (seen++)
            return -1;
        int rc = pct_decode(q + start + 6, plen - 6, req->token, sizeof req->token, NULL);
        if (rc == ERR_TOO_LARGE) {
            req->token_too_long = 1;
            req->token[0] = '\0';
        } else if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* Headers the relay cares about; each may appear at most once. */
enum { H_HOST, H_UPGRADE, H_CONNECTION, H_KEY, H_VERSION, H_ORIGIN, H_COUNT };
static const char *const header_names[H_COUNT] = {
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "origin",
};

struct header_view {
    const char *v;
    size_t len;
    int seen;
};

int hs_parse(const char *buf, size_t len, struct hs_request *req)
{
    struct header_view h[H_COUNT];
    const char *p = buf, *end;
    size_t i;

    memset(req, 0, sizeof *req);
    memset(h, 0, sizeof h);

    /* Reject NUL, bare LF and bare CR as soon as they arrive, then look for
     * the end. After this every CR in the request starts a CRLF, which the
     * line splitting below relies on (it steps over the LF after each CR). */
    for (i = 0; i < len; i++) {
        if (buf[i] == '\0')
            return bad(req, 400, "NUL byte in request");
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return bad(req, 400, "line not ended by CRLF");
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
            return bad(req, 400, "CR not followed by LF");
        if (i >= 3 && buf[i] == '\n' && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
            break;
    }
    if (i == len)
        return len >= HS_MAX_REQUEST ? bad(req, 400, "request header too large") : HS_INCOMPLETE;
    if (i + 1 > HS_MAX_REQUEST)
        return bad(req, 400, "request header too large");
    req->length = i + 1;
    end = buf + req->length;

    /* Request line: method SP target SP HTTP/1.1 CRLF */
    const char *sp1 = memchr(p, ' ', (size_t) (end - p));
    const char *eol = memchr(p, '\r', (size_t) (end - p));
    if (!sp1 || sp1 > eol || sp1 == p)
        return bad(req, 400, "malformed request line");
    for (const char *c = p; c < sp1; c++)
        if (!is_tchar((unsigned char) *c))
            return bad(req, 400, "malformed method");
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t) (eol - target));
    if (!sp2 || sp2 == target || *target != '/')
        return bad(req, 400, "malformed request target");
    size_t tlen = (size_t) (sp2 - target);
    if (tlen > HS_MAX_TARGET)
        return bad(req, 400, "request target too long");
    for (size_t k = 0; k < tlen; k++) {
        unsigned char c = (unsigned char) target[k];
        if (c <= 0x20 || c >= 0x7f)
            return bad(req, 400, "malformed request target");
    }
    if ((size_t) (eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.1", 8) != 0)
        return bad(req, 400, "only HTTP/1.1 is spoken");
    int is_get = (size_t) (sp1 - p) == 3 && memcmp(p, "GET", 3) == 0;

    /* Header fields */
    int nheaders = 0;
    p = eol + 2;
    while (p < end - 2) {
        eol = memchr(p, '\r', (size_t) (end - p));
        if (*p == ' ' || *p == '\t')
            return bad(req, 400, "obsolete header line folding");
        if (++nheaders > HS_MAX_HEADERS)
            return bad(req, 400, "too many header fields");
        const char *colon = memchr(p, ':', (size_t) (eol - p));
        if (!colon || colon == p)
            return bad(req, 400, "malformed header field");
        for (const char *c = p; c < colon; c++)
            if (!is_tchar((unsigned char) *c))
                return bad(req, 400, "malformed header name");
        const char *v = colon + 1, *ve = eol;
        for (const char *c = v; c < ve; c++)
            if (!is_field_char((unsigned char) *c))
                return bad(req, 400, "control character in header value");
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nlen = (size_t) (colon - p);
        if ((nlen == 14 && strncasecmp(p, "content-length", 14) == 0 &&
             !(ve - v == 1 && *v == '0')) ||
            (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0))
            return bad(req, 400, "a request body is not accepted");
        for (int k = 0; k < H_COUNT; k++) {
            if (strlen(header_names[k]) == nlen && strncasecmp(p, header_names[k], nlen) == 0) {
                if (h[k].seen && k != H_CONNECTION)
                    return bad(req, 400, "repeated header field");
                h[k].seen = 1;
                h[k].v = v;
                h[k].len = (size_t) (ve - v);
            }
        }
        p = eol + 2;
    }
    if (!h[H_HOST].seen || h[H_HOST].len == 0)
        return bad(req, 400, "missing Host");

    /* Route */
    const char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t) (q - target) : tlen;
    if (plen == 3 && memcmp(target, "/ws", 3) == 0)
        req->route = HS_ROUTE_WS;
    else if (plen == 8 && memcmp(target, "/healthz", 8) == 0)
        req->route = HS_ROUTE_HEALTHZ;
    else if (plen == 8 && memcmp(target, "/metrics", 8) == 0)
        req->route = HS_ROUTE_METRICS;
    else
        return bad(req, 404, "no such path");
    if (!is_get)
        return bad(req, 405, "only GET is allowed");
    if (req->route != HS_ROUTE_WS)
        return HS_DONE;

    /* The WebSocket upgrade (RFC 6455 section 4.2.1) */
    if (!h[H_UPGRADE].seen || !http_list_has(h[H_UPGRADE].v, h[H_UPGRADE].len, "websocket"))
        return bad(req, 426, "this path speaks WebSocket only");
    if (!h[H_CONNECTION].seen || !http_list_has(h[H_CONNECTION].v, h[H_CONNECTION].len, "upgrade"))
        return bad(req, 400, "Connection must include Upgrade");
    if (!h[H_VERSION].seen || h[H_VERSION].len != 2 || memcmp(h[H_VERSION].v, "13", 2) != 0) {
        req->want_version_header = 1;
        return bad(req, 426, "unsupported Sec-WebSocket-Version");
    }
    if (!h[H_KEY].seen || !valid_key(h[H_KEY].v, h[H_KEY].len))
        return bad(req, 400, "missing or malformed Sec-WebSocket-Key");
    memcpy(req->key, h[H_KEY].v, HS_KEY_LEN);
    req->key[HS_KEY_LEN] = '\0';
    if (h[H_ORIGIN].seen) {
        if (h[H_ORIGIN].len > HS_ORIGIN_MAX)
            return bad(req, 403, "origin not allowed");
        memcpy(req->origin, h[H_ORIGIN].v, h[H_ORIGIN].len);
        req->origin[h[H_ORIGIN].len] = '\0';
        req->has_origin = 1;
    }
    if (q && parse_query(q + 1, tlen - plen - 1, req) != 0)
        return bad(req, 400, "malformed query string");
    return HS_DONE;
}

void hs_accept_key(const char *key, char out[HS_ACCEPT_LEN + 1])
{
    /* SHA-1 of 60 bytes cannot fail short of a broken libcrypto; out is
     * then "", which no client accepts. */
    (void) ws_accept_key(key, out);
}

int hs_origin_allowed(const char *allowed, const char *origin)
{
    size_t olen = strlen(origin);
    const char *p = allowed;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t) (e - start) == olen && olen > 0 && strncasecmp(start, origin, olen) == 0)
            return 1;
    }
    return 0;
}

size_t hs_format_response(char *buf, size_t cap, int status, const char *extra,
                          const char *content_type, const char *body, size_t body_len)
{
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, http_reason(status), content_type, body_len, extra ? extra : "");
    if (n < 0 || (size_t) n >= cap || body_len > cap - (size_t) n)
        return 0;
    memcpy(buf + n, body, body_len);
    return (size_t) n + body_len;
}
