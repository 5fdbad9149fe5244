/*
 * check_admission.c - the relay's admission bookkeeping: the oldest
 * HTTP-stage connection is the victim when the share is full or no
 * descriptor is left, an address at its limit gives up its own oldest
 * (not another address's), loopback peers are exempt unless asked, IPv6
 * peers count per /64, and open connections are capped per user.
 */
#include "admission.h"
#include "errors.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

static int64_t key4(const struct admission *a, const char *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return admission_addr_key(a, (struct sockaddr *) &sa, sizeof sa);
}

static int64_t key6(const struct admission *a, const char *ip)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    return admission_addr_key(a, (struct sockaddr *) &sa, sizeof sa);
}

START_TEST(test_admission_oldest_is_shed)
{
    struct admission a;
    struct adm_entry e[5];
    memset(e, 0, sizeof e);
    admission_init(&a, 3, 0, 0, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(admission_victim(&a, 0, 0));
        ck_assert_int_eq(admission_add(&a, &e[i], 0), 0);
    }
    ck_assert_uint_eq(admission_listed(&a), 3);
    /* Full: the oldest goes first, then the next oldest. */
    ck_assert_ptr_eq(admission_victim(&a, 0, 0), &e[0]);
    admission_remove(&a, &e[0]);
    ck_assert_int_eq(admission_add(&a, &e[3], 0), 0);
    /* One that left the HTTP stage is no longer a candidate. */
    admission_remove(&a, &e[1]);
    admission_remove(&a, &e[1]); /* twice: a no-op */
    ck_assert_uint_eq(admission_listed(&a), 2);
    ck_assert_ptr_null(admission_victim(&a, 0, 0));
    /* No descriptor left: the oldest, however short the list. */
    ck_assert_ptr_eq(admission_victim(&a, 0, 1), &e[2]);
    admission_remove(&a, &e[2]);
    admission_remove(&a, &e[3]);
    ck_assert_uint_eq(admission_listed(&a), 0);
    ck_assert_ptr_null(admission_victim(&a, 0, 1)); /* nothing to shed */
    ck_assert_int_eq(admission_add(&a, &e[4], 0), 0);
    ck_assert_ptr_eq(admission_victim(&a, 0, 1), &e[4]);
    admission_deinit(&a);
}
END_TEST

START_TEST(test_admission_per_address)
{
    struct admission a;
    struct adm_entry e[6];
    memset(e, 0, sizeof e);
    admission_init(&a, 100, 2, 1, 0);
    int64_t x = key4(&a, "192.0.2.1"), y = key4(&a, "198.51.100.7");
    ck_assert_int_gt(x, 0);
    ck_assert_int_ne(x, y);
    ck_assert_int_eq(admission_add(&a, &e[0], x), 0);
    ck_assert_int_eq(admission_add(&a, &e[1], y), 0);
    ck_assert_int_eq(admission_add(&a, &e[2], x), 0);
    ck_assert_uint_eq(admission_addr_count(&a, x), 2);
    /* x is at its limit: x's oldest goes, even though y's is older than x's second. */
    ck_assert_ptr_eq(admission_victim(&a, x, 0), &e[0]);
    ck_assert_ptr_null(admission_victim(&a, y, 0));
    admission_remove(&a, &e[0]);
    ck_assert_int_eq(admission_add(&a, &e[3], x), 0);
    ck_assert_ptr_eq(admission_victim(&a, x, 0), &e[2]);
    /* The same IPv4 address seen as IPv4-mapped IPv6 is the same peer. */
    ck_assert_int_eq(key6(&a, "::ffff:192.0.2.1"), x);
    admission_remove(&a, &e[1]);
    admission_remove(&a, &e[2]);
    admission_remove(&a, &e[3]);
    ck_assert_uint_eq(admission_addr_count(&a, x), 0);
    ck_assert_uint_eq(admission_addr_count(&a, y), 0);
    admission_deinit(&a);
}
END_TEST

START_TEST(test_admission_address_keys)
{
    struct admission a;
    admission_init(&a, 10, 32, 0, 0);
    /* Loopback peers (a local reverse proxy) are not limited by default. */
    ck_assert_int_eq(key4(&a, "127.0.0.1"), 0);
    ck_assert_int_eq(key4(&a, "127.9.9.9"), 0);
    ck_assert_int_eq(key6(&a, "::1"), 0);
    ck_assert_int_eq(key6(&a, "::ffff:127.0.0.1"), 0);
    /* One IPv6 /64 is one peer; the next /64 is another. */
    int64_t p = key6(&a, "2001:db8:1:2::1");
    ck_assert_int_gt(p, 0);
    ck_assert_int_eq(key6(&a, "2001:db8:1:2:ffff::9"), p);
    ck_assert_int_ne(key6(&a, "2001:db8:1:3::1"), p);
    ck_assert_int_ne(key6(&a, "2001:db9:1:2::1"), p);
    ck_assert_int_ne(key4(&a, "0.0.0.0"), key4(&a, "0.0.0.1"));
    ck_assert_int_gt(key4(&a, "0.0.0.0"), 0);
    admission_deinit(&a);

    admission_init(&a, 10, 32, 1, 0);
    ck_assert_int_gt(key4(&a, "127.0.0.1"), 0);
    ck_assert_int_ne(key4(&a, "127.0.0.1"), key4(&a, "127.0.0.2"));
    ck_assert_int_gt(key6(&a, "::1"), 0);
    admission_deinit(&a);

    admission_init(&a, 10, 0, 1, 0); /* no per-address limit: nothing counted */
    ck_assert_int_eq(key4(&a, "192.0.2.1"), 0);
    admission_deinit(&a);
}
END_TEST

START_TEST(test_admission_per_user)
{
    struct admission a;
    admission_init(&a, 10, 0, 0, 2);
    ck_assert_int_eq(admission_user_open(&a, 7), 0);
    ck_assert_int_eq(admission_user_open(&a, 7), 0);
    ck_assert_int_eq(admission_user_open(&a, 7), ERR_TOO_LARGE);
    ck_assert_uint_eq(admission_user_count(&a, 7), 2);
    ck_assert_int_eq(admission_user_open(&a, 8), 0); /* another user is not affected */
    admission_user_close(&a, 7);
    ck_assert_int_eq(admission_user_open(&a, 7), 0);
    admission_user_close(&a, 7);
    admission_user_close(&a, 7);
    admission_user_close(&a, 8);
    ck_assert_uint_eq(admission_user_count(&a, 7), 0);
    ck_assert_uint_eq(admission_user_count(&a, 8), 0);
    admission_deinit(&a);

    admission_init(&a, 10, 0, 0, 0); /* 0: no cap */
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(admission_user_open(&a, 9), 0);
    ck_assert_uint_eq(admission_user_count(&a, 9), 1000);
    admission_deinit(&a);
}
END_TEST

Suite *admission_suite(void)
{
    Suite *s = suite_create("admission");
    TCase *tc = tcase_create("admission");
    tcase_add_test(tc, test_admission_oldest_is_shed);
    tcase_add_test(tc, test_admission_per_address);
    tcase_add_test(tc, test_admission_address_keys);
    tcase_add_test(tc, test_admission_per_user);
    suite_add_tcase(s, tc);
    return s;
}
