/*
 * sqldb.h - one MySQL/MariaDB connection (MariaDB Connector/C) that
 * reconnects by itself.
 *
 * A struct sqldb is used by one thread at a time (FastCGI programs have one
 * per process, the relay one per worker thread). sqldb_conn() returns a live
 * handle, connecting (again) when the previous call found the server gone,
 * so a process keeps serving once the database is back. All SQL goes
 * through prepared statements (sqldb_stmt_*), never string concatenation.
 */
#ifndef CHAT_SQLDB_H
#define CHAT_SQLDB_H

#include "config.h"

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sqldb;

/* sqldb_new: allocate a handle for the settings in cfg (borrowed for the
 * handle's lifetime). Does not connect yet. NULL only when out of memory. */
struct sqldb *sqldb_new(const struct config *cfg);

/* sqldb_free: close and free; NULL is a no-op. */
void sqldb_free(struct sqldb *db);

/* sqldb_conn: a connected MYSQL handle (borrowed until the next sqldb call),
 * or NULL when the server cannot be reached (the caller maps that to
 * ERR_UNAVAILABLE). */
MYSQL *sqldb_conn(struct sqldb *db);

/* sqldb_failed: tell the handle that the last statement failed with `errnum`
 * (mysql_errno/mysql_stmt_errno); connection-level errors drop the
 * connection so the next sqldb_conn() reconnects. Returns the project error
 * code for errnum: ERR_UNAVAILABLE for lost/refused connections,
 * ERR_CONFLICT for duplicate keys, ERR_INTERNAL otherwise. */
int sqldb_failed(struct sqldb *db, unsigned int errnum);

/* sqldb_errno: the server or client error number of the last failed
 * statement (mysql_errno values), 0 after a success. Lets callers tell a
 * deadlock (ER_LOCK_DEADLOCK), which they may retry, from other failures. */
unsigned int sqldb_errno(const struct sqldb *db);

/*
 * Prepared-statement helpers. `sql` is a constant string (the statement
 * cache keys on its text, so never build it from input); every value goes
 * through an argument. Prepared statements are cached per connection and
 * re-prepared after a reconnect. Each helper returns ERR_UNAVAILABLE when
 * the server cannot be reached (the next call reconnects), ERR_CONFLICT on a
 * duplicate key, ERR_INTERNAL for other server errors, ERR_INVALID when the
 * call itself is malformed (too many arguments or columns).
 */
enum sqldb_type {
    SQLDB_INT64,  /* BIGINT and other integers */
    SQLDB_TEXT,   /* VARCHAR/TEXT as UTF-8; results are NUL-terminated */
    SQLDB_BLOB,   /* BINARY/BLOB bytes */
    SQLDB_TIME_MS /* results only: DATETIME(3) read as ms since the epoch
                   * (the session time zone is UTC) */
};

#define SQLDB_MAX_ARGS 256 /* 32 rows of 8 (sql_many.h) */
#define SQLDB_MAX_COLS 24

/* One statement parameter; ptr is borrowed for the duration of the call. */
struct sqldb_arg {
    enum sqldb_type type;
    int64_t i64;     /* SQLDB_INT64 */
    const void *ptr; /* SQLDB_TEXT, SQLDB_BLOB */
    size_t len;      /* bytes at ptr */
};

#define SQLDB_ARG_I64(v)     ((struct sqldb_arg){.type = SQLDB_INT64, .i64 = (v)})
#define SQLDB_ARG_TEXT(s)    ((struct sqldb_arg){.type = SQLDB_TEXT, .ptr = (s), .len = strlen(s)})
#define SQLDB_ARG_BLOB(p, n) ((struct sqldb_arg){.type = SQLDB_BLOB, .ptr = (p), .len = (n)})

/* One result column. The caller sets type (and buf/cap for TEXT and BLOB:
 * a buffer it owns; TEXT needs room for the NUL); each fetched row fills
 * the rest. A value longer than the buffer fails the query (ERR_INTERNAL)
 * rather than being cut. */
struct sqldb_col {
    enum sqldb_type type;
    int is_null; /* 1 when the value is SQL NULL (then i64 = 0, buf = "") */
    char *buf;   /* TEXT, BLOB: caller's buffer */
    size_t cap;  /* bytes at buf */
    size_t len;  /* TEXT, BLOB: bytes stored (TEXT: without the NUL) */
    int64_t i64; /* INT64 value; TIME_MS milliseconds */
};

#define SQLDB_COL_I64()      ((struct sqldb_col){.type = SQLDB_INT64})
#define SQLDB_COL_TIME()     ((struct sqldb_col){.type = SQLDB_TIME_MS})
#define SQLDB_COL_TEXT(b, c) ((struct sqldb_col){.type = SQLDB_TEXT, .buf = (b), .cap = (c)})

/* sqldb_row_fn: called once per fetched row with the filled columns;
 * return 0 to go on, non-zero to stop (that value is then returned by
 * sqldb_stmt_query). */
typedef int (*sqldb_row_fn)(void *arg, const struct sqldb_col *cols, size_t ncols);

/* sqldb_stmt_exec: run a statement that returns no rows. *affected (may be
 * NULL) gets the changed-row count, *insert_id (may be NULL) the
 * AUTO_INCREMENT value it generated. Returns 0 or an error code. */
int sqldb_stmt_exec(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                    uint64_t *affected, uint64_t *insert_id);

/* sqldb_stmt_query: run a SELECT and call on_row for each row, cols
 * refilled each time. Returns the number of rows seen (>= 0), a non-zero
 * value returned by on_row (which stops the fetch; use a positive one), or
 * an error code (< 0). */
int sqldb_stmt_query(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                     struct sqldb_col *cols, size_t ncols, sqldb_row_fn on_row, void *arg);

/* sqldb_stmt_row: run a SELECT and fill cols from its first row. Returns 0
 * when there was a row, ERR_NOT_FOUND when there was none, or an error. */
int sqldb_stmt_row(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                   struct sqldb_col *cols, size_t ncols);

/* sqldb_begin / sqldb_commit / sqldb_rollback: an explicit transaction. If
 * the connection is lost inside it, every later statement of the
 * transaction fails with ERR_UNAVAILABLE (nothing silently runs outside it
 * on a new connection) until sqldb_rollback, which always ends it. */
int sqldb_begin(struct sqldb *db);
int sqldb_commit(struct sqldb *db);
void sqldb_rollback(struct sqldb *db);

#endif
