/*
 * fuzz_handshake.c - the relay's HTTP request parser (hs_parse) on bytes
 * straight from a socket, the first thing an unauthenticated peer reaches.
 *
 * The input is the relay's read buffer (cut at HS_MAX_REQUEST, in a heap
 * block of exactly that size so a read past it is caught). Properties: a
 * refusal has a status and a reason; a served request has a key of the
 * right size for /ws and a length inside the buffer; one byte less of it
 * is still incomplete and the request alone parses the same way, so the
 * answer does not depend on how reads split it or on what follows it.
 */
#include "fuzz.h"
#include "handshake.h"

#include <stdlib.h>
#include <string.h>

int fuzz_handshake_one(const uint8_t *data, size_t size)
{
    size_t len = size < HS_MAX_REQUEST ? size : HS_MAX_REQUEST;
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    if (len)
        memcpy(buf, data, len);

    struct hs_request req, again;
    int rc = hs_parse(buf, len, &req);
    FUZZ_CHECK(rc == HS_INCOMPLETE || rc == HS_DONE || rc == HS_BAD);
    if (rc == HS_INCOMPLETE)
        FUZZ_CHECK(len < HS_MAX_REQUEST);
    if (rc == HS_BAD) {
        /* 403 too: an over-long Origin, though handshake.h does not list it */
        FUZZ_CHECK(req.status == 400 || req.status == 403 || req.status == 404 ||
                   req.status == 405 || req.status == 426);
        FUZZ_CHECK(req.reason != NULL);
    }
    if (rc == HS_DONE) {
        FUZZ_CHECK(req.length >= 4 && req.length <= len);
        FUZZ_CHECK(strlen(req.token) <= HS_TOKEN_MAX);
        FUZZ_CHECK(strlen(req.origin) <= HS_ORIGIN_MAX);
        if (req.route == HS_ROUTE_WS) {
            char accept[HS_ACCEPT_LEN + 1];
            FUZZ_CHECK(strlen(req.key) == HS_KEY_LEN);
            hs_accept_key(req.key, accept);
            FUZZ_CHECK(strlen(accept) == HS_ACCEPT_LEN);
            (void) hs_origin_allowed("http://127.0.0.1:8080, https://chat.example", req.origin);
        }
        FUZZ_CHECK(hs_parse(buf, req.length - 1, &again) == HS_INCOMPLETE);
        FUZZ_CHECK(hs_parse(buf, req.length, &again) == HS_DONE);
        FUZZ_CHECK(again.route == req.route && again.length == req.length);
        FUZZ_CHECK(strcmp(again.token, req.token) == 0);
    }
    free(buf);
    return 0;
}

FUZZ_TARGET(fuzz_handshake_one)
