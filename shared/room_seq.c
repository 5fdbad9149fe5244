/*
 * room_seq.c - per-room sequence state in MySQL (see room_seq.h).
 *
 * The claim is `seq_issued = LAST_INSERT_ID(seq_issued + n)`: the row lock
 * of the UPDATE serialises concurrent writers, and LAST_INSERT_ID(expr)
 * hands the new value back on the same connection without a SELECT.
 */
#include "room_seq.h"
#include "errors.h"

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
