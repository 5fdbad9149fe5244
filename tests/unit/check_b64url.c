/* check_b64url.c - strict unpadded base64url. */
#include "b64url.h"
#include "errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *plain, *text;
} vectors[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

START_TEST(test_b64url_known_vectors)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char out[32];
        unsigned char back[32];
        size_t n = 99;
        size_t len = strlen(vectors[i].plain);
        ck_assert_int_eq(b64url_encode(vectors[i].plain, len, out, sizeof out),
                         (int) strlen(vectors[i].text));
        ck_assert_str_eq(out, vectors[i].text);
        ck_assert_int_eq(b64url_decode(out, strlen(out), back, sizeof back, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(back, vectors[i].plain, len) == 0);
    }
}
END_TEST

START_TEST(test_b64url_url_safe_alphabet)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char out[8];
    b64url_encode(bytes, sizeof bytes, out, sizeof out);
    ck_assert_str_eq(out, "-_-_");
}
END_TEST

START_TEST(test_b64url_roundtrip_all_lengths)
{
    unsigned char src[70], back[70];
    char text[B64URL_ENC_LEN(70) + 1];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char) (i * 37 + 11);
    for (size_t len = 0; len <= sizeof src; len++) {
        size_t n = 0;
        int tl = b64url_encode(src, len, text, sizeof text);
        ck_assert_int_eq(tl, (int) B64URL_ENC_LEN(len));
        ck_assert_int_eq(b64url_decode(text, (size_t) tl, back, sizeof back, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(src, back, len) == 0);
    }
}
END_TEST

START_TEST(test_b64url_rejects_non_canonical_text)
{
    static const char *bad[] = {
        "Zg==",            /* padding */
        "Zm9v+w",          /* standard alphabet */
        "Zm9v/w", "Zm9vY", /* impossible length */
        "Zh",              /* stray bits in the last character */
        "Zm9 v",           /* whitespace */
        "Zm9v\n", "Zm9v.",
    };
    unsigned char out[16];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(b64url_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) == ERR_INVALID,
                      "expected ERR_INVALID for \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_b64url_bounded_buffers)
{
    char small[4];
    unsigned char out[2];
    size_t n;
    ck_assert_int_eq(b64url_encode("foo", 3, small, sizeof small), ERR_TOO_LARGE);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(b64url_encode("fo", 2, small, sizeof small), 3);
    ck_assert_int_eq(b64url_decode("Zm9v", 4, out, sizeof out, &n), ERR_TOO_LARGE);
    ck_assert_int_eq(b64url_decode("Zm8", 3, out, sizeof out, &n), 0);
    ck_assert_uint_eq(n, 2);
}
END_TEST

Suite *b64url_suite(void)
{
    Suite *s = suite_create("b64url");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_b64url_known_vectors);
    tcase_add_test(tc, test_b64url_url_safe_alphabet);
    tcase_add_test(tc, test_b64url_roundtrip_all_lengths);
    tcase_add_test(tc, test_b64url_rejects_non_canonical_text);
    tcase_add_test(tc, test_b64url_bounded_buffers);
    suite_add_tcase(s, tc);
    return s;
}
