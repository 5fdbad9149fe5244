/* check_jwt.c - HS256 verification per RFC 8725, and signing. */
#include "b64url.h"
#include "config.h"
#include "errors.h"
#include "jwt.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "test-secret-0123456789abcdef-0123456789"
#define NOW    1800000000LL

static struct config cfg;

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "%s", SECRET);
    cfg.jwt_leeway = 30;
    cfg.jwt_ttl = 3600;
}

/* make_token: header.payload.signature from raw JSON texts, signed with
 * HMAC(md) under `secret` (md NULL: the signature segment is `sig_text`). */
static char *make_token(const char *header, const char *payload, const EVP_MD *md,
                        const char *secret, const char *sig_text)
{
    static char tok[16384];
    size_t pos = 0;
    int n = b64url_encode(header, strlen(header), tok, sizeof tok);
    ck_assert_int_ge(n, 0);
    pos = (size_t) n;
    tok[pos++] = '.';
    n = b64url_encode(payload, strlen(payload), tok + pos, sizeof tok - pos);
    ck_assert_int_ge(n, 0);
    pos += (size_t) n;
    if (md) {
        unsigned char sig[EVP_MAX_MD_SIZE];
        unsigned int siglen = 0;
        HMAC(md, secret, (int) strlen(secret), (unsigned char *) tok, pos, sig, &siglen);
        tok[pos++] = '.';
        ck_assert_int_ge(b64url_encode(sig, siglen, tok + pos, sizeof tok - pos), 0);
    } else {
        snprintf(tok + pos, sizeof tok - pos, ".%s", sig_text ? sig_text : "");
    }
    return tok;
}

#define HS256_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static char *hs256(const char *payload)
{
    return make_token(HS256_HDR, payload, EVP_sha256(), SECRET, NULL);
}

static int verify(const char *tok, int64_t *sub)
{
    return jwt_verify(&cfg, tok, NOW, sub);
}

START_TEST(test_jwt_valid_token)
{
    int64_t sub = 0;
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800000100}"), &sub), 0);
    ck_assert_int_eq(sub, 42);
    /* an integral number as sub, no typ header, fractional exp */
    char *t = make_token("{\"alg\":\"HS256\"}", "{\"sub\":7,\"exp\":1800000100.5}", EVP_sha256(),
                         SECRET, NULL);
    ck_assert_int_eq(verify(t, &sub), 0);
    ck_assert_int_eq(sub, 7);
}
END_TEST

START_TEST(test_jwt_sign_then_verify)
{
    char tok[JWT_MAX_LEN];
    int64_t sub = 0;
    ck_assert_int_eq(jwt_sign(&cfg, 12345, NOW, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, &sub), 0);
    ck_assert_int_eq(sub, 12345);
    /* still valid just before exp, expired after ttl + leeway */
    ck_assert_int_eq(jwt_verify(&cfg, tok, NOW + 3600 + 29, &sub), 0);
    ck_assert_int_eq(jwt_verify(&cfg, tok, NOW + 3600 + 30, &sub), ERR_EXPIRED);
    ck_assert_int_eq(sub, 0);
}
END_TEST

START_TEST(test_jwt_sign_small_buffer)
{
    char tok[40];
    ck_assert_int_eq(jwt_sign(&cfg, 1, NOW, tok, sizeof tok), ERR_TOO_LARGE);
    ck_assert_str_eq(tok, "");
}
END_TEST

START_TEST(test_jwt_alg_none_rejected)
{
    int64_t sub = 99;
    const char *payload = "{\"sub\":\"42\",\"exp\":1800000100}";
    ck_assert_int_eq(verify(make_token("{\"alg\":\"none\"}", payload, NULL, NULL, ""), &sub),
                     ERR_AUTH);
    ck_assert_int_eq(sub, 0);
    /* "none" with a valid-looking HS256 signature attached is still refused */
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"none\"}", payload, EVP_sha256(), SECRET, NULL), &sub),
        ERR_AUTH);
    ck_assert_int_eq(verify(make_token("{\"alg\":\"None\"}", payload, NULL, NULL, ""), &sub),
                     ERR_AUTH);
    ck_assert_int_eq(
        verify(make_token("{\"typ\":\"JWT\"}", payload, EVP_sha256(), SECRET, NULL), &sub),
        ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_other_alg_rejected)
{
    int64_t sub;
    const char *payload = "{\"sub\":\"42\",\"exp\":1800000100}";
    /* HS512 with the right secret */
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS512\"}", payload, EVP_sha512(), SECRET, NULL), &sub),
        ERR_AUTH);
    /* RS256: the classic confusion attack signs with HMAC over the "public key" */
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"RS256\"}", payload, EVP_sha256(), SECRET, NULL), &sub),
        ERR_AUTH);
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"hs256\"}", payload, EVP_sha256(), SECRET, NULL), &sub),
        ERR_AUTH);
    ck_assert_int_eq(verify(make_token("{\"alg\":256}", payload, EVP_sha256(), SECRET, NULL), &sub),
                     ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_bad_signature)
{
    int64_t sub;
    const char *payload = "{\"sub\":\"42\",\"exp\":1800000100}";
    char *t = hs256(payload);
    size_t n = strlen(t);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(t, &sub), ERR_AUTH);
    ck_assert_int_eq(verify(make_token(HS256_HDR, payload, EVP_sha256(),
                                       "another-secret-of-enough"
                                       "-length-000",
                                       NULL),
                            &sub),
                     ERR_AUTH);
    /* empty, truncated and over-long signatures */
    ck_assert_int_eq(verify(make_token(HS256_HDR, payload, NULL, NULL, ""), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(make_token(HS256_HDR, payload, NULL, NULL, "AAAA"), &sub), ERR_AUTH);
    /* the payload changed after signing */
    char good[8192];
    snprintf(good, sizeof good, "%s", hs256(payload));
    char *other = hs256("{\"sub\":\"1\",\"exp\":1800000100}");
    char forged[8192];
    const char *sig = strrchr(good, '.');
    size_t head = (size_t) (strrchr(other, '.') - other);
    snprintf(forged, sizeof forged, "%.*s%s", (int) head, other, sig);
    ck_assert_int_eq(verify(forged, &sub), ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_expired)
{
    int64_t sub;
    /* exp in the past beyond the leeway */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1799999970}"), &sub), ERR_EXPIRED);
    /* inside the leeway still accepted */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1799999971}"), &sub), 0);
    cfg.jwt_leeway = 0;
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800000000}"), &sub), ERR_EXPIRED);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800000001}"), &sub), 0);
}
END_TEST

/* jwt_max_lifetime bounds exp - iat, and exp - now (plus the leeway) whether
 * or not iat is there; 0 turns the check off. */
START_TEST(test_jwt_max_lifetime)
{
    int64_t sub;
    cfg.jwt_max_lifetime = 86400;
    /* exactly the maximum from iat is accepted, one second more is not */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":1800000000,\"exp\":1800086400}"), &sub), 0);
    ck_assert_int_eq(sub, 42);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":1800000000,\"exp\":1800086401}"), &sub),
                     ERR_AUTH);
    ck_assert_int_eq(sub, 0);
    /* an old iat makes a token that is otherwise in date too long-lived */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1800000100}"), &sub),
                     ERR_AUTH);
    /* without iat, exp - now counts (the leeway allowed for clock skew) */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800086430}"), &sub), 0);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800086431}"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":253402300799}"), &sub), ERR_AUTH);
    /* an iat in the future does not stretch the lifetime */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":1900000000,\"exp\":1900000100}"), &sub),
                     ERR_AUTH);
    /* a malformed iat is refused */
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":\"now\",\"exp\":1800000100}"), &sub),
                     ERR_AUTH);
    /* the tokens this service mints fit */
    char tok[1024];
    ck_assert_int_eq(jwt_sign(&cfg, 42, NOW, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, &sub), 0);
    /* 0: no limit */
    cfg.jwt_max_lifetime = 0;
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1800000100}"), &sub), 0);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":253402300799}"), &sub), 0);
}
END_TEST

START_TEST(test_jwt_not_yet_valid)
{
    int64_t sub;
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800009999,\"nbf\":1800000031}"), &sub),
                     ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800009999,\"nbf\":1800000030}"), &sub),
                     0);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800009999,\"nbf\":\"soon\"}"), &sub),
                     ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_missing_or_bad_exp)
{
    int64_t sub;
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\"}"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":\"1800000100\"}"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":null}"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":-5}"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1e300}"), &sub), ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_bad_subject)
{
    static const char *claims[] = {
        "{\"exp\":1800000100}",
        "{\"sub\":\"0\",\"exp\":1800000100}",
        "{\"sub\":\"-1\",\"exp\":1800000100}",
        "{\"sub\":\"007\",\"exp\":1800000100}",
        "{\"sub\":\"alice\",\"exp\":1800000100}",
        "{\"sub\":\"12 \",\"exp\":1800000100}",
        "{\"sub\":\"\",\"exp\":1800000100}",
        "{\"sub\":1.5,\"exp\":1800000100}",
        "{\"sub\":0,\"exp\":1800000100}",
        "{\"sub\":\"99999999999999999999\",\"exp\":1800000100}",
    };
    int64_t sub;
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++)
        ck_assert_msg(verify(hs256(claims[i]), &sub) == ERR_AUTH, "expected ERR_AUTH for %s",
                      claims[i]);
}
END_TEST

START_TEST(test_jwt_malformed)
{
    int64_t sub;
    char buf[8192];
    char *good = hs256("{\"sub\":\"42\",\"exp\":1800000100}");
    snprintf(buf, sizeof buf, "%s", good);
    ck_assert_int_eq(verify("", &sub), ERR_AUTH);
    ck_assert_int_eq(verify("abc", &sub), ERR_AUTH);
    ck_assert_int_eq(verify("a.b", &sub), ERR_AUTH);
    ck_assert_int_eq(verify("a.b.c.d", &sub), ERR_AUTH);
    ck_assert_int_eq(verify("..", &sub), ERR_AUTH);
    /* a fourth segment appended to a good token */
    snprintf(buf, sizeof buf, "%s.AAAA", good);
    ck_assert_int_eq(verify(buf, &sub), ERR_AUTH);
    /* bad base64 in the header, padding */
    snprintf(buf, sizeof buf, "*%s", good);
    ck_assert_int_eq(verify(buf, &sub), ERR_AUTH);
    ck_assert_int_eq(verify("eyJhbGciOiJIUzI1NiJ9==.e30.AAAA", &sub), ERR_AUTH);
    /* not JSON, JSON but not an object, trailing bytes after the object */
    ck_assert_int_eq(verify(make_token("not json", "{\"sub\":\"42\",\"exp\":1800000100}",
                                       EVP_sha256(), SECRET, NULL),
                            &sub),
                     ERR_AUTH);
    ck_assert_int_eq(verify(make_token("[\"HS256\"]", "{\"sub\":\"42\",\"exp\":1800000100}",
                                       EVP_sha256(), SECRET, NULL),
                            &sub),
                     ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800000100}x"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("not json at all"), &sub), ERR_AUTH);
    ck_assert_int_eq(verify(hs256("[1,2]"), &sub), ERR_AUTH);
}
END_TEST

START_TEST(test_jwt_oversized)
{
    /* correctly signed, but longer than JWT_MAX_LEN */
    char payload[4000];
    int64_t sub;
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":1800000100,\"pad\":\"%3900d\"}", 0);
    char *t = hs256(payload);
    ck_assert_uint_gt(strlen(t), JWT_MAX_LEN);
    ck_assert_int_eq(verify(t, &sub), ERR_AUTH);
    /* a bit shorter and it is fine: the limit is the only reason */
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":1800000100,\"pad\":\"%2900d\"}", 0);
    t = hs256(payload);
    ck_assert_uint_le(strlen(t), JWT_MAX_LEN);
    ck_assert_int_eq(verify(t, &sub), 0);
}
END_TEST

START_TEST(test_jwt_header_rules)
{
    int64_t sub;
    const char *p = "{\"sub\":\"42\",\"exp\":1800000100}";
    ck_assert_int_eq(verify(make_token("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", p, EVP_sha256(),
                                       SECRET, NULL),
                            &sub),
                     ERR_AUTH);
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS256\",\"typ\":\"id+jwt\"}", p, EVP_sha256(), SECRET, NULL),
               &sub),
        ERR_AUTH);
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS256\",\"typ\":7}", p, EVP_sha256(), SECRET, NULL), &sub),
        ERR_AUTH);
    /* access tokens of an OAuth server (RFC 9068) are JWTs too */
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", p, EVP_sha256(), SECRET, NULL),
               &sub),
        0);
    ck_assert_int_eq(verify(make_token("{\"alg\":\"HS256\",\"typ\":\"application/at+JWT\"}", p,
                                       EVP_sha256(), SECRET, NULL),
                            &sub),
                     0);
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", p, EVP_sha256(), SECRET, NULL),
               &sub),
        ERR_AUTH);
    /* duplicate member names: cJSON would read the first alg */
    ck_assert_int_eq(
        verify(make_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", p, EVP_sha256(), SECRET, NULL),
               &sub),
        ERR_AUTH);
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"sub\":\"1\",\"exp\":1800000100}"), &sub),
                     ERR_AUTH);
    ck_assert_int_eq(verify(make_token("{\"alg\":\"HS256\",\"typ\":\"jwt\",\"kid\":\"k1\"}", p,
                                       EVP_sha256(), SECRET, NULL),
                            &sub),
                     0);
}
END_TEST

START_TEST(test_jwt_issuer_and_audience)
{
    int64_t sub;
    snprintf(cfg.jwt_issuer, sizeof cfg.jwt_issuer, "https://auth.example");
    snprintf(cfg.jwt_audience, sizeof cfg.jwt_audience, "chat");
    ck_assert_int_eq(verify(hs256("{\"sub\":\"42\",\"exp\":1800000100}"), &sub), ERR_AUTH);
    ck_assert_int_eq(
        verify(hs256("{\"sub\":\"42\",\"exp\":1800000100,\"iss\":\"https://evil.example\","
                     "\"aud\":\"chat\"}"),
               &sub),
        ERR_AUTH);
    ck_assert_int_eq(
        verify(hs256("{\"sub\":\"42\",\"exp\":1800000100,\"iss\":\"https://auth.example\","
                     "\"aud\":\"mail\"}"),
               &sub),
        ERR_AUTH);
    ck_assert_int_eq(
        verify(hs256("{\"sub\":\"42\",\"exp\":1800000100,\"iss\":\"https://auth.example\","
                     "\"aud\":\"chat\"}"),
               &sub),
        0);
    ck_assert_int_eq(
        verify(hs256("{\"sub\":\"42\",\"exp\":1800000100,\"iss\":\"https://auth.example\","
                     "\"aud\":[\"mail\",\"chat\"]}"),
               &sub),
        0);
    /* what we sign carries both, so our own tokens pass */
    char tok[JWT_MAX_LEN];
    ck_assert_int_eq(jwt_sign(&cfg, 5, NOW, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, &sub), 0);
    ck_assert_int_eq(sub, 5);
}
END_TEST

Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_jwt_valid_token);
    tcase_add_test(tc, test_jwt_sign_then_verify);
    tcase_add_test(tc, test_jwt_sign_small_buffer);
    tcase_add_test(tc, test_jwt_alg_none_rejected);
    tcase_add_test(tc, test_jwt_other_alg_rejected);
    tcase_add_test(tc, test_jwt_bad_signature);
    tcase_add_test(tc, test_jwt_expired);
    tcase_add_test(tc, test_jwt_max_lifetime);
    tcase_add_test(tc, test_jwt_not_yet_valid);
    tcase_add_test(tc, test_jwt_missing_or_bad_exp);
    tcase_add_test(tc, test_jwt_bad_subject);
    tcase_add_test(tc, test_jwt_malformed);
    tcase_add_test(tc, test_jwt_oversized);
    tcase_add_test(tc, test_jwt_header_rules);
    tcase_add_test(tc, test_jwt_issuer_and_audience);
    suite_add_tcase(s, tc);
    return s;
}
