/*
 * test_dbs.c - throw-away database pairs (see test_dbs.h).
 */
#include "test_dbs.h"
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

MYSQL *test_dbs_connect(const char *db)
{
    const struct config *c = testenv_config();
    MYSQL *m = mysql_init(NULL);
    ck_assert_ptr_nonnull(m);
    const char *sock = c->mysql_socket[0] ? c->mysql_socket : NULL;
    if (!mysql_real_connect(m, c->mysql_host, c->mysql_user, c->mysql_password, db,
                            (unsigned) c->mysql_port, sock, 0))
        ck_abort_msg("cannot connect to MySQL: %s", mysql_error(m));
    return m;
}

void test_dbs_exec(MYSQL *m, const char *q)
{
    if (mysql_query(m, q) != 0)
        ck_abort_msg("query failed: %s: %s", q, mysql_error(m));
}

void test_dbs_create(const char *tag, char *name, size_t cap)
{
    static int n;
    const char *run = testenv_config()->mysql_database;
    if (strncmp(run, "chat_test_", strlen("chat_test_")) == 0)
        snprintf(name, cap, "%.40s_%s_%ld_%d", run, tag, (long) getpid(), n++);
    else
        snprintf(name, cap, "chat_test_%s_%ld_%d", tag, (long) getpid(), n++);
    MYSQL *m = test_dbs_connect(NULL);
    char q[256];
    snprintf(q, sizeof q, "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", name);
    test_dbs_exec(m, q);
    mysql_close(m);
}

void test_dbs_drop(const char *name)
{
    static char out[4096];
    MYSQL *m = test_dbs_connect(NULL);
    char q[256];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS `%s`", name);
    test_dbs_exec(m, q);
    mysql_close(m);
    run_cmd(out, sizeof out,
            "echo '{\"dropDatabase\": 1}' | CHAT_MONGO_DATABASE=%s %s/chat-mongo-cmd run -", name,
            test_dbs_bin_dir());
}

const char *test_dbs_bin_dir(void)
{
    const char *d = getenv("CHAT_BIN_DIR");
    return d && *d ? d : "build/san/bin";
}
