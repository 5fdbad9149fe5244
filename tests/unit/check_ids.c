/* check_ids.c - the id range (shared/ids.h) and decimal parsing
 * (shared/decimal.h) it is built on. */
#include "decimal.h"
#include "ids.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int parse_id(const char *s, int64_t *out)
{
    return id_parse(s, strlen(s), out);
}

START_TEST(test_ids_from_double_range)
{
    int64_t v = -7;
    ck_assert_int_eq(id_from_double(1.0, 1, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(id_from_double(9007199254740991.0, 1, &v), 0);
    ck_assert_int_eq(v, ID_MAX);
    v = -7;
    ck_assert_int_eq(id_from_double(9007199254740992.0, 1, &v), -1); /* 2^53 */
    /* 2^53 + 1, as a JSON parser reads it, is 2^53: refused, not rounded. */
    ck_assert_int_eq(id_from_double(strtod("9007199254740993", NULL), 1, &v), -1);
    ck_assert_int_eq(id_from_double(0.0, 1, &v), -1);
    ck_assert_int_eq(id_from_double(-1.0, 0, &v), -1);
    ck_assert_int_eq(id_from_double(1.5, 1, &v), -1);
    ck_assert_int_eq(id_from_double(__builtin_nan(""), 0, &v), -1);
    ck_assert_int_eq(id_from_double(__builtin_inf(), 0, &v), -1);
    ck_assert_int_eq(v, -7); /* untouched on refusal */
    ck_assert_int_eq(id_from_double(0.0, 0, &v), 0);
    ck_assert_int_eq(v, 0);
}
END_TEST

START_TEST(test_ids_parse_canonical_decimal)
{
    int64_t v = -7;
    ck_assert_int_eq(parse_id("1", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(parse_id("9007199254740991", &v), 0);
    ck_assert_int_eq(v, ID_MAX);
    v = -7;
    ck_assert_int_eq(parse_id("9007199254740992", &v), -1);
    ck_assert_int_eq(parse_id("99999999999999999999", &v), -1);
    ck_assert_int_eq(parse_id("0", &v), -1);
    ck_assert_int_eq(parse_id("07", &v), -1);
    ck_assert_int_eq(parse_id("+7", &v), -1);
    ck_assert_int_eq(parse_id("-7", &v), -1);
    ck_assert_int_eq(parse_id(" 7", &v), -1);
    ck_assert_int_eq(parse_id("7x", &v), -1);
    ck_assert_int_eq(parse_id("", &v), -1);
    ck_assert_int_eq(v, -7);
    /* only len bytes count */
    ck_assert_int_eq(id_parse("12/rest", 2, &v), 0);
    ck_assert_int_eq(v, 12);
}
END_TEST

START_TEST(test_ids_decimal_digits_only_and_overflow)
{
    int64_t v = -7;
    ck_assert_int_eq(dec_parse("0", 1, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(dec_parse("007", 3, &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(dec_parse("9223372036854775807", 19, &v), 0);
    ck_assert_int_eq(v, INT64_MAX);
    v = -7;
    ck_assert_int_eq(dec_parse("9223372036854775808", 19, &v), -1);
    ck_assert_int_eq(dec_parse("00000000000000000001", 20, &v), -1);
    ck_assert_int_eq(dec_parse("", 0, &v), -1);
    ck_assert_int_eq(dec_parse("1 ", 2, &v), -1);
    ck_assert_int_eq(dec_parse("0x10", 4, &v), -1);
    ck_assert_int_eq(dec_parse("-1", 2, &v), -1);
    ck_assert_int_eq(v, -7);
}
END_TEST

Suite *ids_suite(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ids_from_double_range);
    tcase_add_test(tc, test_ids_parse_canonical_decimal);
    tcase_add_test(tc, test_ids_decimal_digits_only_and_overflow);
    suite_add_tcase(s, tc);
    return s;
}
