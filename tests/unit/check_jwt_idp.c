/*
 * check_jwt_idp.c - provider tokens: RS256, PS256, ES256 and EdDSA keys
 * made by OpenSSL in the test and published as a JWKS file (and a PEM
 * file), verified through jwks_source and jwt_verify_token; every refusal
 * names its reason, and through the API core the reason reaches the log
 * while the token does not.
 */
#include "api.h"
#include "b64url.h"
#include "errors.h"
#include "idp_keys.h"
#include "jwk.h"
#include "jwks_source.h"
#include "jwt.h"
#include "log.h"

#include <check.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW      1800000000LL
#define ISS      "https://idp.example.test/realms/chat"
#define AUD      "chat-api"
#define SECRET   "idp-unit-secret-0123456789abcdef-0123"
#define ALL_ALGS "HS256,RS256,PS256,ES256,EdDSA"

/* Made once in the runner process (unchecked fixture); every forked test
 * sees them. `stranger` has the RS256 key's kid but is not published. */
static struct idp_key rs, ps, es, ed, stranger;
static char dir[64];
static char jwks_path[128], pem_path[128];
static struct config cfg;
static struct jwks_source *src;
static char tok[8192];

static void make_keys(void)
{
    ck_assert_int_eq(idp_key_new(&rs, JWT_ALG_RS256, "rsa-1"), 0);
    ck_assert_int_eq(idp_key_new(&ps, JWT_ALG_PS256, "pss-1"), 0);
    ck_assert_int_eq(idp_key_new(&es, JWT_ALG_ES256, "ec-1"), 0);
    ck_assert_int_eq(idp_key_new(&ed, JWT_ALG_EDDSA, "ed-1"), 0);
    ck_assert_int_eq(idp_key_new(&stranger, JWT_ALG_RS256, "rsa-1"), 0);
    snprintf(dir, sizeof dir, "/tmp/chat-idp-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    snprintf(pem_path, sizeof pem_path, "%s/ec.pem", dir);
    static char doc[16384];
    const struct idp_key *pub[] = {&rs, &ps, &es, &ed};
    ck_assert_int_gt(idp_jwks(pub, 4, doc, sizeof doc), 0);
    FILE *f = fopen(jwks_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(doc, f);
    fclose(f);
    ck_assert_int_eq(idp_pem_write(&es, pem_path), 0);
}

static void drop_keys(void)
{
    unlink(jwks_path);
    unlink(pem_path);
    rmdir(dir);
    idp_key_free(&rs);
    idp_key_free(&ps);
    idp_key_free(&es);
    idp_key_free(&ed);
    idp_key_free(&stranger);
}

/* configure: the config of a test, with the JWKS file as key source. */
static void configure(const char *algs)
{
    char err[256] = "";
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "%s", SECRET);
    snprintf(cfg.jwt_algorithms, sizeof cfg.jwt_algorithms, "%s", algs);
    ck_assert_int_eq(jwt_alg_list_parse(algs, &cfg.jwt_alg_mask), 0);
    snprintf(cfg.jwt_jwks_file, sizeof cfg.jwt_jwks_file, "%s", jwks_path);
    snprintf(cfg.jwt_issuer, sizeof cfg.jwt_issuer, "%s", ISS);
    snprintf(cfg.jwt_audience, sizeof cfg.jwt_audience, "%s", AUD);
    snprintf(cfg.jwt_identity_claim, sizeof cfg.jwt_identity_claim, "sub");
    snprintf(cfg.jwt_name_claims, sizeof cfg.jwt_name_claims, "preferred_username,name,email");
    cfg.jwt_leeway = 30;
    cfg.jwt_ttl = 3600;
    cfg.jwt_max_lifetime = 86400;
    cfg.jwt_jwks_max_age = 3600;
    cfg.jwt_jwks_min_interval = 30;
    cfg.jwt_jwks_timeout = 5;
    jwks_source_free(src);
    src = NULL;
    ck_assert_msg(jwks_source_open(&cfg, &src, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(src);
}

static void setup(void)
{
    configure(ALL_ALGS);
}

static void teardown(void)
{
    jwks_source_free(src);
    src = NULL;
}

/* A good payload: issued now, an hour long. */
#define GOOD                                                                                       \
    "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"f81d4fae-7dec\",\"iat\":1800000000,"       \
    "\"exp\":1800003600,\"preferred_username\":\"jane.doe\"}"

static const char *reason;
static struct jwt_identity id;

static int check(const char *token)
{
    return jwt_verify_token(&cfg, src, token, NOW, &id, &reason);
}

static const char *signed_by(const struct idp_key *k, const char *payload)
{
    ck_assert_int_gt(idp_sign(k, NULL, payload, tok, sizeof tok), 0);
    return tok;
}

START_TEST(test_idp_each_algorithm_passes)
{
    const struct idp_key *keys[] = {&rs, &ps, &es, &ed};
    for (size_t i = 0; i < 4; i++) {
        int rc = check(signed_by(keys[i], GOOD));
        ck_assert_msg(rc == 0, "%s: %d %s", jwt_alg_name(keys[i]->alg), rc, reason);
        ck_assert_str_eq(reason, "ok");
        ck_assert_int_eq(id.alg, keys[i]->alg);
        ck_assert_str_eq(id.issuer, ISS);
        ck_assert_str_eq(id.subject, "f81d4fae-7dec");
        ck_assert_str_eq(id.name, "jane.doe");
        ck_assert_int_eq(id.user_id, 0);
    }
    /* without kid, the keys of the token's algorithm are tried */
    char hdr[64];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\"}");
    ck_assert_int_gt(idp_sign(&es, hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), 0);
    /* aud as an array, typ at+jwt */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"kid\":\"ed-1\",\"typ\":\"at+jwt\"}");
    ck_assert_int_gt(idp_sign(&ed, hdr,
                              "{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"sub\":\"u1\","
                              "\"exp\":1800000600,\"name\":\"Jane Q\"}",
                              tok, sizeof tok),
                     0);
    ck_assert_int_eq(check(tok), 0);
    ck_assert_str_eq(id.name, "Jane Q");
}
END_TEST

START_TEST(test_idp_wrong_key_and_kid)
{
    /* the right kid, but a key the provider never published */
    ck_assert_int_eq(check(signed_by(&stranger, GOOD)), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_signature");
    /* a kid no key has */
    char hdr[96];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"rsa-9\"}");
    ck_assert_int_gt(idp_sign(&rs, hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "unknown_kid");
    /* an RS256 key's kid with alg PS256: keys are bound to their algorithm */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}");
    struct idp_key as_ps = rs;
    as_ps.alg = JWT_ALG_PS256;
    ck_assert_int_gt(idp_sign(&as_ps, hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "unknown_kid");
    /* a signature by the Ed25519 key presented as ES256 */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"ed-1\"}");
    ck_assert_int_gt(idp_sign(&ed, hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
}
END_TEST

START_TEST(test_idp_algorithm_not_allowed)
{
    configure("HS256,RS256,ES256");
    ck_assert_int_eq(check(signed_by(&ps, GOOD)), ERR_AUTH);
    ck_assert_str_eq(reason, "alg_not_allowed");
    ck_assert_int_eq(check(signed_by(&ed, GOOD)), ERR_AUTH);
    ck_assert_str_eq(reason, "alg_not_allowed");
    ck_assert_int_eq(check(signed_by(&rs, GOOD)), 0);
    /* the keys of an algorithm not allowed are not even loaded */
    const struct jwk_key *k[4];
    enum jwks_miss miss;
    ck_assert_uint_eq(jwks_source_find(src, NOW, JWT_ALG_EDDSA, "ed-1", k, 4, &miss), 0);
}
END_TEST

START_TEST(test_idp_hs256_with_public_key_bytes)
{
    /* The classic confusion: an HS256 token whose HMAC key is the RSA
     * public key (PEM text, and the raw modulus). */
    char pem[4096];
    ck_assert_int_eq(idp_pem_text(&rs, pem, sizeof pem), 0);
    const char *hdr = "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}";
    ck_assert_int_gt(idp_sign_hs256(pem, strlen(pem), hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_signature");
    char jwk[2048];
    ck_assert_int_gt(idp_jwk(&rs, jwk, sizeof jwk), 0);
    ck_assert_int_gt(idp_sign_hs256(jwk, strlen(jwk), hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_signature");
    /* and with HS256 not allowed at all */
    configure("RS256");
    ck_assert_int_gt(idp_sign_hs256(pem, strlen(pem), hdr, GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "alg_not_allowed");
}
END_TEST

START_TEST(test_idp_alg_none)
{
    static const char *const hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\",\"kid\":\"rsa-1\"}",
                                       "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_gt(
            idp_sign_raw(hdrs[i], GOOD, (const unsigned char *) "", 0, tok, sizeof tok), 0);
        ck_assert_int_eq(check(tok), ERR_AUTH);
        ck_assert_str_eq(reason, "alg_none");
    }
    /* a header without alg */
    ck_assert_int_gt(idp_sign(&rs, "{\"kid\":\"rsa-1\"}", GOOD, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "no_alg");
}
END_TEST

START_TEST(test_idp_es256_signature_length)
{
    const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}";
    unsigned char sig[80];
    memset(sig, 0x11, sizeof sig);
    static const size_t lens[] = {63, 65, 70, 72, 32, 0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        ck_assert_int_gt(idp_sign_raw(hdr, GOOD, sig, lens[i], tok, sizeof tok), 0);
        ck_assert_int_eq(check(tok), ERR_AUTH);
        ck_assert_msg(strcmp(reason, "bad_signature_length") == 0, "%zu bytes: %s", lens[i],
                      reason);
    }
    /* 64 bytes of the right length but not a signature */
    ck_assert_int_gt(idp_sign_raw(hdr, GOOD, sig, 64, tok, sizeof tok), 0);
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_signature");
    /* a valid signature with one byte flipped */
    signed_by(&es, GOOD);
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(check(tok), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_signature");
}
END_TEST

START_TEST(test_idp_claims)
{
    /* expired, beyond the leeway */
    ck_assert_int_eq(check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"exp\":1799999969}")),
                     ERR_EXPIRED);
    ck_assert_str_eq(reason, "expired");
    /* within the leeway */
    ck_assert_int_eq(check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"exp\":1799999990}")),
                     0);
    ck_assert_int_eq(check(signed_by(&es, "{\"iss\":\"https://evil.test/\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"exp\":1800000600}")),
                     ERR_AUTH);
    ck_assert_str_eq(reason, "wrong_issuer");
    ck_assert_int_eq(
        check(signed_by(&es, "{\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":1800000600}")), ERR_AUTH);
    ck_assert_str_eq(reason, "wrong_issuer");
    ck_assert_int_eq(check(signed_by(&ed, "{\"iss\":\"" ISS "\",\"aud\":[\"account\"],"
                                          "\"sub\":\"u\",\"exp\":1800000600}")),
                     ERR_AUTH);
    ck_assert_str_eq(reason, "wrong_audience");
    /* more than jwt_max_lifetime from iat, and from now without iat */
    ck_assert_int_eq(check(signed_by(&ps, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"iat\":1800000000,"
                                          "\"exp\":1800086401}")),
                     ERR_AUTH);
    ck_assert_str_eq(reason, "lifetime_too_long");
    ck_assert_int_eq(check(signed_by(&ps, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"exp\":1800090000}")),
                     ERR_AUTH);
    ck_assert_str_eq(reason, "lifetime_too_long");
    /* exp required, nbf honoured, a subject required */
    ck_assert_int_eq(
        check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\"}")), ERR_AUTH);
    ck_assert_str_eq(reason, "no_exp");
    ck_assert_int_eq(check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"sub\":\"u\",\"nbf\":1800000100,"
                                          "\"exp\":1800000600}")),
                     ERR_AUTH);
    ck_assert_str_eq(reason, "not_yet_valid");
    ck_assert_int_eq(
        check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1800000600}")),
        ERR_AUTH);
    ck_assert_str_eq(reason, "bad_subject");
}
END_TEST

START_TEST(test_idp_typ_and_identity_claim)
{
    snprintf(cfg.jwt_typ, sizeof cfg.jwt_typ, "at+jwt");
    ck_assert_int_eq(check(signed_by(&rs, GOOD)), ERR_AUTH); /* typ JWT */
    ck_assert_str_eq(reason, "wrong_typ");
    ck_assert_int_gt(idp_sign(&rs, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"at+jwt\"}", GOOD,
                              tok, sizeof tok),
                     0);
    ck_assert_int_eq(check(tok), 0);
    cfg.jwt_typ[0] = '\0';
    snprintf(cfg.jwt_identity_claim, sizeof cfg.jwt_identity_claim, "oid");
    ck_assert_int_eq(check(signed_by(&rs, GOOD)), ERR_AUTH);
    ck_assert_str_eq(reason, "bad_subject");
    ck_assert_int_eq(check(signed_by(&rs, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                          "\",\"oid\":\"0000-42\",\"exp\":1800000600,"
                                          "\"email\":\"j@example.test\"}")),
                     0);
    ck_assert_str_eq(id.subject, "0000-42");
    ck_assert_str_eq(id.name, "j@example.test");
}
END_TEST

START_TEST(test_idp_pem_file_source)
{
    char err[256] = "";
    jwks_source_free(src);
    src = NULL;
    cfg.jwt_jwks_file[0] = '\0';
    snprintf(cfg.jwt_public_key_file, sizeof cfg.jwt_public_key_file, "%s", pem_path);
    ck_assert_msg(jwks_source_open(&cfg, &src, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(check(signed_by(&es, GOOD)), 0);
    ck_assert_int_eq(check(signed_by(&rs, GOOD)), ERR_AUTH);
    ck_assert_str_eq(reason, "no_key_for_alg");
    /* the PEM key bound to another algorithm than its type is refused */
    jwks_source_free(src);
    src = NULL;
    snprintf(cfg.jwt_public_key_alg, sizeof cfg.jwt_public_key_alg, "RS256");
    ck_assert_int_ne(jwks_source_open(&cfg, &src, err, sizeof err), 0);
    ck_assert_ptr_null(src);
}
END_TEST

START_TEST(test_idp_jwks_documents)
{
    struct jwk_set set;
    size_t skipped;
    /* a symmetric key, an encryption key, an unknown alg, a P-384 key and
     * a point off the curve are all left out */
    unsigned char raw[32];
    size_t rlen = sizeof raw;
    char x[64];
    static char doc[2048];
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(ed.pkey, raw, &rlen), 1);
    ck_assert_int_gt(b64url_encode(raw, rlen, x, sizeof x), 0);
    snprintf(doc, sizeof doc,
             "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":\"enc\",\"x\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"RS512\",\"x\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
             "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
             "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ok\",\"x\":\"%s\"}]}",
             x, x, x);
    ck_assert_int_eq(jwk_set_parse(doc, strlen(doc), JWT_ALG_ASYMMETRIC, &set, &skipped), 0);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_uint_eq(skipped, 4);
    ck_assert_str_eq(set.keys[0].kid, "ok");
    ck_assert_int_eq(set.keys[0].alg, JWT_ALG_EDDSA);
    jwk_set_clear(&set);
    ck_assert_int_eq(jwk_set_parse("[1]", 3, JWT_ALG_ASYMMETRIC, &set, NULL), ERR_INVALID);
    ck_assert_int_eq(jwk_set_parse("{\"keys\":{}}", 11, JWT_ALG_ASYMMETRIC, &set, NULL),
                     ERR_INVALID);
}
END_TEST

/* Through the API core: a refused provider token gets 401, and the log
 * line names the reason but holds nothing of the token. */
static void noop(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    (void) req;
    api_resp_json(r, 200, cJSON_CreateObject());
}

static const struct api_route routes[] = {{"GET", "/t/me", API_AUTH, noop}};
static const struct api_app app = {"idp-test", routes, 1, NULL, NULL};

static void api_log(const char *token, int *status, char *log, size_t cap)
{
    char path[160], auth[9000];
    snprintf(path, sizeof path, "%s/log.%d", dir, (int) getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_init("idp-test", "info");
    struct api_ctx ctx = {&cfg, NULL, NULL, src};
    struct api_resp resp;
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", token);
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/t/me", auth, NULL};
    api_resp_init(&resp);
    api_handle(&app, &ctx, env, NULL, NULL, &resp);
    *status = resp.status;
    api_resp_deinit(&resp);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, log, cap - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

START_TEST(test_idp_reason_logged_never_token)
{
    static char log[8192];
    int status = 0;
    signed_by(&stranger, GOOD);
    api_log(tok, &status, log, sizeof log);
    ck_assert_int_eq(status, 401);
    ck_assert_msg(strstr(log, "event=auth_failed status=401 reason=bad_signature alg=RS256"),
                  "log: %s", log);
    const char *sig = strrchr(tok, '.') + 1;
    char head[24];
    snprintf(head, sizeof head, "%.20s", tok);
    ck_assert_msg(!strstr(log, sig) && !strstr(log, head), "token in the log: %s", log);

    configure("RS256,ES256");
    ck_assert_int_gt(
        idp_sign_raw("{\"alg\":\"none\"}", GOOD, (const unsigned char *) "", 0, tok, sizeof tok),
        0);
    api_log(tok, &status, log, sizeof log);
    ck_assert_int_eq(status, 401);
    ck_assert_msg(strstr(log, "reason=alg_none"), "log: %s", log);
    signed_by(&es, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":1}");
    api_log(tok, &status, log, sizeof log);
    ck_assert_int_eq(status, 401);
    ck_assert_msg(strstr(log, "reason=expired alg=ES256"), "log: %s", log);
    /* a valid token gets past the signature and the claims: with no
     * database here, the user lookup answers 503 */
    signed_by(&es, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":4102444800,"
                   "\"iat\":4102400000}");
    configure("RS256,ES256");
    cfg.jwt_max_lifetime = 0;
    api_log(tok, &status, log, sizeof log);
    ck_assert_int_eq(status, 503);
    ck_assert_msg(!strstr(log, "auth_failed"), "log: %s", log);
}
END_TEST

Suite *jwt_idp_suite(void)
{
    Suite *s = suite_create("jwt_idp");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, make_keys, drop_keys);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_idp_each_algorithm_passes);
    tcase_add_test(tc, test_idp_wrong_key_and_kid);
    tcase_add_test(tc, test_idp_algorithm_not_allowed);
    tcase_add_test(tc, test_idp_hs256_with_public_key_bytes);
    tcase_add_test(tc, test_idp_alg_none);
    tcase_add_test(tc, test_idp_es256_signature_length);
    tcase_add_test(tc, test_idp_claims);
    tcase_add_test(tc, test_idp_typ_and_identity_claim);
    tcase_add_test(tc, test_idp_pem_file_source);
    tcase_add_test(tc, test_idp_jwks_documents);
    tcase_add_test(tc, test_idp_reason_logged_never_token);
    suite_add_tcase(s, tc);
    return s;
}
