/*
 * test_dbs.h - throw-away database pairs for the integration tests that
 * need a schema of their own (migrations, the install steps): a MySQL
 * database and a MongoDB database of one name, made under the databases of
 * the `make test` run (<run>_<tag>_<pid>_<n>), so that the run's clean-up
 * drops whatever a killed test left.
 */
#ifndef CHAT_TEST_DBS_H
#define CHAT_TEST_DBS_H

#include <mysql.h>
#include <stddef.h>

/* test_dbs_connect: a MySQL connection as the stack's account, to database
 * db (NULL: none); aborts the test on failure. */
MYSQL *test_dbs_connect(const char *db);

/* test_dbs_exec: run one statement; aborts the test on failure. */
void test_dbs_exec(MYSQL *m, const char *q);

/* test_dbs_create: a fresh name for `tag` into name, and its MySQL
 * database created (utf8mb4_bin); the MongoDB one comes with its first
 * write. */
void test_dbs_create(const char *tag, char *name, size_t cap);

/* test_dbs_drop: drop the MySQL and the MongoDB database `name`. */
void test_dbs_drop(const char *name);

/* test_dbs_bin_dir: where the binaries under test are (CHAT_BIN_DIR). */
const char *test_dbs_bin_dir(void);

#endif
