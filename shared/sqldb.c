/*
 * sqldb.c - a self-healing MariaDB connection with cached prepared
 * statements (see sqldb.h).
 *
 * Every API request and every relay membership check or token consume
 * comes through here, so a statement costs one round trip: statements are
 * prepared once per connection and kept in a small cache keyed by their
 * SQL text. A connection-level error closes the connection and empties the
 * cache; the next call connects again. A connection idle for longer than
 * IDLE_PING_MS is pinged before use, so a database restart between two
 * requests costs a reconnect rather than a failed request.
 */
#include "sqldb.h"
#include "errors.h"
#include "timefmt.h"

#include <assert.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define CACHE_SIZE   32
#define IDLE_PING_MS 1000

struct cached_stmt {
    const char *sql; /* the caller's constant text; compared by content */
    MYSQL_STMT *st;
};

struct sqldb {
    const struct config *cfg; /* borrowed */
    MYSQL *conn;              /* NULL while disconnected */
    struct cached_stmt cache[CACHE_SIZE];
    size_t ncached;
    unsigned int last_errno;
    int64_t last_used_ms; /* monotonic; for the idle ping */
    int in_txn;           /* between sqldb_begin and commit/rollback */
    int txn_broken;       /* the connection died inside the transaction */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* The client library's global init is not thread-safe; do it once before
 * any thread can call mysql_init. */
static void lib_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

struct sqldb *sqldb_new(const struct config *cfg)
{
    pthread_once(&lib_once, lib_init);
    struct sqldb *db = calloc(1, sizeof *db);
    if (db)
        db->cfg = cfg;
    return db;
}

static void drop_connection(struct sqldb *db)
{
    for (size_t i = 0; i < db->ncached; i++)
        mysql_stmt_close(db->cache[i].st);
    db->ncached = 0;
    if (db->conn)
        mysql_close(db->conn);
    db->conn = NULL;
    if (db->in_txn)
        db->txn_broken = 1;
}

void sqldb_free(struct sqldb *db)
{
    if (!db)
        return;
    db->in_txn = 0;
    drop_connection(db);
    free(db);
}

static MYSQL *connect_new(const struct config *cfg, unsigned int *errnum)
{
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        *errnum = CR_OUT_OF_MEMORY;
        return NULL;
    }
    unsigned int timeout = (unsigned int) cfg->mysql_timeout;
    my_bool no = 0;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &no); /* we reconnect, and re-prepare */
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(m, MYSQL_INIT_COMMAND, "SET time_zone='+00:00'");
    const char *sock = cfg->mysql_socket[0] ? cfg->mysql_socket : NULL;
    if (!mysql_real_connect(m, sock ? NULL : cfg->mysql_host, cfg->mysql_user, cfg->mysql_password,
                            cfg->mysql_database, (unsigned int) cfg->mysql_port, sock, 0)) {
        *errnum = mysql_errno(m);
        mysql_close(m);
        return NULL;
    }
    return m;
}

MYSQL *sqldb_conn(struct sqldb *db)
{
    int64_t now = timefmt_mono_ms();
    if (db->in_txn) {
        /* Never reconnect inside a transaction: what ran before is gone. */
        if (db->txn_broken || !db->conn)
            return NULL;
        db->last_used_ms = now;
        return db->conn;
    }
    if (db->conn && now - db->last_used_ms > IDLE_PING_MS && mysql_ping(db->conn) != 0)
        drop_connection(db);
    if (!db->conn) {
        db->conn = connect_new(db->cfg, &db->last_errno);
        if (!db->conn)
            return NULL;
    }
    db->last_used_ms = now;
    return db->conn;
}

unsigned int sqldb_errno(const struct sqldb *db)
{
    return db->last_errno;
}

static int connection_level(unsigned int errnum)
{
    switch (errnum) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_MALFORMED_PACKET:
    case CR_SSL_CONNECTION_ERROR:
    case CR_ERR_NET_READ:
    case CR_ERR_NET_WRITE:
    case CR_OUT_OF_MEMORY:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case 4031: /* ER_CLIENT_INTERACTION_TIMEOUT (MariaDB 10.4+): idle too long */
        return 1;
    }
    return 0;
}

int sqldb_failed(struct sqldb *db, unsigned int errnum)
{
    db->last_errno = errnum;
    if (connection_level(errnum)) {
        drop_connection(db);
        return ERR_UNAVAILABLE;
    }
    if (errnum == ER_DUP_ENTRY)
        return ERR_CONFLICT;
    return ERR_INTERNAL;
}

/* stmt_get: the prepared statement for sql on the live connection, from
 * the cache or newly prepared (and cached while there is room; *owned is
 * set when the caller must close it). NULL with *rc set on failure. */
static MYSQL_STMT *stmt_get(struct sqldb *db, const char *sql, int *owned, int *rc)
{
    *owned = 0;
    MYSQL *conn = sqldb_conn(db);
    if (!conn) {
        *rc = ERR_UNAVAILABLE;
        return NULL;
    }
    for (size_t i = 0; i < db->ncached; i++)
        if (db->cache[i].sql == sql || strcmp(db->cache[i].sql, sql) == 0)
            return db->cache[i].st;

    MYSQL_STMT *st = mysql_stmt_init(conn);
    if (!st) {
        *rc = sqldb_failed(db, CR_OUT_OF_MEMORY);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long) strlen(sql)) != 0) {
        unsigned int e = mysql_stmt_errno(st);
        mysql_stmt_close(st);
        *rc = sqldb_failed(db, e);
        return NULL;
    }
    if (db->ncached < CACHE_SIZE) {
        db->cache[db->ncached].sql = sql;
        db->cache[db->ncached].st = st;
        db->ncached++;
    } else {
        *owned = 1;
    }
    return st;
}

/* stmt_discard: after a statement-level failure, forget the statement
 * (its state is unknown) unless the connection is already gone. */
static void stmt_discard(struct sqldb *db, MYSQL_STMT *st, int owned)
{
    if (owned) {
        mysql_stmt_close(st);
        return;
    }
    for (size_t i = 0; i < db->ncached; i++) {
        if (db->cache[i].st == st) {
            mysql_stmt_close(st);
            db->cache[i] = db->cache[--db->ncached];
            return;
        }
    }
    /* not found: drop_connection already closed it */
}

/* stmt_run: bind args and execute. Returns 0 or an error code; on error
 * the statement has been discarded. */
static int stmt_run(struct sqldb *db, MYSQL_STMT *st, int owned, const struct sqldb_arg *args,
                    size_t nargs)
{
    MYSQL_BIND bind[SQLDB_MAX_ARGS];
    long long ints[SQLDB_MAX_ARGS];
    if (nargs != mysql_stmt_param_count(st)) {
        stmt_discard(db, st, owned);
        return ERR_INVALID;
    }
    /* Only what is bound: the array holds 256 (about 28 KB), most
     * statements use a few. */
    memset(bind, 0, nargs * sizeof bind[0]);
    for (size_t i = 0; i < nargs; i++) {
        switch (args[i].type) {
        case SQLDB_INT64:
            ints[i] = args[i].i64;
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = &ints[i];
            break;
        case SQLDB_TEXT:
        case SQLDB_BLOB:
            bind[i].buffer_type = args[i].type == SQLDB_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            bind[i].buffer = (void *) (uintptr_t) args[i].ptr; /* only read */
            bind[i].buffer_length = (unsigned long) args[i].len;
            break;
        case SQLDB_TIME_MS:
            stmt_discard(db, st, owned);
            return ERR_INVALID;
        }
    }
    if ((nargs && mysql_stmt_bind_param(st, bind) != 0) || mysql_stmt_execute(st) != 0) {
        unsigned int e = mysql_stmt_errno(st);
        int rc = sqldb_failed(db, e);
        stmt_discard(db, st, owned);
        return rc;
    }
    db->last_errno = 0;
    return 0;
}

int sqldb_stmt_exec(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                    uint64_t *affected, uint64_t *insert_id)
{
    int owned, rc = 0;
    if (nargs > SQLDB_MAX_ARGS)
        return ERR_INVALID;
    MYSQL_STMT *st = stmt_get(db, sql, &owned, &rc);
    if (!st)
        return rc;
    if ((rc = stmt_run(db, st, owned, args, nargs)) != 0)
        return rc;
    if (affected)
        *affected = (uint64_t) mysql_stmt_affected_rows(st);
    if (insert_id)
        *insert_id = (uint64_t) mysql_stmt_insert_id(st);
    if (owned)
        mysql_stmt_close(st);
    return 0;
}

/* time_to_ms: a DATETIME in UTC as milliseconds since the epoch. */
static int64_t time_to_ms(const MYSQL_TIME *t)
{
    struct tm tm = {0};
    tm.tm_year = (int) t->year - 1900;
    tm.tm_mon = (int) t->month - 1;
    tm.tm_mday = (int) t->day;
    tm.tm_hour = (int) t->hour;
    tm.tm_min = (int) t->minute;
    tm.tm_sec = (int) t->second;
    return (int64_t) timegm(&tm) * 1000 + (int64_t) (t->second_part / 1000);
}

int sqldb_stmt_query(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                     struct sqldb_col *cols, size_t ncols, sqldb_row_fn on_row, void *arg)
{
    MYSQL_BIND bind[SQLDB_MAX_COLS];
    MYSQL_TIME times[SQLDB_MAX_COLS];
    unsigned long lens[SQLDB_MAX_COLS];
    my_bool nulls[SQLDB_MAX_COLS];
    long long ints[SQLDB_MAX_COLS];
    int owned, rc = 0;

    if (nargs > SQLDB_MAX_ARGS || ncols > SQLDB_MAX_COLS || ncols == 0)
        return ERR_INVALID;
    MYSQL_STMT *st = stmt_get(db, sql, &owned, &rc);
    if (!st)
        return rc;
    if (mysql_stmt_field_count(st) != ncols) {
        stmt_discard(db, st, owned);
        return ERR_INVALID;
    }
    if ((rc = stmt_run(db, st, owned, args, nargs)) != 0)
        return rc;

    memset(bind, 0, sizeof bind);
    for (size_t i = 0; i < ncols; i++) {
        bind[i].is_null = &nulls[i];
        bind[i].length = &lens[i];
        switch (cols[i].type) {
        case SQLDB_INT64:
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = &ints[i];
            break;
        case SQLDB_TEXT:
        case SQLDB_BLOB:
            assert(cols[i].buf && cols[i].cap > 0);
            bind[i].buffer_type = cols[i].type == SQLDB_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            bind[i].buffer = cols[i].buf;
            /* leave room for the NUL of TEXT */
            bind[i].buffer_length =
                (unsigned long) (cols[i].type == SQLDB_TEXT ? cols[i].cap - 1 : cols[i].cap);
            break;
        case SQLDB_TIME_MS:
            bind[i].buffer_type = MYSQL_TYPE_DATETIME;
            bind[i].buffer = &times[i];
            break;
        }
    }

    int rows = 0;
    if (mysql_stmt_bind_result(st, bind) != 0 || mysql_stmt_store_result(st) != 0) {
        unsigned int e = mysql_stmt_errno(st);
        rc = sqldb_failed(db, e);
        stmt_discard(db, st, owned);
        return rc;
    }
    for (;;) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == MYSQL_DATA_TRUNCATED) {
            rc = ERR_INTERNAL; /* a buffer smaller than the schema allows */
            break;
        }
        if (f != 0) {
            unsigned int e = mysql_stmt_errno(st);
            rc = sqldb_failed(db, e);
            if (rc == ERR_UNAVAILABLE)
                return rc; /* statement already closed with the connection */
            break;
        }
        for (size_t i = 0; i < ncols; i++) {
            struct sqldb_col *c = &cols[i];
            c->is_null = nulls[i] != 0;
            c->i64 = 0;
            c->len = 0;
            if (c->type == SQLDB_INT64 && !c->is_null)
                c->i64 = ints[i];
            else if (c->type == SQLDB_TIME_MS && !c->is_null)
                c->i64 = time_to_ms(&times[i]);
            else if (c->type == SQLDB_TEXT || c->type == SQLDB_BLOB)
                c->len = c->is_null ? 0 : (size_t) lens[i];
            if (c->type == SQLDB_TEXT)
                c->buf[c->len] = '\0';
        }
        rows++;
        if (on_row) {
            int stop = on_row(arg, cols, ncols);
            if (stop) {
                rc = stop;
                break;
            }
        } else {
            break; /* sqldb_stmt_row: the first row is all we want */
        }
    }
    mysql_stmt_free_result(st);
    if (owned)
        mysql_stmt_close(st);
    if (rc < 0 && rc != ERR_UNAVAILABLE && !owned)
        stmt_discard(db, st, 0);
    if (rc != 0)
        return rc;
    return rows;
}

int sqldb_stmt_row(struct sqldb *db, const char *sql, const struct sqldb_arg *args, size_t nargs,
                   struct sqldb_col *cols, size_t ncols)
{
    int rc = sqldb_stmt_query(db, sql, args, nargs, cols, ncols, NULL, NULL);
    if (rc < 0)
        return rc;
    return rc == 0 ? ERR_NOT_FOUND : 0;
}

/* simple_query: a constant statement without parameters (transaction
 * control only; never input). */
static int simple_query(struct sqldb *db, const char *sql)
{
    MYSQL *conn = sqldb_conn(db);
    if (!conn)
        return ERR_UNAVAILABLE;
    if (mysql_real_query(conn, sql, (unsigned long) strlen(sql)) != 0)
        return sqldb_failed(db, mysql_errno(conn));
    db->last_errno = 0;
    return 0;
}

int sqldb_begin(struct sqldb *db)
{
    assert(!db->in_txn);
    int rc = simple_query(db, "START TRANSACTION");
    if (rc == 0) {
        db->in_txn = 1;
        db->txn_broken = 0;
    }
    return rc;
}

int sqldb_commit(struct sqldb *db)
{
    assert(db->in_txn);
    int rc = simple_query(db, "COMMIT");
    if (rc != 0) {
        sqldb_rollback(db);
        return rc;
    }
    db->in_txn = 0;
    return 0;
}

void sqldb_rollback(struct sqldb *db)
{
    if (!db->in_txn)
        return;
    if (!db->txn_broken && db->conn &&
        mysql_real_query(db->conn, "ROLLBACK", (unsigned long) strlen("ROLLBACK")) != 0)
        drop_connection(db); /* unknown state: start afresh */
    db->in_txn = 0;
    db->txn_broken = 0;
}
