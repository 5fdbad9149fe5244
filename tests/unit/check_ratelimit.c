/*
 * check_ratelimit.c - the per-connection token bucket, with the clock
 * passed in (no sleeping).
 */
#include "ratelimit.h"

#include <check.h>

START_TEST(test_ratelimit_burst_then_refuse)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 20, 60, 1000);
    for (int i = 0; i < 60; i++)
        ck_assert_msg(ratelimit_take(&rl, 1000) == 1, "message %d of the burst refused", i);
    ck_assert_int_eq(ratelimit_take(&rl, 1000), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 1000), 0);
}
END_TEST

START_TEST(test_ratelimit_refills_at_rate)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 20, 60, 0);
    for (int i = 0; i < 60; i++)
        ratelimit_take(&rl, 0);
    /* 20/s is one token per 50 ms. */
    ck_assert_int_eq(ratelimit_take(&rl, 49), 0);
    ck_assert_int_eq(ratelimit_take(&rl, 50), 1);
    ck_assert_int_eq(ratelimit_take(&rl, 50), 0);
    /* One second later: 20 more, not more. */
    int ok = 0;
    for (int i = 0; i < 30; i++)
        ok += ratelimit_take(&rl, 1050);
    ck_assert_int_eq(ok, 20);
}
END_TEST

START_TEST(test_ratelimit_never_exceeds_burst)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 1000000, 5, 0);
    int ok = 0;
    /* A day idle, then a flood: the bucket holds burst tokens only. */
    for (int i = 0; i < 100; i++)
        ok += ratelimit_take(&rl, 86400000LL);
    ck_assert_int_eq(ok, 5);
    /* A clock that goes backwards refills nothing. */
    ck_assert_int_eq(ratelimit_take(&rl, 0), 0);
}
END_TEST

Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, test_ratelimit_burst_then_refuse);
    tcase_add_test(tc, test_ratelimit_refills_at_rate);
    tcase_add_test(tc, test_ratelimit_never_exceeds_burst);
    suite_add_tcase(s, tc);
    return s;
}
