/*
 * check_handshake.c - the relay's HTTP/1.1 handshake parser: good requests,
 * each malformed or missing header, oversized requests, requests split
 * across reads, and the Sec-WebSocket-Accept computation (RFC 6455's own
 * example).
 */
#include "handshake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static const char *good =
    "GET /ws?token=abc_DEF-123 HTTP/1.1\r\n"
    "Host: 127.0.0.1:8090\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: " KEY "\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: http://127.0.0.1:8080\r\n"
    "\r\n";

static int parse(const char *s, struct hs_request *req)
{
    return hs_parse(s, strlen(s), req);
}

/* expect_status: s is refused with `status`. */
static void expect_status(const char *s, int status)
{
    struct hs_request req;
    int rc = parse(s, &req);
    ck_assert_msg(rc == HS_BAD, "expected HS_BAD (%d) for:\n%s\ngot %d", status, s, rc);
    ck_assert_msg(req.status == status, "expected status %d, got %d (%s) for:\n%s", status,
                  req.status, req.reason, s);
}

/* with: the good request with one header line replaced (or removed when
 * repl is ""), into buf. */
static const char *with(char *buf, size_t cap, const char *header, const char *repl)
{
    const char *at = strstr(good, header);
    ck_assert_ptr_nonnull(at);
    const char *eol = strstr(at, "\r\n") + 2;
    snprintf(buf, cap, "%.*s%s%s", (int) (at - good), good, repl, eol);
    return buf;
}

START_TEST(test_handshake_good_upgrade)
{
    struct hs_request req;
    ck_assert_int_eq(parse(good, &req), HS_DONE);
    ck_assert_int_eq(req.route, HS_ROUTE_WS);
    ck_assert_str_eq(req.key, KEY);
    ck_assert_str_eq(req.token, "abc_DEF-123");
    ck_assert_int_eq(req.has_origin, 1);
    ck_assert_str_eq(req.origin, "http://127.0.0.1:8080");
    ck_assert_uint_eq(req.length, strlen(good));
}
END_TEST

START_TEST(test_handshake_accept_key_rfc_example)
{
    char out[HS_ACCEPT_LEN + 1];
    hs_accept_key(KEY, out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_handshake_other_routes)
{
    struct hs_request req;
    ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &req), HS_DONE);
    ck_assert_int_eq(req.route, HS_ROUTE_HEALTHZ);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &req), HS_DONE);
    ck_assert_int_eq(req.route, HS_ROUTE_METRICS);
    expect_status("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404);
    expect_status("GET /wsx HTTP/1.1\r\nHost: x\r\n\r\n", 404);
    expect_status("POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405);
    expect_status("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426);
}
END_TEST

START_TEST(test_handshake_each_bad_header)
{
    char buf[2048];
    expect_status(with(buf, sizeof buf, "Host:", ""), 400);
    expect_status(with(buf, sizeof buf, "Host:", "Host: \r\n"), 400);
    expect_status(with(buf, sizeof buf, "Upgrade:", ""), 426);
    expect_status(with(buf, sizeof buf, "Upgrade:", "Upgrade: h2c\r\n"), 426);
    expect_status(with(buf, sizeof buf, "Connection:", ""), 400);
    expect_status(with(buf, sizeof buf, "Connection:", "Connection: keep-alive\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Sec-WebSocket-Key:", ""), 400);
    expect_status(with(buf, sizeof buf, "Sec-WebSocket-Key:", "Sec-WebSocket-Key: short==\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Sec-WebSocket-Key:",
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!=\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Sec-WebSocket-Version:", ""), 426);
    struct hs_request req;
    ck_assert_int_eq(parse(with(buf, sizeof buf, "Sec-WebSocket-Version:",
                                "Sec-WebSocket-Version: 8\r\n"), &req), HS_BAD);
    ck_assert_int_eq(req.status, 426);
    ck_assert_int_eq(req.want_version_header, 1);
    /* Repeated decisive headers, bodies, bad names and values */
    expect_status(with(buf, sizeof buf, "Origin:", "Origin: a\r\nOrigin: b\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Host:", "Host: a\r\nHost: b\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "Content-Length: 5\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "Transfer-Encoding: chunked\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "Bad Name: x\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "NoColon\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "X-A: a\x01b\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "X-A: a\r\n folded\r\n"), 400);
    /* Request line */
    expect_status("GET /ws HTTP/1.0\r\nHost: x\r\n\r\n", 400);
    expect_status("GET  /ws HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    expect_status("GET ws HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    expect_status("G(T /ws HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    expect_status("GET /ws\r\nHost: x\r\n\r\n", 400);
    /* Line ends and bytes */
    expect_status("GET /ws HTTP/1.1\nHost: x\r\n\r\n", 400);
    ck_assert_int_eq(hs_parse("GET /\0 HTTP/1.1\r\n\r\n", 19, &req), HS_BAD);
    /* Query */
    expect_status(with(buf, sizeof buf, "GET ", "GET /ws?token=%zz HTTP/1.1\r\n"), 400);
    expect_status(with(buf, sizeof buf, "GET ", "GET /ws?token=a&token=b HTTP/1.1\r\n"), 400);
}
END_TEST

/* A CR not followed by LF is no line end: it must not hide a header
 * behind an innocent one (the byte after it used to be skipped). */
START_TEST(test_handshake_bare_cr)
{
    char buf[2048], hidden[2048];
    expect_status(with(buf, sizeof buf, "Origin:", "X-Note: a\rOrigin: http://evil.example\r\n"),
                  400);
    expect_status(with(buf, sizeof buf, "Origin:", "X-Note: a\rxOrigin: http://evil.example\r\n"),
                  400);
    /* The only Sec-WebSocket-Key sits behind a bare CR. */
    with(hidden, sizeof hidden, "Sec-WebSocket-Key:", "X-Note: a\rxSec-WebSocket-Key: " KEY "\r\n");
    expect_status(hidden, 400);
    /* Bare CR before the CRLF, in a name, in the request line, as a line. */
    expect_status(with(buf, sizeof buf, "Origin:", "X-Note: a\r\r\n"), 400);
    expect_status(with(buf, sizeof buf, "Origin:", "X-\rNote: a\r\n"), 400);
    expect_status(with(buf, sizeof buf, "GET ", "GET /ws\rx HTTP/1.1\r\n"), 400);
    expect_status(with(buf, sizeof buf, "GET ", "GET /ws HTTP/1.1\rxHTTP/1.1\r\n"), 400);
    expect_status("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\r\n\r\n", 400);
    /* A CR that is the last byte read so far may be followed by LF later. */
    struct hs_request req;
    ck_assert_int_eq(hs_parse(good, (size_t) (strstr(good, "\r\n") - good) + 1, &req),
                     HS_INCOMPLETE);
}
END_TEST

START_TEST(test_handshake_token_forms)
{
    char buf[2048];
    struct hs_request req;
    ck_assert_int_eq(parse(with(buf, sizeof buf, "GET ", "GET /ws?x=1&token=a%2Db&y=2 HTTP/1.1\r\n"),
                           &req), HS_DONE);
    ck_assert_str_eq(req.token, "a-b");
    ck_assert_int_eq(parse(with(buf, sizeof buf, "GET ", "GET /ws HTTP/1.1\r\n"), &req), HS_DONE);
    ck_assert_str_eq(req.token, "");
    char line[512];
    snprintf(line, sizeof line, "GET /ws?token=%0*d HTTP/1.1\r\n", HS_TOKEN_MAX + 1, 0);
    ck_assert_int_eq(parse(with(buf, sizeof buf, "GET ", line), &req), HS_DONE);
    ck_assert_int_eq(req.token_too_long, 1);
}
END_TEST

START_TEST(test_handshake_oversized)
{
    size_t n = HS_MAX_REQUEST + 100;
    char *big = malloc(n + 1);
    int o = snprintf(big, n, "GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(big + o, 'a', n - (size_t) o);
    big[n] = '\0';
    struct hs_request req;
    /* Not finished but below the cap: wait for more. */
    ck_assert_int_eq(hs_parse(big, HS_MAX_REQUEST - 1, &req), HS_INCOMPLETE);
    /* At the cap without a blank line: refused. */
    ck_assert_int_eq(hs_parse(big, HS_MAX_REQUEST, &req), HS_BAD);
    ck_assert_int_eq(req.status, 400);
    free(big);

    /* Too many header fields. */
    char many[HS_MAX_REQUEST];
    o = snprintf(many, sizeof many, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i <= HS_MAX_HEADERS; i++)
        o += snprintf(many + o, sizeof many - (size_t) o, "X-%d: y\r\n", i);
    snprintf(many + o, sizeof many - (size_t) o, "\r\n");
    expect_status(many, 400);
}
END_TEST

/* Every prefix of a good request is INCOMPLETE; the whole is DONE, and
 * bytes after the blank line (an early frame) are not part of it. */
START_TEST(test_handshake_split_reads)
{
    struct hs_request req;
    size_t len = strlen(good);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(hs_parse(good, i, &req) == HS_INCOMPLETE, "prefix of %zu bytes not incomplete", i);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s\x81\x80", good);
    ck_assert_int_eq(hs_parse(buf, strlen(buf), &req), HS_DONE);
    ck_assert_uint_eq(req.length, len);
}
END_TEST

START_TEST(test_handshake_origin_allow_list)
{
    const char *list = "http://127.0.0.1:8080, http://localhost:8080";
    ck_assert_int_eq(hs_origin_allowed(list, "http://127.0.0.1:8080"), 1);
    ck_assert_int_eq(hs_origin_allowed(list, "HTTP://LOCALHOST:8080"), 1);
    ck_assert_int_eq(hs_origin_allowed(list, "http://localhost:808"), 0);
    ck_assert_int_eq(hs_origin_allowed(list, "http://evil.example"), 0);
    ck_assert_int_eq(hs_origin_allowed(list, "null"), 0);
    ck_assert_int_eq(hs_origin_allowed("", "http://127.0.0.1:8080"), 0);
    ck_assert_int_eq(hs_origin_allowed(list, ""), 0);
}
END_TEST

START_TEST(test_handshake_format_response)
{
    char buf[256];
    size_t n = hs_format_response(buf, sizeof buf, 503, "Retry-After: 1\r\n", "text/plain",
                                  "busy\n", 5);
    ck_assert_uint_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0, "got %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "Content-Length: 5\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "Retry-After: 1\r\n\r\nbusy\n"));
    ck_assert_uint_eq(hs_format_response(buf, 40, 200, NULL, "text/plain", "x", 1), 0);
}
END_TEST

Suite *handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_handshake_good_upgrade);
    tcase_add_test(tc, test_handshake_accept_key_rfc_example);
    tcase_add_test(tc, test_handshake_other_routes);
    tcase_add_test(tc, test_handshake_each_bad_header);
    tcase_add_test(tc, test_handshake_bare_cr);
    tcase_add_test(tc, test_handshake_token_forms);
    tcase_add_test(tc, test_handshake_oversized);
    tcase_add_test(tc, test_handshake_split_reads);
    tcase_add_test(tc, test_handshake_origin_allow_list);
    tcase_add_test(tc, test_handshake_format_response);
    suite_add_tcase(s, tc);
    return s;
}
