/*
 * room_state.c - last message, read watermarks and seq gaps in MySQL (see
 * room_state.h).
 *
 * The last-message UPDATE relies on MySQL evaluating a single-table
 * UPDATE's assignments from left to right: every IF reads last_msg_seq
 * before the last assignment raises it. MariaDB does the same unless the
 * SIMULTANEOUS_ASSIGNMENT sql_mode is set, which nothing here sets.
 */
#include "room_state.h"
#include "errors.h"
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

int room_state_stored(struct sqldb *db, const struct chat_message *m)
{
    char preview[ROOM_PREVIEW_BUF];
    room_state_preview(m, preview, sizeof preview);
    const char *type = chat_type_name(m->type);
    struct sqldb_arg args[] = {
        SQLDB_ARG_I64(m->seq),           SQLDB_ARG_I64(m->seq),   SQLDB_ARG_TEXT(type),
        SQLDB_ARG_I64(m->seq),           SQLDB_ARG_TEXT(preview), SQLDB_ARG_I64(m->seq),
        SQLDB_ARG_I64(m->created_at_ms), SQLDB_ARG_I64(m->seq),   SQLDB_ARG_I64(m->sender_id),
        SQLDB_ARG_I64(m->created_at_ms), SQLDB_ARG_I64(m->seq),   SQLDB_ARG_I64(m->room_id),
    };
    return sqldb_stmt_exec(db,
                           "UPDATE chat_rooms SET last_seq = GREATEST(last_seq, ?), "
                           "last_msg_type = IF(last_msg_seq < ?, ?, last_msg_type), "
                           "last_msg_preview = IF(last_msg_seq < ?, ?, last_msg_preview), "
                           "last_msg_at_ms = IF(last_msg_seq < ?, ?, last_msg_at_ms), "
                           "last_msg_sender = IF(last_msg_seq < ?, ?, last_msg_sender), "
                           "last_activity_ms = GREATEST(last_activity_ms, ?), "
                           "last_msg_seq = GREATEST(last_msg_seq, ?) WHERE id = ?",
                           args, sizeof args / sizeof args[0], NULL, NULL);
}

int room_state_read_raise(struct sqldb *db, int64_t room_id, int64_t user_id, int64_t seq)
{
    struct sqldb_arg args[3] = {SQLDB_ARG_I64(seq), SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(user_id)};
    return sqldb_stmt_exec(
        db,
        "UPDATE chat_room_members SET last_read_seq = GREATEST(last_read_seq, ?) "
        "WHERE room_id = ? AND user_id = ?",
        args, 3, NULL, NULL);
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
