/*
 * check_isolation.c - the tests run on databases of their own, never on the
 * development data: the stack under test is configured with the run's
 * chat_test_* MySQL schema and MongoDB database (tests/run.sh), and what
 * the HTTP API (lighttpd's FastCGI programs) and the relay write lands
 * there and not in the databases var/chat.conf names. Run outside
 * tests/run.sh, on the dev stack's databases, these tests fail.
 */
#include "http_client.h"
#include "relay_helpers.h"
#include "testenv.h"

#include <check.h>
#include <mongoc/mongoc.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_PREFIX "chat_test_"

/* dev_config: the config as the dev stack sees it, i.e. without the
 * database overrides of the test run (restored afterwards, should the
 * runner not fork). */
static void dev_config(struct config *out)
{
    static const char *const vars[] = {"CHAT_MYSQL_DATABASE", "CHAT_MONGO_DATABASE"};
    char *saved[2];
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    char err[1024];
    int rc = config_load(out, NULL, err, sizeof err);
    for (int i = 0; i < 2; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        free(saved[i]);
    }
    ck_assert_msg(rc == 0, "loading the config without overrides: %s", err);
}

/* user_id_in: the id of user `name` in MySQL database `db`, 0 when absent. */
static long long user_id_in(const char *db, const char *name)
{
    const struct config *c = testenv_config();
    MYSQL *m = mysql_init(NULL);
    ck_assert_ptr_nonnull(m);
    if (!mysql_real_connect(m, c->mysql_host, c->mysql_user, c->mysql_password, NULL,
                            (unsigned) c->mysql_port, c->mysql_socket[0] ? c->mysql_socket : NULL,
                            0))
        ck_abort_msg("cannot connect to MySQL: %s", mysql_error(m));
    char q[512];
    /* Both names are ours: a database name of the config and a generated
     * user name of [a-z0-9_]. */
    snprintf(q, sizeof q, "SELECT id FROM `%s`.users WHERE username = '%s'", db, name);
    if (mysql_query(m, q) != 0) {
        /* A dev database never migrated (a fresh box running make test
         * before make run) holds no user at all. */
        unsigned err = mysql_errno(m);
        if (err == ER_NO_SUCH_TABLE || err == ER_BAD_DB_ERROR) {
            mysql_close(m);
            return 0;
        }
        ck_abort_msg("%s: %s", q, mysql_error(m));
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    long long id = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
    mysql_free_result(res);
    mysql_close(m);
    return id;
}

/* messages_in: how many messages of MongoDB database `db` carry this
 * clientMsgId. */
static long long messages_in(const char *db, const char *client_msg_id)
{
    const struct config *c = testenv_config();
    bson_error_t err;
    mongoc_log_set_handler(NULL, NULL); /* FerretDB's missing endSessions, a warning */
    mongoc_init();
    mongoc_client_t *client = mongoc_client_new(c->mongo_uri);
    ck_assert_ptr_nonnull(client);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, db, "chat_messages");
    bson_t *filter = BCON_NEW("clientMsgId", BCON_UTF8(client_msg_id));
    int64_t n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &err);
    ck_assert_msg(n >= 0, "counting in %s.chat_messages: %s", db, err.message);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    return n;
}

START_TEST(test_isolation_databases_are_the_runs_own)
{
    const struct config *run = testenv_config();
    struct config dev;
    dev_config(&dev);
    ck_assert_msg(strncmp(run->mysql_database, RUN_PREFIX, strlen(RUN_PREFIX)) == 0,
                  "the tests use the MySQL database '%s', not one of their own (" RUN_PREFIX
                  "*); run them through make test (tests/run.sh)",
                  run->mysql_database);
    ck_assert_msg(strncmp(run->mongo_database, RUN_PREFIX, strlen(RUN_PREFIX)) == 0,
                  "the tests use the MongoDB database '%s', not one of their own (" RUN_PREFIX
                  "*); run them through make test (tests/run.sh)",
                  run->mongo_database);
    ck_assert_str_ne(run->mysql_database, dev.mysql_database);
    ck_assert_str_ne(run->mongo_database, dev.mongo_database);
}
END_TEST

START_TEST(test_isolation_api_writes_only_the_runs_mysql)
{
    struct config dev;
    dev_config(&dev);
    char name[96];
    snprintf(name, sizeof name, "%s", testenv_unique("iso"));
    int64_t id = 0;
    char *jwt = test_login(name, &id); /* through lighttpd to chat-account */
    ck_assert_msg(jwt != NULL && id > 0, "dev login of %s failed", name);
    free(jwt);
    ck_assert_int_eq(user_id_in(testenv_config()->mysql_database, name), id);
    ck_assert_msg(user_id_in(dev.mysql_database, name) == 0,
                  "user %s, made through the API under test, is in the dev database %s", name,
                  dev.mysql_database);
}
END_TEST

START_TEST(test_isolation_relay_writes_only_the_runs_mongodb)
{
    struct config dev;
    dev_config(&dev);
    struct rh_pair p;
    rh_pair_open(&p, "iso", rh_port());
    char cmid[96];
    snprintf(cmid, sizeof cmid, "%s", testenv_unique("iso_msg"));
    /* The ACK comes once the message is stored. */
    ck_assert_int_ge(rh_text(&p.ca, p.room, cmid, "isolation probe"), 1);
    rh_pair_close(&p);
    ck_assert_int_eq(messages_in(testenv_config()->mongo_database, cmid), 1);
    ck_assert_msg(messages_in(dev.mongo_database, cmid) == 0,
                  "message %s, sent through the relay under test, is in the dev database %s", cmid,
                  dev.mongo_database);
}
END_TEST

Suite *isolation_suite(void)
{
    Suite *s = suite_create("isolation");
    TCase *tc = tcase_create("isolation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_isolation_databases_are_the_runs_own);
    tcase_add_test(tc, test_isolation_api_writes_only_the_runs_mysql);
    tcase_add_test(tc, test_isolation_relay_writes_only_the_runs_mongodb);
    suite_add_tcase(s, tc);
    return s;
}
