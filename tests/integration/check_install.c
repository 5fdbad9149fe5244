/*
 * check_install.c - README's production install, followed literally where
 * a test can: the commands of "Settings" (install the example config) and
 * "Schema" (migrate.sh) are read out of README.md and run with only the
 * install paths replaced by this checkout's, on a config that sets nothing
 * but what differs from the defaults. So a README step that stops working,
 * or a script that reads the config otherwise than the programs do (a
 * missing default reaching the MySQL client as `user=`), fails here.
 *
 * What differs from the defaults here: the JWT secret, the stack's
 * MariaDB port and password, its FerretDB, and the throw-away databases of
 * this test (<run>_inst_<pid>_<n>, dropped with the run). The account is the
 * default `chat`. MySQL is reached over TCP, not the socket README names,
 * because over the socket a missing user name would quietly become root's
 * socket login and hide the very fault this test is for.
 */
#include "run_cmd.h"
#include "test_dbs.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define README_CONF "/etc/chat/chat.conf"
#define README_BIN  "/usr/local/lib/chat/bin"

extern char **environ;

static char dbname[96];
static char dir[128];
static char conf[192];
static char out[16384];

/* readme_line: the first line of README.md, leading blanks cut, that starts
 * with `start`, into buf. */
static void readme_line(const char *start, char *buf, size_t cap)
{
    FILE *f = fopen("README.md", "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *s = line + strspn(line, " \t");
        if (strncmp(s, start, strlen(start)) == 0) {
            snprintf(buf, cap, "%.*s", (int) strcspn(s, "\r\n"), s);
            found = 1;
        }
    }
    fclose(f);
    ck_assert_msg(found, "README.md has no line starting with \"%s\"", start);
}

/* replace: every `from` in s by `to`, in place (s holds cap bytes). */
static void replace(char *s, size_t cap, const char *from, const char *to)
{
    char tmp[2048];
    char *p;
    size_t at = 0;
    while ((p = strstr(s + at, from)) != NULL) {
        size_t pre = (size_t) (p - s);
        int n = snprintf(tmp, sizeof tmp, "%.*s%s%s", (int) pre, s, to, p + strlen(from));
        ck_assert(n > 0 && (size_t) n < sizeof tmp && (size_t) n < cap);
        memcpy(s, tmp, (size_t) n + 1);
        at = pre + strlen(to);
    }
}

/* run_readme: a README command with the install paths replaced (and
 * `from` by `to`, when given), run by sh with no CHAT_* variable of the
 * test run in its environment (the command as README gives it sets its
 * own). */
static int run_readme(const char *start, const char *from, const char *to)
{
    static char cmd[2048], unset[2048];
    readme_line(start, cmd, sizeof cmd);
    if (from)
        replace(cmd, sizeof cmd, from, to);
    replace(cmd, sizeof cmd, README_CONF, conf);
    replace(cmd, sizeof cmd, README_BIN, test_dbs_bin_dir());
    size_t len = 0;
    unset[0] = '\0';
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "CHAT_", 5) == 0) {
            len += (size_t) snprintf(unset + len, sizeof unset - len, " -u %.*s",
                                     (int) strcspn(*e, "="), *e);
            ck_assert_uint_lt(len, sizeof unset);
        }
    }
    return run_cmd(out, sizeof out, "env%s sh -c '%s' 2>&1", unset, cmd);
}

static void setup(void)
{
    /* README step 4 makes the schema as root; the stack's account may make
     * these itself. */
    test_dbs_create("inst", dbname, sizeof dbname);
    snprintf(dir, sizeof dir, "/tmp/chat-install-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(conf, sizeof conf, "%s/chat.conf", dir);
}

static void teardown(void)
{
    test_dbs_drop(dbname);
    run_cmd(out, sizeof out, "rm -rf %s", dir);
}

/* edit_config: README's `editor` step: append the settings that differ
 * from the defaults to the installed example. */
static void edit_config(void)
{
    const struct config *c = testenv_config();
    FILE *f = fopen(conf, "a");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "jwt_secret = %s\n"
            "mysql_port = %d\n"
            "mysql_password = %s\n"
            "mysql_database = %s\n"
            "mongo_uri = %s\n"
            "mongo_database = %s\n"
            "public_ws_url = wss://chat.example.com/ws\n"
            "allowed_origins = https://chat.example.com\n",
            c->jwt_secret, c->mysql_port, c->mysql_password, dbname, c->mongo_uri, dbname);
    fclose(f);
}

START_TEST(test_install_readme_steps_with_minimal_config)
{
    /* Step 5: the example (every line of it a comment), then the settings
     * that differ. The group `chat` of step 3 does not exist on a test
     * machine: root's stands in. */
    ck_assert_msg(run_readme("install -m 0640 -o root -g chat deploy/chat.conf.example", "-g chat ",
                             "-g root ") == 0,
                  "install step: %s", out);
    edit_config();
    ck_assert_int_eq(run_cmd(out, sizeof out, "grep -c '^[a-z]' %s", conf), 0);
    ck_assert_msg(strcmp(out, "8\n") == 0, "the config should set 8 keys, sets %s", out);

    /* Step 6: the schema, with the literal command. */
    const char *step6 =
        "CHAT_CONFIG=" README_CONF " CHAT_BIN_DIR=" README_BIN " migrations/migrate.sh";
    ck_assert_msg(run_readme(step6, NULL, NULL) == 0, "migrate.sh on a minimal config: %s", out);
    ck_assert_msg(strstr(out, "applied mysql/0001_") && strstr(out, "applied mongo/0001_"),
                  "migrate.sh output: %s", out);
    MYSQL *m = test_dbs_connect(dbname);
    test_dbs_exec(m, "SELECT COUNT(*) FROM schema_migrations WHERE version LIKE '0001_%'");
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    ck_assert_msg(row && strcmp(row[0], "1") == 0, "0001 recorded in the test database");
    mysql_free_result(res);
    mysql_close(m);
    /* "safe to run again after every upgrade" */
    ck_assert_msg(run_readme(step6, NULL, NULL) == 0 && strstr(out, "up to date"), "second run: %s",
                  out);

    /* Step 10: chatctl with the same config adds a user and mints a JWT. */
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "CHAT_CONFIG=%s env -u CHAT_MYSQL_DATABASE "
                             "%s/chatctl add-user alice 2>&1",
                             conf, test_dbs_bin_dir()),
                     0);
    ck_assert_msg(strtoll(out, NULL, 10) > 0, "add-user printed: %s", out);
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "CHAT_CONFIG=%s env -u CHAT_MYSQL_DATABASE %s/chatctl token alice",
                             conf, test_dbs_bin_dir()),
                     0);
    ck_assert_msg(strncmp(out, "eyJ", 3) == 0, "token printed: %s", out);
}
END_TEST

/* The scripts' one config reader answers with the programs' defaults and
 * refuses a key the programs do not know. */
START_TEST(test_install_config_get_reads_defaults_and_refuses_unknown_keys)
{
    edit_config();
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "env -u CHAT_MYSQL_DATABASE CHAT_CONFIG=%s %s/chatctl config get "
                             "mysql_user mysql_host mysql_database max_text_chars",
                             conf, test_dbs_bin_dir()),
                     0);
    char want[256];
    snprintf(want, sizeof want, "chat\n127.0.0.1\n%s\n4000\n", dbname);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "CHAT_CONFIG=%s CHAT_MYSQL_USER=other %s/chatctl config get mysql_user", conf,
                test_dbs_bin_dir()),
        0);
    ck_assert_str_eq(out, "other\n");
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "CHAT_CONFIG=%s %s/chatctl config get mysql_user no_such_key 2>&1",
                             conf, test_dbs_bin_dir()),
                     2);
    ck_assert_msg(strstr(out, "unknown key no_such_key") && !strstr(out, "chat\n"),
                  "an unknown key fails the whole answer: %s", out);
}
END_TEST

Suite *install_suite(void)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("readme");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_install_readme_steps_with_minimal_config);
    tcase_add_test(tc, test_install_config_get_reads_defaults_and_refuses_unknown_keys);
    suite_add_tcase(s, tc);
    return s;
}
