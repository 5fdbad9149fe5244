/* check_textrules.c - the NUL rule for JSON text (shared/jsonnul.h), the
 * UTF-8 character count (shared/utf8.h), HTTP reason phrases
 * (shared/http_reason.h), comma-separated header values
 * (shared/http_list.h) and Sec-WebSocket-Accept (shared/ws_accept.h). */
#include "http_list.h"
#include "http_reason.h"
#include "jsonnul.h"
#include "utf8.h"
#include "ws_accept.h"

#include <check.h>
#include <string.h>

static int has_nul(const char *s)
{
    return json_has_nul(s, strlen(s));
}

START_TEST(test_textrules_json_nul)
{
    ck_assert_int_eq(has_nul("{\"a\":\"b\"}"), 0);
    ck_assert_int_eq(has_nul("{\"a\":\"b\\u0000c\"}"), 1);
    ck_assert_int_eq(has_nul("{\"a\":\"b\\\\u0000c\"}"), 0);  /* an escaped backslash */
    ck_assert_int_eq(has_nul("{\"a\":\"b\\\\\\u0000\"}"), 1); /* backslash, then the escape */
    ck_assert_int_eq(has_nul("{\"a\":\"\\u00001\"}"), 1);
    ck_assert_int_eq(has_nul("{\"a\":\"\\u0001\"}"), 0);
    ck_assert_int_eq(has_nul("\"\\u000"), 0);                /* cut short: not an escape of NUL */
    ck_assert_int_eq(json_has_nul("{\"a\":\"b\0\"}", 9), 1); /* a raw NUL byte */
}
END_TEST

START_TEST(test_textrules_utf8_count)
{
    size_t chars = 99;
    ck_assert_int_eq(utf8_valid("", 0, &chars), 1);
    ck_assert_uint_eq(chars, 0);
    const char *mixed = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a, e-acute, euro, emoji */
    ck_assert_int_eq(utf8_valid(mixed, strlen(mixed), &chars), 1);
    ck_assert_uint_eq(chars, 4);
    ck_assert_int_eq(utf8_valid("\xc0\xaf", 2, &chars), 0);         /* overlong */
    ck_assert_int_eq(utf8_valid("\xed\xa0\x80", 3, &chars), 0);     /* a surrogate */
    ck_assert_int_eq(utf8_valid("\xf4\x90\x80\x80", 4, &chars), 0); /* above U+10FFFF */
    ck_assert_int_eq(utf8_valid("\xc3", 1, &chars), 0);             /* cut short */
}
END_TEST

START_TEST(test_textrules_http_reasons)
{
    ck_assert_str_eq(http_reason(101), "Switching Protocols");
    ck_assert_str_eq(http_reason(200), "OK");
    ck_assert_str_eq(http_reason(413), "Payload Too Large");
    ck_assert_str_eq(http_reason(426), "Upgrade Required");
    ck_assert_str_eq(http_reason(429), "Too Many Requests");
    ck_assert_str_eq(http_reason(503), "Service Unavailable");
    ck_assert_str_eq(http_reason(299), "Unknown");
}
END_TEST

static int listed(const char *v, const char *tok)
{
    return http_list_has(v, strlen(v), tok);
}

START_TEST(test_textrules_http_list)
{
    ck_assert_int_eq(listed("Upgrade", "upgrade"), 1);
    ck_assert_int_eq(listed("keep-alive, Upgrade", "upgrade"), 1);
    ck_assert_int_eq(listed(" ,keep-alive ,\tUPGRADE\t, ", "upgrade"), 1);
    ck_assert_int_eq(listed("keep-alive", "upgrade"), 0);
    ck_assert_int_eq(listed("upgraded, x-upgrade", "upgrade"), 0);
    ck_assert_int_eq(listed("", "upgrade"), 0);
    ck_assert_int_eq(http_list_has("upgrade", 3, "upgrade"), 0); /* only len bytes count */
}
END_TEST

START_TEST(test_textrules_ws_accept_rfc_example)
{
    char out[WS_ACCEPT_LEN + 1];
    ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0); /* RFC 6455 1.3 */
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ck_assert_uint_eq(strlen(out), WS_ACCEPT_LEN);
}
END_TEST

Suite *textrules_suite(void)
{
    Suite *s = suite_create("textrules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_textrules_json_nul);
    tcase_add_test(tc, test_textrules_utf8_count);
    tcase_add_test(tc, test_textrules_http_reasons);
    tcase_add_test(tc, test_textrules_http_list);
    tcase_add_test(tc, test_textrules_ws_accept_rfc_example);
    suite_add_tcase(s, tc);
    return s;
}
