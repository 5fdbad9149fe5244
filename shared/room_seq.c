/*
 * room_seq.c - per-room sequence state in MySQL (see room_seq.h).
 *
 * The claim is `seq_issued = LAST_INSERT_ID(seq_issued + n)`: the row lock
 * of the UPDATE serialises concurrent writers, and LAST_INSERT_ID(expr)
 * hands the new value back on the same connection without a SELECT.
 * Many rooms at once: one UPDATE whose WHERE id IN (...) locks the rows
 * in primary-key order (the order every writer locks in), then one SELECT
 * of the new values, which the transaction sees as its own writes.
 */
#include "room_seq.h"
#include "errors.h"
#include "sql_many.h"

int room_seq_claim(struct sqldb *db, int64_t room_id, int64_t count, int64_t *last)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(count), SQLDB_ARG_I64(room_id)};
    uint64_t affected = 0, value = 0;
    if (count < 1 || room_id <= 0)
        return ERR_INVALID;
    int rc = sqldb_stmt_exec(db,
                             "UPDATE chat_rooms SET seq_issued = LAST_INSERT_ID(seq_issued + ?) "
                             "WHERE id = ?",
                             args, 2, &affected, &value);
    if (rc)
        return rc;
    if (affected == 0)
        return ERR_NOT_FOUND;
    *last = (int64_t) value;
    return 0;
}

static struct sql_many claim_sql =
    SQL_MANY_INIT("UPDATE chat_rooms SET seq_issued = seq_issued + CASE id ", "WHEN ? THEN ?", " ",
                  " END WHERE id IN (", "?", ", ", ")");
static struct sql_many claimed_sql = SQL_MANY_INIT(
    "SELECT id, seq_issued FROM chat_rooms WHERE id IN (", "?", ", ", ")", NULL, NULL, NULL);

struct claimed {
    const int64_t *ids;
    size_t n;
    int64_t *last;
};

/* claimed_row: one (id, seq_issued) row into its room's slot. */
static int claimed_row(void *arg, const struct sqldb_col *cols, size_t ncols)
{
    struct claimed *c = arg;
    (void) ncols;
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->ids[mid] < cols[0].i64)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->n && c->ids[lo] == cols[0].i64)
        c->last[lo] = cols[1].i64;
    return 0;
}

/* claim_chunk: rooms ids[0..n-1] (n <= SQL_MANY_MAX), padded with room 0. */
static int claim_chunk(struct sqldb *db, const int64_t *ids, const int64_t *counts, size_t n,
                       int64_t *last)
{
    size_t rows = sql_many_chunk(n);
    const char *up = sql_many_text(&claim_sql, rows), *sel = sql_many_text(&claimed_sql, rows);
    struct sqldb_arg args[3 * SQL_MANY_MAX];
    if (!up || !sel)
        return ERR_INTERNAL;
    for (size_t i = 0; i < rows; i++) {
        int64_t id = i < n ? ids[i] : 0, count = i < n ? counts[i] : 0;
        args[2 * i] = SQLDB_ARG_I64(id);
        args[2 * i + 1] = SQLDB_ARG_I64(count);
        args[2 * rows + i] = SQLDB_ARG_I64(id);
    }
    int rc = sqldb_stmt_exec(db, up, args, 3 * rows, NULL, NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        last[i] = -1;
    struct claimed c = {ids, n, last};
    struct sqldb_col cols[2] = {SQLDB_COL_I64(), SQLDB_COL_I64()};
    rc = sqldb_stmt_query(db, sel, args + 2 * rows, rows, cols, 2, claimed_row, &c);
    return rc < 0 ? rc : 0;
}

int room_seq_claim_many(struct sqldb *db, const int64_t *room_ids, const int64_t *counts, size_t n,
                        int64_t *last)
{
    for (size_t i = 0; i < n; i++)
        if (room_ids[i] <= 0 || counts[i] < 1 || (i > 0 && room_ids[i - 1] >= room_ids[i]))
            return ERR_INVALID;
    for (size_t at = 0; at < n;) {
        size_t k = n - at < SQL_MANY_MAX ? n - at : SQL_MANY_MAX;
        int rc = claim_chunk(db, room_ids + at, counts + at, k, last + at);
        if (rc)
            return rc;
        at += k;
    }
    return 0;
}

int room_seq_raise(struct sqldb *db, int64_t room_id, int64_t issued, int64_t stored)
{
    struct sqldb_arg args[3] = {SQLDB_ARG_I64(issued), SQLDB_ARG_I64(stored),
                                SQLDB_ARG_I64(room_id)};
    return sqldb_stmt_exec(db,
                           "UPDATE chat_rooms SET seq_issued = GREATEST(seq_issued, ?), "
                           "last_seq = GREATEST(last_seq, ?) WHERE id = ?",
                           args, 3, NULL, NULL);
}

int room_seq_last(struct sqldb *db, int64_t room_id, int64_t *last)
{
    struct sqldb_arg arg = SQLDB_ARG_I64(room_id);
    struct sqldb_col col = SQLDB_COL_I64();
    int rc = sqldb_stmt_row(db, "SELECT last_seq FROM chat_rooms WHERE id = ?", &arg, 1, &col, 1);
    if (rc == 0)
        *last = col.i64;
    return rc;
}
