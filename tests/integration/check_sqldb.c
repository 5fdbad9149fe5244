/*
 * check_sqldb.c - the MySQL handle against the stack's MariaDB: typed
 * results, error mapping, reconnection after a killed connection, and a
 * transaction that is never silently resumed on a new connection.
 */
#include "config.h"
#include "errors.h"
#include "sqldb.h"
#include "testenv.h"

#include <check.h>
#include <string.h>

static struct sqldb *db, *other;

static void setup(void)
{
    db = sqldb_new(testenv_config());
    other = sqldb_new(testenv_config());
    ck_assert_ptr_nonnull(db);
    ck_assert_ptr_nonnull(other);
}

static void teardown(void)
{
    sqldb_free(db);
    sqldb_free(other);
}

static int64_t connection_id(struct sqldb *h, int *rc)
{
    struct sqldb_col c = SQLDB_COL_I64();
    *rc = sqldb_stmt_row(h, "SELECT CONNECTION_ID()", NULL, 0, &c, 1);
    return c.i64;
}

static void kill_connection(int64_t id)
{
    struct sqldb_arg a = SQLDB_ARG_I64(id);
    ck_assert_int_eq(sqldb_stmt_exec(other, "KILL CONNECTION ?", &a, 1, NULL, NULL), 0);
}

START_TEST(test_sqldb_types_and_nulls)
{
    char text[16];
    struct sqldb_col cols[4] = {SQLDB_COL_I64(), SQLDB_COL_TEXT(text, sizeof text),
                                SQLDB_COL_TIME(), SQLDB_COL_I64()};
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(-42), SQLDB_ARG_TEXT("h\xc3\xa9llo")};
    ck_assert_int_eq(sqldb_stmt_row(db,
                                    "SELECT ?, ?, CAST('2027-01-15 08:00:00.123' AS DATETIME(3)), "
                                    "NULL",
                                    args, 2, cols, 4),
                     0);
    ck_assert_int_eq(cols[0].i64, -42);
    ck_assert_str_eq(text, "h\xc3\xa9llo");
    ck_assert_uint_eq(cols[1].len, 6);
    ck_assert(cols[2].i64 == 1800000000123LL);
    ck_assert_int_eq(cols[3].is_null, 1);
    ck_assert_int_eq(cols[0].is_null, 0);
    /* no row */
    ck_assert_int_eq(sqldb_stmt_row(db, "SELECT 1 FROM DUAL WHERE 1 = 0", NULL, 0, cols, 1),
                     ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_sqldb_errors_are_mapped)
{
    char small[4];
    struct sqldb_col c = SQLDB_COL_TEXT(small, sizeof small);
    /* a value longer than the buffer fails rather than being cut */
    ck_assert_int_eq(sqldb_stmt_row(db, "SELECT 'longer than four'", NULL, 0, &c, 1), ERR_INTERNAL);
    /* a duplicate key is a conflict */
    const char *name = testenv_unique("sqldb_dup");
    struct sqldb_arg a[2] = {SQLDB_ARG_TEXT(name), SQLDB_ARG_TEXT(name)};
    const char *ins = "INSERT INTO users (username, display_name) VALUES (?, ?)";
    ck_assert_int_eq(sqldb_stmt_exec(db, ins, a, 2, NULL, NULL), 0);
    ck_assert_int_eq(sqldb_stmt_exec(db, ins, a, 2, NULL, NULL), ERR_CONFLICT);
    /* a wrong argument count is the caller's error, a bad statement the server's */
    ck_assert_int_eq(sqldb_stmt_exec(db, ins, a, 1, NULL, NULL), ERR_INVALID);
    ck_assert_int_eq(sqldb_stmt_exec(db, "SELEC nonsense", NULL, 0, NULL, NULL), ERR_INTERNAL);
    /* and the handle still works afterwards */
    int rc;
    connection_id(db, &rc);
    ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(test_sqldb_reconnects_after_killed_connection)
{
    int rc;
    int64_t before = connection_id(db, &rc);
    ck_assert_int_eq(rc, 0);
    kill_connection(before);
    /* The next call either notices (503 for that request) or, after an
     * idle second, pings first and reconnects; the one after must work on
     * a new connection either way. */
    int64_t after = connection_id(db, &rc);
    if (rc != 0) {
        ck_assert_int_eq(rc, ERR_UNAVAILABLE);
        after = connection_id(db, &rc);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(after != before, "still on connection %lld", (long long) before);
}
END_TEST

START_TEST(test_sqldb_transaction_not_resumed_after_loss)
{
    int rc;
    ck_assert_int_eq(sqldb_begin(db), 0);
    int64_t id = connection_id(db, &rc);
    ck_assert_int_eq(rc, 0);
    kill_connection(id);
    /* inside the transaction: no reconnect, every statement fails */
    connection_id(db, &rc);
    ck_assert_int_eq(rc, ERR_UNAVAILABLE);
    connection_id(db, &rc);
    ck_assert_int_eq(rc, ERR_UNAVAILABLE);
    ck_assert_int_eq(sqldb_commit(db), ERR_UNAVAILABLE);
    /* the failed commit ended it; the handle works again */
    int64_t fresh = connection_id(db, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert(fresh != id);

    /* a rolled-back transaction leaves nothing behind */
    const char *name = testenv_unique("sqldb_rb");
    struct sqldb_arg a[2] = {SQLDB_ARG_TEXT(name), SQLDB_ARG_TEXT(name)};
    ck_assert_int_eq(sqldb_begin(db), 0);
    ck_assert_int_eq(sqldb_stmt_exec(db, "INSERT INTO users (username, display_name) VALUES (?, ?)",
                                     a, 2, NULL, NULL),
                     0);
    sqldb_rollback(db);
    struct sqldb_col c = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(db, "SELECT id FROM users WHERE username = ?", a, 1, &c, 1),
                     ERR_NOT_FOUND);
}
END_TEST

Suite *sqldb_suite(void)
{
    Suite *s = suite_create("sqldb");
    TCase *tc = tcase_create("mariadb");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sqldb_types_and_nulls);
    tcase_add_test(tc, test_sqldb_errors_are_mapped);
    tcase_add_test(tc, test_sqldb_reconnects_after_killed_connection);
    tcase_add_test(tc, test_sqldb_transaction_not_resumed_after_loss);
    suite_add_tcase(s, tc);
    return s;
}
