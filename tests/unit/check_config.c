/* check_config.c - the config loader: defaults, file, environment, errors. */
#include "config.h"
#include "errors.h"
#include "jwk.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void write_conf(const char *text)
{
    strcpy(path, "/tmp/chat-conf-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int) write(fd, text, strlen(text)), (int) strlen(text));
    close(fd);
}

static void teardown(void)
{
    if (path[0])
        unlink(path);
    path[0] = '\0';
    unsetenv("CHAT_JWT_SECRET");
    unsetenv("CHAT_RELAY_PORT");
}

#define SECRET "0123456789abcdef0123456789abcdef"

START_TEST(test_config_defaults_and_file)
{
    struct config cfg;
    char err[256] = "";
    write_conf("# comment\n\njwt_secret = " SECRET "\nmysql_port=3307\n  dev_login =1  \n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_str_eq(cfg.jwt_secret, SECRET);
    ck_assert_int_eq(cfg.mysql_port, 3307);
    ck_assert_int_eq(cfg.dev_login, 1);
    ck_assert_int_eq(cfg.socket_token_ttl, 30);
    ck_assert_int_eq(cfg.max_body_bytes, 16384);
    ck_assert_int_eq(cfg.max_connections, 10000);
    ck_assert_int_eq(cfg.socket_tokens_per_minute, 60);
    ck_assert_int_eq(cfg.max_handshakes, 0);
    ck_assert_int_eq(cfg.max_handshakes_per_address, 32);
    ck_assert_int_eq(cfg.handshake_limit_loopback, 0);
    ck_assert_int_eq(cfg.max_connections_per_user, 20);
}
END_TEST

START_TEST(test_config_env_overrides_file)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\nrelay_port = 8090\n");
    setenv("CHAT_RELAY_PORT", "9999", 1);
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_int_eq(cfg.relay_port, 9999);
}
END_TEST

START_TEST(test_config_rejects_short_secret)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = tooshort\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "jwt_secret") && strstr(err, "at least 32"),
                  "expected a line naming jwt_secret and the 32-byte minimum, got: %s", err);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_config_requires_secret)
{
    struct config cfg;
    char err[256] = "";
    write_conf("dev_login = 0\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "jwt_secret is required") && strstr(err, "CHAT_JWT_SECRET"),
                  "got: %s", err);
}
END_TEST

START_TEST(test_config_rejects_invalid_number)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\ndev_login = yes\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "dev_login") && strstr(err, "whole number"), "got: %s", err);

    write_conf("jwt_secret = " SECRET "\nrelay_port = 70000\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "relay_port must be between 1 and 65535"), "got: %s", err);
}
END_TEST

/* jwt_max_lifetime defaults to a day and must leave room for jwt_ttl. */
START_TEST(test_config_jwt_max_lifetime)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_int_eq(cfg.jwt_max_lifetime, 86400);
    ck_assert_int_lt(cfg.jwt_ttl, cfg.jwt_max_lifetime);

    write_conf("jwt_secret = " SECRET "\njwt_ttl = 7200\njwt_max_lifetime = 3600\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "jwt_ttl must not exceed jwt_max_lifetime"), "got: %s", err);

    write_conf("jwt_secret = " SECRET "\njwt_ttl = 7200\njwt_max_lifetime = 0\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_int_eq(cfg.jwt_max_lifetime, 0);
}
END_TEST

/* The provider settings fit together: known algorithms, a key source for
 * a public-key algorithm and none without one, HTTPS except to loopback. */
START_TEST(test_config_identity_provider)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_int_eq(cfg.jwt_alg_mask, JWT_ALG_HS256);

    static const struct {
        const char *lines, *error; /* error NULL: loads */
    } cases[] = {
        {"jwt_algorithms = HS256, ES256,EdDSA\njwt_jwks_url = https://sso.example.com/certs\n",
         NULL},
        {"jwt_algorithms = RS256\njwt_jwks_url = http://127.0.0.1:18095/jwks\n", NULL},
        {"jwt_algorithms = RS256\njwt_jwks_url = http://localhost/jwks\n", NULL},
        {"jwt_algorithms = HS256,none\n", "jwt_algorithms must list"},
        {"jwt_algorithms = HS512\n", "jwt_algorithms must list"},
        {"jwt_algorithms = \n", "jwt_algorithms must list"},
        {"jwt_algorithms = HS256,RS256\n", "no jwt_jwks_url"},
        {"jwt_jwks_file = /etc/chat/jwks.json\n", "allows none of"},
        {"jwt_algorithms = RS256\njwt_jwks_url = http://sso.example.com/certs\n",
         "must start with https://"},
        {"jwt_algorithms = RS256\njwt_jwks_url = http://127.0.0.1.example.com/certs\n",
         "must start with https://"},
        {"jwt_algorithms = RS256\njwt_public_key_file = /k.pem\njwt_public_key_alg = HS256\n",
         "jwt_public_key_alg"},
        {"jwt_algorithms = RS256\njwt_jwks_url = https://a/\njwt_jwks_min_interval = 7200\n",
         "jwt_jwks_min_interval must not exceed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "jwt_secret = " SECRET "\n%s", cases[i].lines);
        write_conf(text);
        int rc = config_load(&cfg, path, err, sizeof err);
        if (!cases[i].error)
            ck_assert_msg(rc == 0, "case %zu: %s", i, err);
        else
            ck_assert_msg(rc == ERR_INVALID && strstr(err, cases[i].error), "case %zu: %d %s", i,
                          rc, err);
    }
    write_conf("jwt_secret = " SECRET "\njwt_algorithms = HS256, ES256,EdDSA\n"
               "jwt_jwks_file = /x.json\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_int_eq(cfg.jwt_alg_mask, JWT_ALG_HS256 | JWT_ALG_ES256 | JWT_ALG_EDDSA);
}
END_TEST

START_TEST(test_config_rejects_unknown_key)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\ndev_logn = 1\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "unknown key dev_logn") && strstr(err, ":2"), "got: %s", err);
}
END_TEST

START_TEST(test_config_rejects_bad_env_value)
{
    struct config cfg;
    char err[256] = "";
    write_conf("jwt_secret = " SECRET "\n");
    setenv("CHAT_RELAY_PORT", "80x", 1);
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "relay_port") && strstr(err, "CHAT_RELAY_PORT"), "got: %s", err);
}
END_TEST

START_TEST(test_config_missing_explicit_file)
{
    struct config cfg;
    char err[256] = "";
    ck_assert_int_eq(config_load(&cfg, "/nonexistent/chat.conf", err, sizeof err), ERR_INVALID);
    ck_assert_msg(strstr(err, "/nonexistent/chat.conf"), "got: %s", err);
}
END_TEST

START_TEST(test_config_secret_from_env_only)
{
    struct config cfg;
    char err[256] = "";
    write_conf("dev_login = 0\n");
    setenv("CHAT_JWT_SECRET", SECRET "XYZ", 1);
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_str_eq(cfg.jwt_secret, SECRET "XYZ");
}
END_TEST

START_TEST(test_config_dump_hides_url_passwords)
{
    struct config cfg;
    char err[256] = "", *text = NULL;
    size_t len = 0;
    write_conf("jwt_secret = " SECRET "\n"
               "ferretdb_postgresql_url = postgres://ferretdb:pgsecret@127.0.0.1:5433/ferretdb\n"
               "mongo_uri = mongodb://app:mongosecret@db1,db2/?replicaSet=rs0\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_str_eq(cfg.ferretdb_postgresql_url,
                     "postgres://ferretdb:pgsecret@127.0.0.1:5433/ferretdb");

    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    config_dump(&cfg, out);
    fclose(out);
    ck_assert_msg(!strstr(text, "pgsecret") && !strstr(text, "mongosecret") &&
                      !strstr(text, SECRET),
                  "a secret in the dump: %s", text);
    ck_assert_msg(
        strstr(text,
               "ferretdb_postgresql_url = postgres://ferretdb:(hidden)@127.0.0.1:5433/ferretdb\n"),
        "dump: %s", text);
    ck_assert_msg(strstr(text, "mongo_uri = mongodb://app:(hidden)@db1,db2/?replicaSet=rs0\n"),
                  "dump: %s", text);
    free(text);

    /* Unset, the key is empty: no PostgreSQL behind the MongoDB. */
    write_conf("jwt_secret = " SECRET "\n");
    ck_assert_int_eq(config_load(&cfg, path, err, sizeof err), 0);
    ck_assert_str_eq(cfg.ferretdb_postgresql_url, "");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_config_defaults_and_file);
    tcase_add_test(tc, test_config_env_overrides_file);
    tcase_add_test(tc, test_config_rejects_short_secret);
    tcase_add_test(tc, test_config_identity_provider);
    tcase_add_test(tc, test_config_requires_secret);
    tcase_add_test(tc, test_config_rejects_invalid_number);
    tcase_add_test(tc, test_config_jwt_max_lifetime);
    tcase_add_test(tc, test_config_rejects_unknown_key);
    tcase_add_test(tc, test_config_rejects_bad_env_value);
    tcase_add_test(tc, test_config_missing_explicit_file);
    tcase_add_test(tc, test_config_secret_from_env_only);
    tcase_add_test(tc, test_config_dump_hides_url_passwords);
    suite_add_tcase(s, tc);
    return s;
}
