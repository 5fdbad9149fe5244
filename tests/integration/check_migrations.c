/*
 * check_migrations.c - migrations/migrate.sh against the real MariaDB and
 * FerretDB, each test in a throw-away database pair (MySQL database and
 * MongoDB database of the same name): <run>_mig_<pid>_<n> under the
 * databases of the `make test` run, whose clean-up then drops what a killed
 * test left, else chat_test_mig_<pid>_<n>.
 */
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dbname[96];
static char tmpdir[128];
static char out[16384];

static MYSQL *connect_server(void)
{
    const struct config *c = testenv_config();
    MYSQL *m = mysql_init(NULL);
    ck_assert_ptr_nonnull(m);
    const char *sock = c->mysql_socket[0] ? c->mysql_socket : NULL;
    if (!mysql_real_connect(m, c->mysql_host, c->mysql_user, c->mysql_password, NULL,
                            (unsigned) c->mysql_port, sock, 0))
        ck_abort_msg("cannot connect to MySQL: %s", mysql_error(m));
    return m;
}

static void sql_exec(MYSQL *m, const char *q)
{
    if (mysql_query(m, q) != 0)
        ck_abort_msg("query failed: %s: %s", q, mysql_error(m));
}

/* query_text: all rows of a query as "a|b|c\n" lines, for comparing state. */
static void query_text(MYSQL *m, const char *q, char *buf, size_t cap)
{
    sql_exec(m, q);
    MYSQL_RES *res = mysql_store_result(m);
    size_t len = 0;
    buf[0] = '\0';
    MYSQL_ROW row;
    unsigned nf = res ? mysql_num_fields(res) : 0;
    while (res && (row = mysql_fetch_row(res))) {
        for (unsigned i = 0; i < nf; i++)
            len += (size_t) snprintf(buf + len, cap - len, "%s%s", row[i] ? row[i] : "NULL",
                                     i + 1 < nf ? "|" : "\n");
        ck_assert_uint_lt(len, cap);
    }
    mysql_free_result(res);
}

static int migrate(const char *dir, const char *args)
{
    return run_cmd(out, sizeof out,
                   "CHAT_MYSQL_DATABASE=%s CHAT_MONGO_DATABASE=%s CHAT_MIGRATIONS_DIR=%s "
                   "migrations/migrate.sh %s",
                   dbname, dbname, dir, args);
}

static void setup(void)
{
    static int n;
    const char *run = testenv_config()->mysql_database;
    if (strncmp(run, "chat_test_", strlen("chat_test_")) == 0)
        snprintf(dbname, sizeof dbname, "%.40s_mig_%ld_%d", run, (long) getpid(), n++);
    else
        snprintf(dbname, sizeof dbname, "chat_test_mig_%ld_%d", (long) getpid(), n++);
    MYSQL *m = connect_server();
    char q[256];
    snprintf(q, sizeof q, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", dbname);
    sql_exec(m, q);
    mysql_close(m);
    /* A private copy of the real migrations that a test may edit. */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/chat-mig-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(run_cmd(out, sizeof out, "cp -r migrations/mysql migrations/mongo %s/", tmpdir), 0);
}

static void teardown(void)
{
    MYSQL *m = connect_server();
    char q[256];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS `%s`", dbname);
    sql_exec(m, q);
    mysql_close(m);
    run_cmd(out, sizeof out,
            "echo '{\"dropDatabase\": 1}' | CHAT_MONGO_DATABASE=%s %s/chat-mongo-cmd run -",
            dbname, getenv("CHAT_BIN_DIR") ? getenv("CHAT_BIN_DIR") : "build/san/bin");
    run_cmd(out, sizeof out, "rm -rf %s", tmpdir);
}

static MYSQL *connect_db(void)
{
    MYSQL *m = connect_server();
    ck_assert_int_eq(mysql_select_db(m, dbname), 0);
    return m;
}

START_TEST(test_migrations_apply_then_nothing_the_second_time)
{
    ck_assert_msg(migrate("migrations", "") == 0, "first run failed: %s", out);
    ck_assert_msg(strstr(out, "applied mysql/0001_"), "first run output: %s", out);
    ck_assert_msg(strstr(out, "applied mongo/0001_"), "first run output: %s", out);

    MYSQL *m = connect_db();
    static char before[8192], after[8192], tables[4096];
    query_text(m, "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version",
               before, sizeof before);
    query_text(m, "SHOW TABLES", tables, sizeof tables);
    ck_assert_msg(strstr(tables, "chat_rooms") && strstr(tables, "socket_tokens"),
                  "expected the schema tables, got: %s", tables);

    ck_assert_msg(migrate("migrations", "") == 0, "second run failed: %s", out);
    ck_assert_msg(strstr(out, "up to date") && !strstr(out, "applied "),
                  "second run should apply nothing, printed: %s", out);
    query_text(m, "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version",
               after, sizeof after);
    ck_assert_str_eq(after, before);
    mysql_close(m);

    ck_assert_int_eq(migrate("migrations", "--status"), 0);
    ck_assert_msg(strstr(out, "applied  mysql/0001_") && strstr(out, "applied  mongo/0001_") &&
                      !strstr(out, "pending"),
                  "status: %s", out);
}
END_TEST

START_TEST(test_migrations_refuse_changed_applied_file)
{
    ck_assert_msg(migrate(tmpdir, "") == 0, "first run failed: %s", out);
    ck_assert_int_eq(run_cmd(out, sizeof out, "echo '-- edited' >> %s/mysql/0001_users_rooms_tokens.sql",
                             tmpdir), 0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a changed applied migration must be refused; output: %s", out);
    ck_assert_msg(strstr(out, "0001_users_rooms_tokens.sql was changed"), "output: %s", out);
}
END_TEST

START_TEST(test_migrations_sql_error_names_file_and_records_nothing)
{
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "printf 'CREATE TABLEX broken (id INT);\\n' > %s/mysql/0002_broken.sql",
                             tmpdir), 0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a failing migration must exit non-zero; output: %s", out);
    ck_assert_msg(strstr(out, "mysql/0002_broken.sql failed"), "output: %s", out);

    MYSQL *m = connect_db();
    static char rows[4096];
    query_text(m, "SELECT version FROM schema_migrations ORDER BY version", rows, sizeof rows);
    ck_assert_str_eq(rows, "0001_users_rooms_tokens.sql\n");

    /* Fixed, the same file applies on the next run and nothing else does. */
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "printf 'CREATE TABLE fixed (id INT PRIMARY KEY);\\n' > %s/mysql/0002_broken.sql",
                             tmpdir), 0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "second run failed: %s", out);
    ck_assert_msg(strstr(out, "applied mysql/0002_broken.sql") && !strstr(out, "applied mysql/0001"),
                  "output: %s", out);
    query_text(m, "SELECT version FROM schema_migrations ORDER BY version", rows, sizeof rows);
    ck_assert_str_eq(rows, "0001_users_rooms_tokens.sql\n0002_broken.sql\n");
    mysql_close(m);
}
END_TEST

START_TEST(test_migrations_status_lists_pending_without_applying)
{
    ck_assert_int_eq(migrate(tmpdir, "--status"), 0);
    ck_assert_msg(strstr(out, "pending  mysql/0001_") && strstr(out, "pending  mongo/0001_"),
                  "status: %s", out);
    MYSQL *m = connect_db();
    static char rows[4096];
    query_text(m, "SELECT COUNT(*) FROM schema_migrations", rows, sizeof rows);
    ck_assert_str_eq(rows, "0\n");
    mysql_close(m);
}
END_TEST

Suite *migrations_suite(void)
{
    Suite *s = suite_create("migrations");
    TCase *tc = tcase_create("migrate.sh");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_migrations_apply_then_nothing_the_second_time);
    tcase_add_test(tc, test_migrations_refuse_changed_applied_file);
    tcase_add_test(tc, test_migrations_sql_error_names_file_and_records_nothing);
    tcase_add_test(tc, test_migrations_status_lists_pending_without_applying);
    suite_add_tcase(s, tc);
    return s;
}
