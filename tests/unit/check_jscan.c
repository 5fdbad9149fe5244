/* check_jscan.c - the load generator's JSON field scanner. */
#include "errors.h"
#include "jscan.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LEN(s) (strlen(s))

START_TEST(test_jscan_fields_of_relay_frames)
{
    const char *ack = "{\"type\":\"ACK\",\"clientMsgId\":\"p1.7.42.123456\",\"id\":\"65a1\","
                      "\"seq\":12,\"createdAt\":\"2026-11-29T10:00:00.123Z\"}";
    const char *v;
    size_t n;
    int64_t seq;
    ck_assert(jscan_eq(ack, LEN(ack), "type", "ACK"));
    ck_assert_int_eq(jscan_str(ack, LEN(ack), "clientMsgId", &v, &n), 0);
    ck_assert_uint_eq(n, strlen("p1.7.42.123456"));
    ck_assert(memcmp(v, "p1.7.42.123456", n) == 0);
    ck_assert_int_eq(jscan_int(ack, LEN(ack), "seq", &seq), 0);
    ck_assert_int_eq(seq, 12);

    const char *msg = "{ \"type\" : \"MESSAGE\", \"chatMessage\": {\"id\":\"x\",\"chatRoomId\":"
                      "9007199254740993, \"seq\" :\t-3,\"chatType\":\"TEXT\",\"message\":"
                      "\"say \\\"seq\\\":99 \\\\\",\"clientMsgId\":\"c-1\"}}";
    ck_assert(jscan_eq(msg, LEN(msg), "type", "MESSAGE"));
    ck_assert(!jscan_eq(msg, LEN(msg), "type", "MESSAG"));
    ck_assert_int_eq(jscan_int(msg, LEN(msg), "chatRoomId", &seq), 0);
    ck_assert(seq == INT64_C(9007199254740993));
    ck_assert_int_eq(jscan_int(msg, LEN(msg), "seq", &seq), 0);
    ck_assert_int_eq(seq, -3);
    /* keys inside string values are not keys */
    ck_assert_int_eq(jscan_str(msg, LEN(msg), "clientMsgId", &v, &n), 0);
    ck_assert(n == 3 && memcmp(v, "c-1", 3) == 0);
}
END_TEST

START_TEST(test_jscan_missing_and_wrong_types)
{
    const char *j = "{\"a\":\"x\",\"b\":12.5,\"c\":\"\",\"d\":99999999999999999999,\"e\":true}";
    const char *v;
    size_t n;
    int64_t x;
    ck_assert_int_eq(jscan_str(j, LEN(j), "zz", &v, &n), ERR_NOT_FOUND);
    ck_assert_int_eq(jscan_int(j, LEN(j), "a", &x), ERR_INVALID);
    ck_assert_int_eq(jscan_int(j, LEN(j), "b", &x), ERR_INVALID);
    ck_assert_int_eq(jscan_int(j, LEN(j), "d", &x), ERR_INVALID);
    ck_assert_int_eq(jscan_str(j, LEN(j), "e", &v, &n), ERR_INVALID);
    ck_assert_int_eq(jscan_str(j, LEN(j), "c", &v, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_jscan_stays_inside_the_buffer)
{
    /* cut at every length: never reads past len, never finds half a value */
    const char *j = "{\"type\":\"ACK\",\"seq\":1234,\"k\":\"a\\\"b\"}";
    for (size_t len = 0; len < strlen(j) - 1; len++) { /* the last byte is the brace */
        char *copy = strndup(j, len);                  /* no NUL beyond len for ASan to forgive */
        const char *v;
        size_t n;
        int64_t x;
        int rs = jscan_str(copy, len, "k", &v, &n);
        ck_assert_msg(rs != 0, "cut at %zu: expected no complete \"k\", got one", len);
        int ri = jscan_int(copy, len, "seq", &x);
        if (ri == 0)
            ck_assert_msg(x <= 1234, "cut at %zu: expected a prefix of 1234, got %lld", len,
                          (long long) x);
        free(copy);
    }
    const char *v;
    size_t n;
    ck_assert_int_eq(jscan_str(j, strlen(j), "k", &v, &n), 0);
    ck_assert(n == 4 && memcmp(v, "a\\\"b", 4) == 0);
}
END_TEST

Suite *jscan_suite(void)
{
    Suite *s = suite_create("jscan");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_jscan_fields_of_relay_frames);
    tcase_add_test(t, test_jscan_missing_and_wrong_types);
    tcase_add_test(t, test_jscan_stays_inside_the_buffer);
    suite_add_tcase(s, t);
    return s;
}
