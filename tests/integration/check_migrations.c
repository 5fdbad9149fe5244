/*
 * check_migrations.c - migrations/migrate.sh against the real MariaDB and
 * FerretDB, each test in a throw-away database pair (MySQL database and
 * MongoDB database of the same name): <run>_mig_<pid>_<n> under the
 * databases of the `make test` run, whose clean-up then drops what a killed
 * test left, else chat_test_mig_<pid>_<n>. The stack's FerretDB stores in
 * PostgreSQL, so the ferretdb-pg/ step is tested too: its indexes land on
 * the test database's table in that PostgreSQL.
 */
#include "run_cmd.h"
#include "test_dbs.h"
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

/* query_text: all rows of a query as "a|b|c\n" lines, for comparing state. */
static void query_text(MYSQL *m, const char *q, char *buf, size_t cap)
{
    test_dbs_exec(m, q);
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

/* migrate_env: migrate.sh on the test databases with extra environment
 * assignments `env` ("" for none). */
static int migrate_env(const char *env, const char *dir, const char *args)
{
    return run_cmd(out, sizeof out,
                   "%s CHAT_MYSQL_DATABASE=%s CHAT_MONGO_DATABASE=%s CHAT_MIGRATIONS_DIR=%s "
                   "migrations/migrate.sh %s",
                   env, dbname, dbname, dir, args);
}

static int migrate(const char *dir, const char *args)
{
    return migrate_env("", dir, args);
}

/* pg_url: the stack's ferretdb_postgresql_url (make run sets it). */
static const char *pg_url(void)
{
    const char *url = testenv_config()->ferretdb_postgresql_url;
    ck_assert_msg(url[0], "the stack's config has no ferretdb_postgresql_url");
    return url;
}

/* pg_gin_indexes: "name|definition" lines of the GIN indexes on the test
 * database's tables in FerretDB's PostgreSQL, into buf. */
static void pg_gin_indexes(char *buf, size_t cap)
{
    int rc = run_cmd(buf, cap,
                     "psql -X -At -d '%s' -c \"SELECT indexname || '|' || indexdef FROM pg_indexes "
                     "WHERE schemaname = '%s' AND indexdef LIKE '%%USING gin%%' ORDER BY 1\"",
                     pg_url(), dbname);
    ck_assert_msg(rc == 0, "psql on ferretdb_postgresql_url failed: %s", buf);
}

static void setup(void)
{
    test_dbs_create("mig", dbname, sizeof dbname);
    /* A private copy of the real migrations that a test may edit. */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/chat-mig-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "cp -r migrations/mysql migrations/mongo migrations/data "
                             "migrations/ferretdb-pg %s/",
                             tmpdir),
                     0);
}

static void teardown(void)
{
    test_dbs_drop(dbname);
    run_cmd(out, sizeof out, "rm -rf %s", tmpdir);
}

static MYSQL *connect_db(void)
{
    return test_dbs_connect(dbname);
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
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "echo '-- edited' >> %s/mysql/0001_users_rooms_tokens.sql", tmpdir),
                     0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a changed applied migration must be refused; output: %s", out);
    ck_assert_msg(strstr(out, "0001_users_rooms_tokens.sql was changed"), "output: %s", out);
}
END_TEST

START_TEST(test_migrations_sql_error_names_file_and_records_nothing)
{
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "printf 'CREATE TABLEX broken (id INT);\\n' > %s/mysql/0099_broken.sql", tmpdir),
        0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a failing migration must exit non-zero; output: %s", out);
    ck_assert_msg(strstr(out, "mysql/0099_broken.sql failed"), "output: %s", out);

    MYSQL *m = connect_db();
    static char rows[4096];
    query_text(m, "SELECT version FROM schema_migrations ORDER BY version", rows, sizeof rows);
    ck_assert_str_eq(rows, "0001_users_rooms_tokens.sql\n0002_room_seq_state.sql\n0003_username_"
                           "case_insensitive.sql\n0004_user_identities.sql\n"
                           "0005_conversation_state.sql\n0006_user_last_seen.sql\n"
                           "0007_history_read_at_upgrade.sql\n");

    /* Fixed, the same file applies on the next run and nothing else does. */
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "printf 'CREATE TABLE fixed (id INT PRIMARY KEY);\\n' > %s/mysql/0099_broken.sql",
                tmpdir),
        0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "second run failed: %s", out);
    ck_assert_msg(strstr(out, "applied mysql/0099_broken.sql") &&
                      !strstr(out, "applied mysql/0001"),
                  "output: %s", out);
    query_text(m,
               "SELECT version FROM schema_migrations WHERE version LIKE '00%%' ORDER BY version",
               rows, sizeof rows);
    ck_assert_str_eq(
        rows,
        "0001_users_rooms_tokens.sql\n0002_room_seq_state.sql\n0003_username_case_insensitive.sql\n"
        "0004_user_identities.sql\n0005_conversation_state.sql\n0006_user_last_seen.sql\n"
        "0007_history_read_at_upgrade.sql\n0099_broken.sql\n");
    mysql_close(m);
}
END_TEST

/* Old data with two users whose names differ only in case: the migration
 * that makes usernames case-insensitive stops loudly and changes nothing;
 * with the clash renamed it applies. */
START_TEST(test_migrations_username_case_clash_stops_migrate)
{
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "mkdir -p %s/later && mv %s/mysql/0003_username_case_insensitive.sql "
                "%s/mysql/0004_user_identities.sql %s/mysql/0005_conversation_state.sql "
                "%s/mysql/0006_user_last_seen.sql %s/mysql/0007_history_read_at_upgrade.sql "
                "%s/later/",
                tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir),
        0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "old schema: %s", out);
    MYSQL *m = connect_db();
    test_dbs_exec(
        m, "INSERT INTO users (id, username, display_name) VALUES (1,'dup','a'),(2,'DUP','b')");
    ck_assert_int_eq(run_cmd(out, sizeof out, "mv %s/later/* %s/mysql/", tmpdir, tmpdir), 0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a case clash must stop migrate; output: %s", out);
    ck_assert_msg(strstr(out, "mysql/0003_username_case_insensitive.sql failed"), "output: %s",
                  out);
    static char rows[4096];
    query_text(m, "SELECT COUNT(*) FROM schema_migrations WHERE version LIKE '0003%%'", rows,
               sizeof rows);
    ck_assert_str_eq(rows, "0\n");
    query_text(m, "SELECT username FROM users ORDER BY id", rows, sizeof rows);
    ck_assert_str_eq(rows, "dup\nDUP\n");

    test_dbs_exec(m, "UPDATE users SET username = 'dup2' WHERE id = 2");
    ck_assert_msg(migrate(tmpdir, "") == 0, "after the rename: %s", out);
    ck_assert_int_ne(
        mysql_query(m, "INSERT INTO users (username, display_name) VALUES ('Dup','c')"), 0);
    ck_assert_int_eq(mysql_errno(m), 1062);
    mysql_close(m);
}
END_TEST

/* A store that had conversations before the read watermarks: after the
 * upgrade their history counts as read (no flood of old unread messages);
 * a watermark already moved stays where it is. */
START_TEST(test_migrations_history_read_at_upgrade)
{
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "mkdir -p %s/later && mv %s/mysql/0007_history_read_at_upgrade.sql "
                             "%s/later/",
                             tmpdir, tmpdir, tmpdir),
                     0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "schema before 0007: %s", out);
    MYSQL *m = connect_db();
    test_dbs_exec(m, "INSERT INTO users (id, username, display_name) VALUES "
                     "(1,'u1','a'),(2,'u2','b'),(3,'u3','c')");
    test_dbs_exec(m, "INSERT INTO chat_rooms (id, user_low, user_high, created_by, seq_issued, "
                     "last_seq) VALUES (1,1,2,1,7,7),(2,1,3,1,0,0)");
    test_dbs_exec(m, "INSERT INTO chat_room_members (room_id, user_id, last_read_seq) VALUES "
                     "(1,1,0),(1,2,3),(2,1,0),(2,3,0)");
    ck_assert_int_eq(run_cmd(out, sizeof out, "mv %s/later/* %s/mysql/", tmpdir, tmpdir), 0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "0007: %s", out);
    static char rows[4096];
    query_text(m,
               "SELECT room_id, user_id, last_read_seq FROM chat_room_members "
               "ORDER BY room_id, user_id",
               rows, sizeof rows);
    ck_assert_str_eq(rows, "1|1|7\n1|2|3\n2|1|0\n2|3|0\n");
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

/* A store written before rooms kept their seq state in MySQL: messages in
 * MongoDB, rooms without seq columns (0007, which reads them, comes with
 * them). The data migration must raise every room to its highest stored
 * seq, so the relay's next seq is new. */
START_TEST(test_migrations_backfill_room_seq_state_from_stored_messages)
{
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "rm -rf %s/data %s/mysql/0002_* %s/mysql/0007_* && mkdir -p %s/later && "
                "cp migrations/mysql/0002_* migrations/mysql/0007_* %s/later/",
                tmpdir, tmpdir, tmpdir, tmpdir, tmpdir),
        0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "old schema: %s", out);
    MYSQL *m = connect_db();
    test_dbs_exec(m,
                  "INSERT INTO users (id, username, display_name) VALUES (1,'a','a'),(2,'b','b'),"
                  "(3,'c','c')");
    test_dbs_exec(m, "INSERT INTO chat_rooms (id, user_low, user_high, created_by) VALUES "
                     "(10,1,2,1),(11,1,3,1),(12,2,3,2)");
    /* Room 10 holds seqs 1..7 (stored out of order), room 11 seqs 1..3,
     * room 12 nothing. */
    ck_assert_int_eq(
        run_cmd(out, sizeof out,
                "echo '{\"insert\": \"chat_messages\", \"documents\": ["
                "{\"chatRoomId\": {\"$numberLong\": \"10\"}, \"seq\": {\"$numberLong\": \"7\"}},"
                "{\"chatRoomId\": {\"$numberLong\": \"10\"}, \"seq\": {\"$numberLong\": \"2\"}},"
                "{\"chatRoomId\": {\"$numberLong\": \"11\"}, \"seq\": {\"$numberLong\": \"3\"}},"
                "{\"chatRoomId\": {\"$numberLong\": \"10\"}, \"seq\": {\"$numberLong\": \"5\"}},"
                "{\"chatRoomId\": {\"$numberLong\": \"11\"}, \"seq\": {\"$numberLong\": \"1\"}}"
                "]}' | CHAT_MONGO_DATABASE=%s %s/chat-mongo-cmd run -",
                dbname, test_dbs_bin_dir()),
        0);

    /* The upgrade: the seq columns and the data migration arrive. */
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "mv %s/later/* %s/mysql/ && cp -r migrations/data %s/", tmpdir, tmpdir,
                             tmpdir),
                     0);
    ck_assert_msg(migrate(tmpdir, "") == 0, "upgrade: %s", out);
    ck_assert_msg(strstr(out, "applied data/0001_room_seq_backfill.sh"), "output: %s", out);
    static char rows[4096];
    query_text(m, "SELECT id, seq_issued, last_seq FROM chat_rooms ORDER BY id", rows, sizeof rows);
    ck_assert_str_eq(rows, "10|7|7\n11|3|3\n12|0|0\n");
    mysql_close(m);
}
END_TEST

/* The GIN indexes FerretDB cannot make are on the test database's
 * chat_messages table after the first run, and a second run adds nothing. */
START_TEST(test_migrations_ferretdb_pg_adds_gin_indexes)
{
    static char idx[4096];
    ck_assert_msg(migrate("migrations", "") == 0, "first run failed: %s", out);
    ck_assert_msg(strstr(out, "applied mongo/0001_") && strstr(out, "applied ferretdb-pg/0001_"),
                  "first run output: %s", out);
    ck_assert_msg(strstr(out, "applied mongo/0001_") < strstr(out, "applied ferretdb-pg/0001_"),
                  "the PostgreSQL step must follow the MongoDB one: %s", out);

    pg_gin_indexes(idx, sizeof idx);
    ck_assert_msg(strstr(idx, "chat_messages_room_gin|") &&
                      strstr(idx, "(((_jsonb -> 'chatRoomId'::text)) jsonb_path_ops)"),
                  "no GIN index on chatRoomId in schema %s: %s", dbname, idx);
    ck_assert_msg(strstr(idx, "chat_messages_client_msg_gin|") &&
                      strstr(idx, "(((_jsonb -> 'clientMsgId'::text)) jsonb_path_ops)"),
                  "no GIN index on clientMsgId in schema %s: %s", dbname, idx);
    /* On FerretDB's table for chat_messages, not on some other table. */
    ck_assert_msg(strstr(idx, dbname) && strstr(idx, ".chat_messages_"), "indexes: %s", idx);

    ck_assert_msg(migrate("migrations", "") == 0, "second run failed: %s", out);
    ck_assert_msg(strstr(out, "up to date") && !strstr(out, "applied "), "second run: %s", out);
    ck_assert_int_eq(migrate("migrations", "--status"), 0);
    ck_assert_msg(strstr(out, "applied  ferretdb-pg/0001_") && !strstr(out, "pending"),
                  "status: %s", out);
}
END_TEST

/* ferretdb_postgresql_url naming a PostgreSQL database that does not hold
 * the MongoDB in use: the step is skipped, nothing is recorded, and the
 * right URL applies it afterwards. */
START_TEST(test_migrations_ferretdb_pg_skips_another_store)
{
    static char idx[4096], env[1024];
    const char *url = pg_url(), *slash = strrchr(url, '/');
    ck_assert_ptr_nonnull(slash);
    snprintf(env, sizeof env, "CHAT_FERRETDB_POSTGRESQL_URL='%.*s/postgres'", (int) (slash - url),
             url);

    ck_assert_msg(migrate_env(env, "migrations", "") == 0, "run failed: %s", out);
    ck_assert_msg(strstr(out, "applied mongo/0001_") && strstr(out, "ferretdb-pg: skipped") &&
                      !strstr(out, "applied ferretdb-pg/"),
                  "output: %s", out);
    pg_gin_indexes(idx, sizeof idx);
    ck_assert_str_eq(idx, "");
    ck_assert_int_eq(migrate("migrations", "--status"), 0);
    ck_assert_msg(strstr(out, "pending  ferretdb-pg/0001_"), "status: %s", out);

    ck_assert_msg(migrate("migrations", "") == 0, "run with the stack's URL failed: %s", out);
    ck_assert_msg(strstr(out, "applied ferretdb-pg/0001_"), "output: %s", out);
    pg_gin_indexes(idx, sizeof idx);
    ck_assert_msg(strstr(idx, "chat_messages_room_gin|"), "indexes: %s", idx);
}
END_TEST

START_TEST(test_migrations_ferretdb_pg_refuses_changed_applied_file)
{
    ck_assert_msg(migrate(tmpdir, "") == 0, "first run failed: %s", out);
    ck_assert_msg(strstr(out, "applied ferretdb-pg/0001_"), "first run output: %s", out);
    ck_assert_int_eq(run_cmd(out, sizeof out,
                             "echo '-- edited' >> %s/ferretdb-pg/0001_chat_messages_gin.sql",
                             tmpdir),
                     0);
    int rc = migrate(tmpdir, "");
    ck_assert_msg(rc != 0, "a changed applied migration must be refused; output: %s", out);
    ck_assert_msg(strstr(out, "ferretdb-pg/0001_chat_messages_gin.sql was changed"), "output: %s",
                  out);
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
    tcase_add_test(tc, test_migrations_username_case_clash_stops_migrate);
    tcase_add_test(tc, test_migrations_history_read_at_upgrade);
    tcase_add_test(tc, test_migrations_backfill_room_seq_state_from_stored_messages);
    tcase_add_test(tc, test_migrations_ferretdb_pg_adds_gin_indexes);
    tcase_add_test(tc, test_migrations_ferretdb_pg_skips_another_store);
    tcase_add_test(tc, test_migrations_ferretdb_pg_refuses_changed_applied_file);
    suite_add_tcase(s, tc);
    return s;
}
