/*
 * room_state.c - last message, read watermarks and seq gaps in MySQL (see
 * room_state.h).
 *
 * The last-message UPDATE is a multi-table UPDATE (the rooms of a batch
 * joined with a derived table of their newest messages and senders), whose
 * assignments MySQL may evaluate in any order. So every IF compares with
 * `<=`: whether last_msg_seq was raised to the new seq before or after the
 * IF reads it, the IF picks the new message exactly when no newer one is
 * recorded (an equal seq is the same message, rewritten with the same
 * values).
 */
#include "room_state.h"
#include "errors.h"
#include "sql_many.h"
#include "utf8.h"

#include <string.h>

void room_state_preview(const struct chat_message *m, char *buf, size_t cap)
{
    const char *s = m->type == CHAT_TEXT ? m->message : m->media ? m->media->name : m->image_name;
    size_t len = s ? strlen(s) : 0, used = 0;
    buf[0] = '\0';
    if (cap < ROOM_PREVIEW_BUF)
        return;
    for (int chars = 0; used < len && chars < ROOM_PREVIEW_CHARS; chars++) {
        uint32_t cp;
        size_t n = utf8_next(s + used, len - used, &cp);
        if (n == 0)
            break; /* stored text is valid UTF-8; stop rather than copy garbage */
        used += n;
    }
    memcpy(buf, s ? s : "", used);
    buf[used] = '\0';
}

/* The derived table's rows are matched on the primary keys (eq_ref on
 * tables of any size), in the order given. A room with two senders in the
 * batch appears in two rows with the same room values; MySQL updates a
 * row that matches twice once. LEFT JOIN: a reader who is no member
 * leaves the room's update alone. */
static struct sql_many record_sql = SQL_MANY_INIT(
    "UPDATE chat_rooms r JOIN (",
    "SELECT ? AS id, ? AS seq, ? AS type, ? AS preview, ? AS at_ms, ? AS sender, ? AS reader, "
    "? AS read_seq",
    " UNION ALL ",
    ") v ON r.id = v.id LEFT JOIN chat_room_members m ON m.room_id = v.id AND m.user_id = v.reader "
    "SET r.last_seq = GREATEST(r.last_seq, v.seq), "
    "r.last_msg_type = IF(r.last_msg_seq <= v.seq, v.type, r.last_msg_type), "
    "r.last_msg_preview = IF(r.last_msg_seq <= v.seq, v.preview, r.last_msg_preview), "
    "r.last_msg_at_ms = IF(r.last_msg_seq <= v.seq, v.at_ms, r.last_msg_at_ms), "
    "r.last_msg_sender = IF(r.last_msg_seq <= v.seq, v.sender, r.last_msg_sender), "
    "r.last_activity_ms = GREATEST(r.last_activity_ms, v.at_ms), "
    "r.last_msg_seq = GREATEST(r.last_msg_seq, v.seq), "
    "m.last_read_seq = GREATEST(m.last_read_seq, v.read_seq)",
    NULL, NULL, NULL);

#define RECORD_ARGS 8

/* record_chunk: rows[0..n-1] (n <= SQL_MANY_MAX), padded with room 0. */
static int record_chunk(struct sqldb *db, const struct room_record *rows, size_t n)
{
    char previews[SQL_MANY_MAX][ROOM_PREVIEW_BUF];
    size_t k = sql_many_chunk(n);
    const char *sql = sql_many_text(&record_sql, k);
    struct sqldb_arg args[RECORD_ARGS * SQL_MANY_MAX];
    if (!sql)
        return ERR_INTERNAL;
    for (size_t i = 0; i < k; i++) {
        struct sqldb_arg *a = args + RECORD_ARGS * i;
        const struct chat_message *m = i < n ? rows[i].newest : NULL;
        previews[i][0] = '\0';
        if (m)
            room_state_preview(m, previews[i], sizeof previews[i]);
        a[0] = SQLDB_ARG_I64(m ? m->room_id : 0);
        a[1] = SQLDB_ARG_I64(m ? m->seq : 0);
        a[2] = SQLDB_ARG_TEXT(m ? chat_type_name(m->type) : "");
        a[3] = SQLDB_ARG_TEXT(previews[i]);
        a[4] = SQLDB_ARG_I64(m ? m->created_at_ms : 0);
        a[5] = SQLDB_ARG_I64(m ? m->sender_id : 0);
        a[6] = SQLDB_ARG_I64(m ? rows[i].reader_id : 0);
        a[7] = SQLDB_ARG_I64(m ? rows[i].read_seq : 0);
    }
    return sqldb_stmt_exec(db, sql, args, RECORD_ARGS * k, NULL, NULL);
}

int room_state_record_many(struct sqldb *db, const struct room_record *rows, size_t n)
{
    for (size_t at = 0; at < n;) {
        size_t k = n - at < SQL_MANY_MAX ? n - at : SQL_MANY_MAX;
        int rc = record_chunk(db, rows + at, k);
        if (rc)
            return rc;
        at += k;
    }
    return 0;
}

int room_state_mark_read(struct sqldb *db, int64_t room_id, int64_t user_id, int64_t seq,
                         int64_t *read, int *moved)
{
    if (seq < 0)
        return ERR_INVALID;
    /* A plain read first (no lock on the room's row, which the writer
     * locks for every batch), then one single-row UPDATE that only moves
     * the watermark forward. The bound is seq_issued, not last_seq: a
     * client can only have seen reserved seqs, and last_seq may lag behind
     * delivery for a while after MySQL was away. */
    struct sqldb_arg key[2] = {SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(user_id)};
    struct sqldb_col cols[2] = {SQLDB_COL_I64(), SQLDB_COL_I64()};
    int rc = sqldb_stmt_row(db,
                            "SELECT m.last_read_seq, GREATEST(r.seq_issued, r.last_seq) "
                            "FROM chat_room_members m JOIN chat_rooms r ON r.id = m.room_id "
                            "WHERE m.room_id = ? AND m.user_id = ?",
                            key, 2, cols, 2);
    if (rc)
        return rc;
    *read = cols[0].i64;
    if (moved)
        *moved = 0;
    if (seq > cols[1].i64)
        return ERR_INVALID;
    if (seq <= *read)
        return 0;
    uint64_t affected = 0;
    struct sqldb_arg up[4] = {SQLDB_ARG_I64(seq), SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(user_id),
                              SQLDB_ARG_I64(seq)};
    rc = sqldb_stmt_exec(db,
                         "UPDATE chat_room_members SET last_read_seq = ? "
                         "WHERE room_id = ? AND user_id = ? AND last_read_seq < ?",
                         up, 4, &affected, NULL);
    if (rc)
        return rc;
    if (affected > 0) {
        *read = seq;
        if (moved)
            *moved = 1;
    } else {
        /* Another READ moved it meanwhile, at least as far. */
        rc = sqldb_stmt_row(db,
                            "SELECT last_read_seq FROM chat_room_members "
                            "WHERE room_id = ? AND user_id = ?",
                            key, 2, cols, 1);
        if (rc == 0)
            *read = cols[0].i64;
    }
    return rc;
}

int room_state_gap_add(struct sqldb *db, int64_t room_id, int64_t seq)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(seq)};
    return sqldb_stmt_exec(db, "INSERT IGNORE INTO chat_room_seq_gaps (room_id, seq) VALUES (?, ?)",
                           args, 2, NULL, NULL);
}

int room_state_gap_fill(struct sqldb *db, int64_t room_id, int64_t seq)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(seq)};
    return sqldb_stmt_exec(db, "DELETE FROM chat_room_seq_gaps WHERE room_id = ? AND seq = ?", args,
                           2, NULL, NULL);
}
