/* check_latstats.c - exact nearest-rank percentiles of the load generator. */
#include "latstats.h"

#include <check.h>

START_TEST(test_latstats_nearest_rank)
{
    struct latstats s;
    latstats_init(&s);
    ck_assert_int_eq((int) latstats_pct(&s, 50), 0);
    for (int i = 100; i >= 1; i--) /* 1..100, added out of order */
        ck_assert_int_eq(latstats_add(&s, i), 0);
    ck_assert_int_eq((int) latstats_pct(&s, 50), 50);
    ck_assert_int_eq((int) latstats_pct(&s, 99), 99);
    ck_assert_int_eq((int) latstats_pct(&s, 99.5), 100);
    ck_assert_int_eq((int) latstats_pct(&s, 100), 100);
    ck_assert_int_eq((int) latstats_pct(&s, 0.1), 1);
    ck_assert_msg(latstats_mean(&s) == 50.5, "expected mean 50.5, got %f", latstats_mean(&s));
    latstats_add(&s, 1000); /* a late sample re-sorts */
    ck_assert_int_eq((int) latstats_pct(&s, 100), 1000);
    latstats_reset(&s);
    ck_assert_uint_eq(s.n, 0);
    latstats_add(&s, -5);
    ck_assert_int_eq((int) latstats_pct(&s, 50), 0);
    latstats_deinit(&s);
}
END_TEST

START_TEST(test_latstats_grows_past_first_block)
{
    struct latstats s;
    latstats_init(&s);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(latstats_add(&s, i % 1000), 0);
    ck_assert_uint_eq(s.n, 10000);
    ck_assert_int_eq((int) latstats_pct(&s, 50), 499);
    ck_assert_int_eq((int) latstats_pct(&s, 100), 999);
    latstats_deinit(&s);
}
END_TEST

Suite *latstats_suite(void)
{
    Suite *s = suite_create("latstats");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_latstats_nearest_rank);
    tcase_add_test(t, test_latstats_grows_past_first_block);
    suite_add_tcase(s, t);
    return s;
}
