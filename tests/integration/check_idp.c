/*
 * check_idp.c - sign-in with an identity provider's tokens through the
 * stack's lighttpd and its FastCGI programs, with a local key endpoint
 * (tests/support/jwks_server.c) started by the suite.
 *
 * For the suite, lighttpd is restarted with the provider settings in its
 * environment (the FastCGI programs inherit it): RS256, PS256, ES256 and
 * EdDSA allowed next to HS256, keys from http://127.0.0.1:<port>/jwks,
 * at least two seconds between fetches. Afterwards it is restarted without
 * them. Provider users are named by a subject unique to the run, so
 * repeated runs never meet each other's users. Only GET /api/v1/me is
 * used for the fetch counts: chat-account runs as one process, so the
 * counts are those of one key cache. The last test runs chat-account as
 * plain CGI, one process per request, sharing a cache directory.
 */
#include "api_helpers.h"
#include "http_client.h"
#include "idp_keys.h"
#include "jwk.h"
#include "jwks_server.h"
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIN_INTERVAL 2
#define ISS          "https://idp.test.invalid/realms/chat"

static int port;
static char dir[64];
static pid_t server = -1;
static struct idp_key k_es, k_rs, k_ps, k_ed, k_new;
static int suite_ready; /* the fixture did everything; else every test fails */

static void publish(const struct idp_key *const *keys, size_t n, int max_age)
{
    static char doc[32768];
    ck_assert_int_gt(idp_jwks(keys, n, doc, sizeof doc), 0);
    ck_assert_int_eq(jwks_server_publish(dir, doc, max_age), 0);
}

/* publish_usual: the four keys the tests sign with. */
static void publish_usual(int max_age)
{
    const struct idp_key *keys[] = {&k_es, &k_rs, &k_ps, &k_ed};
    publish(keys, 4, max_age);
}

static void up(void)
{
    static char url[128];
    const char *want = getenv("CHAT_TEST_JWKS_PORT");
    port = want ? (int) strtol(want, NULL, 10) : 18095;
    snprintf(dir, sizeof dir, "/tmp/chat-jwks-XXXXXX");
    if (!mkdtemp(dir))
        return;
    if (idp_key_new(&k_es, JWT_ALG_ES256, "es-1") || idp_key_new(&k_rs, JWT_ALG_RS256, "rs-1") ||
        idp_key_new(&k_ps, JWT_ALG_PS256, "ps-1") || idp_key_new(&k_ed, JWT_ALG_EDDSA, "ed-1") ||
        idp_key_new(&k_new, JWT_ALG_ES256, "es-2"))
        return;
    static char doc[32768];
    const struct idp_key *all[] = {&k_es, &k_rs, &k_ps, &k_ed};
    if (idp_jwks(all, 4, doc, sizeof doc) < 0 || jwks_server_publish(dir, doc, 300) != 0)
        return;
    server = jwks_server_spawn(port, dir);
    if (server < 0)
        return;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks", port);
    setenv("CHAT_JWT_ALGORITHMS", "HS256,RS256,PS256,ES256,EdDSA", 1);
    setenv("CHAT_JWT_JWKS_URL", url, 1);
    setenv("CHAT_JWT_JWKS_MIN_INTERVAL", "2", 1);
    if (testenv_stack("restart lighttpd") != 0)
        return;
    suite_ready = 1;
}

static void down(void)
{
    unsetenv("CHAT_JWT_ALGORITHMS");
    unsetenv("CHAT_JWT_JWKS_URL");
    unsetenv("CHAT_JWT_JWKS_MIN_INTERVAL");
    testenv_stack("restart lighttpd");
    jwks_server_stop(server);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) /* NOLINT(cert-env33-c) */
        fprintf(stderr, "check_idp: could not remove %s\n", dir);
    idp_key_free(&k_es);
    idp_key_free(&k_rs);
    idp_key_free(&k_ps);
    idp_key_free(&k_ed);
    idp_key_free(&k_new);
}

static void ready(void)
{
    ck_assert_msg(suite_ready,
                  "the suite's set-up failed (key server on port %d, lighttpd restart "
                  "with the provider settings; see var/log/stack-from-tests.log)",
                  port);
}

/* token: signed by k for `sub` with a name, valid from now for `ttl`
 * seconds (negative: expired that long ago). */
static const char *token(const struct idp_key *k, const char *kid, const char *sub,
                         const char *name, long ttl)
{
    static char tok[8192];
    char hdr[160], payload[1024];
    long now = (long) time(NULL);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwt_alg_name(k->alg), kid ? kid : k->kid);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"sub\":\"%s\",\"preferred_username\":\"%s\",\"iat\":%ld,"
             "\"exp\":%ld}",
             sub, name, ttl > 0 ? now : now + ttl - 600, now + ttl);
    ck_assert_int_gt(idp_sign(k, hdr, payload, tok, sizeof tok), 0);
    return tok;
}

/* me: GET /api/v1/me with the token; the status, and the user's id. */
static long me(const char *tok, int64_t *id, char *username, size_t cap)
{
    struct http_resp r;
    ck_assert_int_eq(http_request("GET", "/api/v1/me", tok, NULL, NULL, 0, &r), 0);
    long status = r.status;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(r.json, "user");
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(u, "id");
    const cJSON *jname = cJSON_GetObjectItemCaseSensitive(u, "username");
    if (id)
        *id = cJSON_IsNumber(jid) ? (int64_t) jid->valuedouble : 0;
    if (username)
        snprintf(username, cap, "%s", cJSON_IsString(jname) ? jname->valuestring : "");
    http_resp_free(&r);
    return status;
}

/* wait_interval: let the minimum interval between fetches pass, so the
 * next unknown kid may fetch. */
static void wait_interval(void)
{
    sleep(MIN_INTERVAL + 1);
}

/* log_has: the API's log (lighttpd's error log) holds `what`. */
static int log_has(const char *what)
{
    char out[64];
    run_cmd(out, sizeof out, "grep -c -F -- '%s' %s/log/lighttpd-error.log", what,
            testenv_var_dir());
    return (int) strtol(out, NULL, 10);
}

START_TEST(test_idp_first_token_provisions_then_maps)
{
    ready();
    const char *sub = testenv_unique("7f3c-subject");
    const char *name = testenv_unique("jane");
    int64_t id = 0, again = 0, other = 0;
    char username[128], uname2[128];
    const struct idp_key *keys[] = {&k_es, &k_rs, &k_ps, &k_ed};

    ck_assert_int_eq(me(token(&k_es, NULL, sub, name, 600), &id, username, sizeof username), 200);
    ck_assert_int_gt(id, 0);
    ck_assert_str_eq(username, name);
    /* later tokens, of any allowed algorithm, map to the same user */
    for (size_t i = 0; i < 4; i++) {
        ck_assert_msg(
            me(token(keys[i], NULL, sub, "renamed", 600), &again, uname2, sizeof uname2) == 200,
            "%s", jwt_alg_name(keys[i]->alg));
        ck_assert_int_eq(again, id);
        ck_assert_str_eq(uname2, name);
    }
    /* another subject with the same name gets a user (and a name) of its own */
    ck_assert_int_eq(me(token(&k_ed, NULL, testenv_unique("other-subject"), name, 600), &other,
                        uname2, sizeof uname2),
                     200);
    ck_assert_int_ne(other, id);
    ck_assert_str_ne(uname2, name);
    ck_assert_ptr_eq(strstr(uname2, name), uname2);

    /* a dev-login user opens a room with the provider's user by name */
    int64_t dev_id = 0;
    char *jwt = api_login("idpdev", &dev_id);
    struct http_resp r;
    char body[256];
    snprintf(body, sizeof body, "{\"peerUsername\":\"%s\"}", name);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jwt, body, &r), 0);
    ck_assert_msg(r.status == 200 || r.status == 201, "status %ld: %s", r.status, r.body);
    http_resp_free(&r);
    free(jwt);
    ck_assert_int_gt(log_has("event=user_provisioned"), 0);
}
END_TEST

START_TEST(test_idp_refusals_name_their_reason)
{
    ready();
    const char *sub = testenv_unique("refused");
    /* expired; alg none; wrong key under a known kid */
    ck_assert_int_eq(me(token(&k_rs, NULL, sub, "x", -120), NULL, NULL, 0), 401);
    char none[512];
    ck_assert_int_gt(idp_sign_raw("{\"alg\":\"none\"}", "{\"sub\":\"x\",\"exp\":4102444800}",
                                  (const unsigned char *) "", 0, none, sizeof none),
                     0);
    ck_assert_int_eq(me(none, NULL, NULL, 0), 401);
    char bad[8192];
    snprintf(bad, sizeof bad, "%s", token(&k_new, "es-1", sub, "x", 600));
    ck_assert_int_eq(me(bad, NULL, NULL, 0), 401);
    ck_assert_msg(log_has("event=auth_failed status=401 reason=expired alg=RS256"), "expired");
    ck_assert_msg(log_has("event=auth_failed status=401 reason=alg_none"), "alg none");
    ck_assert_msg(log_has("event=auth_failed status=401 reason=bad_signature alg=ES256"),
                  "bad signature");
    /* and never the token: neither its signature nor its header */
    char part[48];
    snprintf(part, sizeof part, "%.40s", strrchr(bad, '.') + 1);
    ck_assert_int_eq(log_has(part), 0);
    snprintf(part, sizeof part, "%.40s", bad);
    ck_assert_int_eq(log_has(part), 0);
}
END_TEST

START_TEST(test_idp_rotation)
{
    ready();
    const char *sub = testenv_unique("rotating");
    const struct idp_key *old_only[] = {&k_es, &k_rs, &k_ps, &k_ed};
    const struct idp_key *both[] = {&k_es, &k_rs, &k_ps, &k_ed, &k_new};
    publish(old_only, 4, 300);
    char old_tok[8192];
    snprintf(old_tok, sizeof old_tok, "%s", token(&k_es, NULL, sub, "rot", 600));
    ck_assert_int_eq(me(old_tok, NULL, NULL, 0), 200);
    /* before the new key is published, its tokens are unknown */
    wait_interval();
    ck_assert_int_eq(me(token(&k_new, NULL, sub, "rot", 600), NULL, NULL, 0), 401);

    /* the provider rotates: the new key is published next to the old one */
    publish(both, 5, 300);
    wait_interval();
    int hits = jwks_server_hits(dir);
    ck_assert_int_eq(me(token(&k_new, NULL, sub, "rot", 600), NULL, NULL, 0), 200);
    ck_assert_int_eq(jwks_server_hits(dir), hits + 1); /* fetched on the unknown kid */
    /* the old token stays valid until it expires; an expired one of the
     * old key is refused as expired */
    ck_assert_int_eq(me(old_tok, NULL, NULL, 0), 200);
    ck_assert_int_eq(me(token(&k_es, NULL, sub, "rot", -60), NULL, NULL, 0), 401);
    publish(old_only, 4, 300);
}
END_TEST

START_TEST(test_idp_server_down_keeps_last_keys)
{
    ready();
    const char *sub = testenv_unique("outage");
    /* keys that go stale after a second */
    publish_usual(1);
    wait_interval();
    /* an unknown kid makes the API fetch them (the cached ones are fresh) */
    ck_assert_int_eq(me(token(&k_ed, "ed-unknown", sub, "o", 600), NULL, NULL, 0), 401);
    ck_assert_int_eq(me(token(&k_ed, NULL, sub, "o", 600), NULL, NULL, 0), 200);

    jwks_server_set_down(dir, port, 1);
    int before = log_has("jwks_fetch=failed reason=unreachable");
    wait_interval(); /* stale, and a fetch is allowed again */
    ck_assert_int_eq(me(token(&k_ed, NULL, sub, "o", 600), NULL, NULL, 0), 200);
    ck_assert_int_eq(me(token(&k_rs, NULL, sub, "o", 600), NULL, NULL, 0), 200);
    ck_assert_int_gt(log_has("jwks_fetch=failed reason=unreachable"), before);

    /* back up: the next due fetch succeeds again */
    jwks_server_set_down(dir, port, 0);
    publish_usual(300);
    wait_interval();
    int hits = jwks_server_hits(dir);
    ck_assert_int_eq(me(token(&k_ps, NULL, sub, "o", 600), NULL, NULL, 0), 200);
    ck_assert_int_eq(jwks_server_hits(dir), hits + 1);
}
END_TEST

START_TEST(test_idp_unknown_kid_flood_fetches_once_per_interval)
{
    ready();
    const char *sub = testenv_unique("flood");
    publish_usual(300);
    wait_interval();
    int hits = jwks_server_hits(dir);
    time_t start = time(NULL);
    char kid[64];
    for (int i = 0; i < 60; i++) {
        snprintf(kid, sizeof kid, "made-up-%d", i);
        ck_assert_int_eq(me(token(&k_es, kid, sub, "f", 600), NULL, NULL, 0), 401);
    }
    time_t elapsed = time(NULL) - start;
    int fetched = jwks_server_hits(dir) - hits;
    /* the first unknown kid fetches (the interval had passed); then at most
     * one more per interval that went by during the flood */
    ck_assert_int_ge(fetched, 1);
    ck_assert_msg(fetched <= 1 + (int) (elapsed / MIN_INTERVAL),
                  "%d fetches for 60 unknown kids in %ld s", fetched, (long) elapsed);
    ck_assert_msg(log_has("reason=unknown_kid alg=ES256"), "no unknown_kid reason in the log");
    /* and a known kid still works meanwhile */
    ck_assert_int_eq(me(token(&k_es, NULL, sub, "f", 600), NULL, NULL, 0), 200);
}
END_TEST

/* cgi_me: GET /api/v1/me served by chat-account as plain CGI (a process
 * per request) sharing the key cache directory `cache`; the status. */
static int cgi_me(const char *cache, const char *tok)
{
    static char out[16384];
    const char *bin = getenv("CHAT_BIN_DIR");
    if (!bin || !*bin)
        bin = "build/san/bin";
    int rc = run_cmd(out, sizeof out,
                     "CHAT_JWT_JWKS_CACHE_DIR=%s REQUEST_METHOD=GET REQUEST_URI=/api/v1/me "
                     "HTTP_AUTHORIZATION='Bearer %s' GATEWAY_INTERFACE=CGI/1.1 %s/chat-account "
                     "</dev/null 2>>%s/cgi.log",
                     cache, tok, bin, cache);
    ck_assert_msg(rc == 0, "chat-account as CGI: %d %s", rc, out);
    const char *st = strstr(out, "Status: ");
    ck_assert_msg(st != NULL, "no status: %s", out);
    return (int) strtol(st + 8, NULL, 10);
}

START_TEST(test_idp_cgi_processes_share_one_fetch)
{
    ready();
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache-%ld", dir, (long) getpid());
    ck_assert_int_eq(mkdir(cache, 0700), 0);
    const char *sub = testenv_unique("cgi");
    publish_usual(300);
    int hits = jwks_server_hits(dir);
    /* the first process fetches and leaves the keys in the cache file */
    ck_assert_int_eq(cgi_me(cache, token(&k_es, NULL, sub, "cgi", 600)), 200);
    ck_assert_int_eq(jwks_server_hits(dir), hits + 1);
    /* the next ones read them from there */
    ck_assert_int_eq(cgi_me(cache, token(&k_rs, NULL, sub, "cgi", 600)), 200);
    ck_assert_int_eq(cgi_me(cache, token(&k_ed, NULL, sub, "cgi", 600)), 200);
    ck_assert_int_eq(jwks_server_hits(dir), hits + 1);
    /* unknown kids in separate processes share the rate limit too */
    time_t start = time(NULL);
    char kid[32];
    for (int i = 0; i < 6; i++) {
        snprintf(kid, sizeof kid, "cgi-made-up-%d", i);
        ck_assert_int_eq(cgi_me(cache, token(&k_es, kid, sub, "cgi", 600)), 401);
    }
    int extra = jwks_server_hits(dir) - (hits + 1);
    ck_assert_msg(extra <= 1 + (int) ((time(NULL) - start) / MIN_INTERVAL),
                  "%d fetches for 6 unknown kids", extra);
}
END_TEST

Suite *idp_suite(void)
{
    Suite *s = suite_create("idp");
    TCase *tc = tcase_create("jwks");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_idp_first_token_provisions_then_maps);
    tcase_add_test(tc, test_idp_refusals_name_their_reason);
    tcase_add_test(tc, test_idp_rotation);
    tcase_add_test(tc, test_idp_server_down_keeps_last_keys);
    tcase_add_test(tc, test_idp_unknown_kid_flood_fetches_once_per_interval);
    tcase_add_test(tc, test_idp_cgi_processes_share_one_fetch);
    suite_add_tcase(s, tc);
    return s;
}
