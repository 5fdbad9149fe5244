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
#include <stdint.h>

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

#endif
