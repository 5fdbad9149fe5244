/*
 * rooms.c - 1:1 rooms (see rooms.h).
 *
 * Find-or-create is one transaction: INSERT ... ON DUPLICATE KEY UPDATE on
 * the (user_low, user_high) key, which either inserts the room (1 row
 * affected; then the two member rows follow in the same transaction) or
 * waits for a concurrent creator to commit and lands on its row (0 rows
 * affected; LAST_INSERT_ID(id) hands back the existing id). InnoDB may pick
 * one of several racing inserters as a deadlock victim: that attempt is
 * rolled back and retried, so every caller ends with the same room.
 */
#include "rooms.h"
#include "errors.h"
#include "timefmt.h"

#include <mysqld_error.h>
#include <string.h>

#define CREATE_ATTEMPTS 8

/* The room with both members' user rows, in user-id order. */
#define ROOM_SELECT                                                                                \
    "SELECT r.id, r.name, r.created_at, "                                                          \
    "ul.id, ul.username, ul.display_name, ul.created_at, "                                         \
    "uh.id, uh.username, uh.display_name, uh.created_at "                                          \
    "FROM chat_rooms r JOIN users ul ON ul.id = r.user_low "                                       \
    "JOIN users uh ON uh.id = r.user_high "

#define ROOM_NCOLS 11

int rooms_is_member(struct sqldb *db, int64_t room_id, int64_t user_id)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(room_id), SQLDB_ARG_I64(user_id)};
    struct sqldb_col col = SQLDB_COL_I64();
    if (room_id <= 0 || user_id <= 0)
        return 0;
    int rc = sqldb_stmt_row(db, "SELECT 1 FROM chat_room_members WHERE room_id = ? AND user_id = ?",
                            args, 2, &col, 1);
    if (rc == ERR_NOT_FOUND)
        return 0;
    return rc == 0 ? 1 : rc;
}

int rooms_peer(struct sqldb *db, int64_t room_id, int64_t user_id, int64_t *peer)
{
    struct sqldb_arg args[4] = {SQLDB_ARG_I64(user_id), SQLDB_ARG_I64(room_id),
                                SQLDB_ARG_I64(user_id), SQLDB_ARG_I64(user_id)};
    struct sqldb_col col = SQLDB_COL_I64();
    int rc = sqldb_stmt_row(db,
                            "SELECT IF(user_low = ?, user_high, user_low) FROM chat_rooms "
                            "WHERE id = ? AND (user_low = ? OR user_high = ?)",
                            args, 4, &col, 1);
    if (rc == 0)
        *peer = col.i64;
    return rc;
}

/* room_cols: bind the result columns of ROOM_SELECT to a struct room. */
static void room_cols(struct sqldb_col cols[ROOM_NCOLS], struct room *r)
{
    cols[0] = SQLDB_COL_I64();
    cols[1] = SQLDB_COL_TEXT(r->name, sizeof r->name);
    cols[2] = SQLDB_COL_TIME();
    for (int m = 0; m < 2; m++) {
        cols[3 + 4 * m] = SQLDB_COL_I64();
        cols[4 + 4 * m] = SQLDB_COL_TEXT(r->members[m].username, sizeof r->members[m].username);
        cols[5 + 4 * m] =
            SQLDB_COL_TEXT(r->members[m].display_name, sizeof r->members[m].display_name);
        cols[6 + 4 * m] = SQLDB_COL_TIME();
    }
}

/* room_take: copy the integer columns of a fetched row into r (the text
 * columns were written in place). */
static void room_take(const struct sqldb_col *cols, struct room *r)
{
    r->id = cols[0].i64;
    r->has_name = !cols[1].is_null;
    r->created_at_ms = cols[2].i64;
    for (int m = 0; m < 2; m++) {
        r->members[m].id = cols[3 + 4 * m].i64;
        r->members[m].created_at_ms = cols[6 + 4 * m].i64;
    }
}

int rooms_get(struct sqldb *db, int64_t room_id, struct room *out)
{
    struct sqldb_col cols[ROOM_NCOLS];
    struct sqldb_arg arg = SQLDB_ARG_I64(room_id);
    memset(out, 0, sizeof *out);
    room_cols(cols, out);
    int rc = sqldb_stmt_row(db, ROOM_SELECT "WHERE r.id = ?", &arg, 1, cols, ROOM_NCOLS);
    if (rc == 0)
        room_take(cols, out);
    return rc;
}

/* create_once: one attempt of the find-or-create transaction; stores the
 * room id and whether it was inserted. */
static int create_once(struct sqldb *db, int64_t creator, int64_t lo, int64_t hi, int64_t *room_id,
                       int *created)
{
    struct sqldb_arg room_args[4] = {SQLDB_ARG_I64(lo), SQLDB_ARG_I64(hi), SQLDB_ARG_I64(creator),
                                     SQLDB_ARG_I64(timefmt_now_ms())};
    uint64_t affected = 0, id = 0;
    int rc = sqldb_begin(db);
    if (rc != 0)
        return rc;
    rc = sqldb_stmt_exec(
        db,
        "INSERT INTO chat_rooms (user_low, user_high, created_by, last_activity_ms) "
        "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
        room_args, 4, &affected, &id);
    if (rc != 0)
        goto fail;
    *room_id = (int64_t) id;
    *created = affected == 1;
    if (*created) {
        int64_t members[2] = {lo, hi};
        for (int m = 0; m < 2; m++) {
            struct sqldb_arg margs[2] = {SQLDB_ARG_I64(*room_id), SQLDB_ARG_I64(members[m])};
            rc = sqldb_stmt_exec(db,
                                 "INSERT INTO chat_room_members (room_id, user_id) VALUES (?, ?)",
                                 margs, 2, NULL, NULL);
            if (rc != 0)
                goto fail;
        }
    }
    return sqldb_commit(db);
fail:
    sqldb_rollback(db);
    return rc;
}

int rooms_find_or_create(struct sqldb *db, int64_t a, int64_t b, struct room *out, int *created)
{
    *created = 0;
    memset(out, 0, sizeof *out);
    if (a <= 0 || b <= 0 || a == b)
        return ERR_INVALID;
    int64_t lo = a < b ? a : b, hi = a < b ? b : a, room_id = 0;

    /* The common case, an existing room, needs no transaction. */
    struct sqldb_arg pair[2] = {SQLDB_ARG_I64(lo), SQLDB_ARG_I64(hi)};
    struct sqldb_col col = SQLDB_COL_I64();
    int rc = sqldb_stmt_row(db, "SELECT id FROM chat_rooms WHERE user_low = ? AND user_high = ?",
                            pair, 2, &col, 1);
    if (rc == 0)
        return rooms_get(db, col.i64, out);
    if (rc != ERR_NOT_FOUND)
        return rc;

    for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        rc = create_once(db, a, lo, hi, &room_id, created);
        unsigned int e = sqldb_errno(db);
        if (rc == 0 || (e != ER_LOCK_DEADLOCK && e != ER_LOCK_WAIT_TIMEOUT))
            break;
    }
    if (rc == ERR_INTERNAL && sqldb_errno(db) == ER_NO_REFERENCED_ROW_2)
        return ERR_NOT_FOUND; /* a user id that does not exist */
    if (rc != 0)
        return rc;
    rc = rooms_get(db, room_id, out);
    return rc == ERR_NOT_FOUND ? ERR_INTERNAL : rc;
}

/* The viewer's state after ROOM_SELECT's columns (rooms_list). */
#define VIEW_NCOLS 10

struct list_ctx {
    struct room *out;
    size_t n, cap;
    struct room *scratch; /* the row buffers the columns are bound to */
    int64_t viewer;
    int more;
};

static int list_row(void *arg, const struct sqldb_col *cols, size_t ncols)
{
    struct list_ctx *lc = arg;
    (void) ncols;
    if (lc->n == lc->cap) {
        lc->more = 1; /* the one row past the page */
        return 1;
    }
    struct room *r = lc->scratch;
    const struct sqldb_col *v = cols + ROOM_NCOLS;
    room_take(cols, r);
    r->viewer = lc->viewer;
    r->view.last_seq = v[0].i64;
    r->view.last_read_seq = v[1].i64;
    r->view.peer_last_read_seq = v[2].i64;
    r->view.last_activity_ms = v[3].i64;
    r->view.has_last = v[9].i64 > 0 && !v[4].is_null && !v[5].is_null;
    r->view.last_at_ms = v[6].is_null ? 0 : v[6].i64;
    r->view.last_sender = v[7].is_null ? 0 : v[7].i64;
    /* Seqs above the watermark, less those that hold no message. */
    r->view.unread = r->view.last_seq - r->view.last_read_seq - v[8].i64;
    if (r->view.unread < 0)
        r->view.unread = 0;
    lc->out[lc->n++] = *r;
    return 0;
}

/* One page of "my rooms, newest activity first": each of the two member
 * columns gives its own first limit+1 rooms in index order, and the union
 * is cut to limit+1 again. The cursor is (activity, id), strictly after. */
#define ROOM_PAGE_SIDE(col)                                                                        \
    "(SELECT id, last_activity_ms FROM chat_rooms WHERE " col " = ? AND "                          \
    "(last_activity_ms < ? OR (last_activity_ms = ? AND id < ?)) "                                 \
    "ORDER BY last_activity_ms DESC, id DESC LIMIT ?)"

int rooms_list(struct sqldb *db, int64_t user_id, const struct room_cursor *from, int limit,
               struct room *out, size_t *n, int *more)
{
    *n = 0;
    *more = 0;
    if (limit < 1 || limit > ROOMS_PAGE_MAX)
        return ERR_INVALID;
    int64_t at = from ? from->activity_ms : INT64_MAX, id = from ? from->id : INT64_MAX;
    struct room scratch;
    struct sqldb_col cols[ROOM_NCOLS + VIEW_NCOLS];
    memset(&scratch, 0, sizeof scratch);
    room_cols(cols, &scratch);
    struct sqldb_col *v = cols + ROOM_NCOLS;
    v[0] = v[1] = v[2] = v[3] = SQLDB_COL_I64();
    v[4] = SQLDB_COL_TEXT(scratch.view.last_type, sizeof scratch.view.last_type);
    v[5] = SQLDB_COL_TEXT(scratch.view.last_preview, sizeof scratch.view.last_preview);
    v[6] = v[7] = v[8] = SQLDB_COL_I64();
    v[9] = SQLDB_COL_I64();
    struct list_ctx lc = {out, 0, (size_t) limit, &scratch, user_id, 0};
    struct sqldb_arg args[] = {
        SQLDB_ARG_I64(user_id),   SQLDB_ARG_I64(at),        SQLDB_ARG_I64(at),
        SQLDB_ARG_I64(id),        SQLDB_ARG_I64(limit + 1), SQLDB_ARG_I64(user_id),
        SQLDB_ARG_I64(at),        SQLDB_ARG_I64(at),        SQLDB_ARG_I64(id),
        SQLDB_ARG_I64(limit + 1), SQLDB_ARG_I64(user_id),   SQLDB_ARG_I64(user_id),
        SQLDB_ARG_I64(limit + 1),
    };
    int rc = sqldb_stmt_query(
        db,
        "SELECT r.id, r.name, r.created_at, "
        "ul.id, ul.username, ul.display_name, ul.created_at, "
        "uh.id, uh.username, uh.display_name, uh.created_at, "
        "r.last_seq, me.last_read_seq, peer.last_read_seq, r.last_activity_ms, "
        "r.last_msg_type, r.last_msg_preview, r.last_msg_at_ms, r.last_msg_sender, "
        "(SELECT COUNT(*) FROM chat_room_seq_gaps g WHERE g.room_id = r.id "
        " AND g.seq > me.last_read_seq AND g.seq <= r.last_seq), r.last_msg_seq "
        "FROM (" ROOM_PAGE_SIDE("user_low") " UNION ALL " ROOM_PAGE_SIDE(
            "user_high") ") page "
                         "JOIN chat_rooms r ON r.id = page.id "
                         "JOIN users ul ON ul.id = r.user_low JOIN users uh ON uh.id = r.user_high "
                         "JOIN chat_room_members me ON me.room_id = r.id AND me.user_id = ? "
                         "JOIN chat_room_members peer ON peer.room_id = r.id "
                         " AND peer.user_id = IF(r.user_low = ?, r.user_high, r.user_low) "
                         "ORDER BY page.last_activity_ms DESC, page.id DESC LIMIT ?",
        args, sizeof args / sizeof args[0], cols, ROOM_NCOLS + VIEW_NCOLS, list_row, &lc);
    if (rc < 0)
        return rc;
    *n = lc.n;
    *more = lc.more;
    return 0;
}

/* view_to_json: the viewer's state of r into o; 0, or -1 out of memory. */
static int view_to_json(const struct room *r, cJSON *o)
{
    char ts[TIMEFMT_RFC3339_LEN];
    const struct room_view *v = &r->view;
    const struct user *peer = &r->members[r->members[0].id == r->viewer ? 1 : 0];
    cJSON *pu = users_to_json(peer), *last = NULL;
    if (!pu)
        return -1;
    cJSON_AddItemToObject(o, "peer", pu);
    if (!cJSON_AddNumberToObject(o, "lastSeq", (double) v->last_seq) ||
        !cJSON_AddNumberToObject(o, "lastReadSeq", (double) v->last_read_seq) ||
        !cJSON_AddNumberToObject(o, "unreadCount", (double) v->unread) ||
        !cJSON_AddNumberToObject(o, "peerLastReadSeq", (double) v->peer_last_read_seq) ||
        !cJSON_AddStringToObject(o, "lastActivityAt", timefmt_rfc3339(ts, v->last_activity_ms)))
        return -1;
    if (!v->has_last)
        return cJSON_AddNullToObject(o, "lastMessage") ? 0 : -1;
    if (!(last = cJSON_AddObjectToObject(o, "lastMessage")) ||
        !cJSON_AddStringToObject(last, "chatType", v->last_type) ||
        !cJSON_AddStringToObject(last, "preview", v->last_preview) ||
        !cJSON_AddNumberToObject(last, "senderId", (double) v->last_sender) ||
        !cJSON_AddStringToObject(last, "createdAt", timefmt_rfc3339(ts, v->last_at_ms)))
        return -1;
    return 0;
}

cJSON *rooms_to_json(const struct room *r)
{
    char ts[TIMEFMT_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON *members = NULL;
    if (!o || !cJSON_AddNumberToObject(o, "id", (double) r->id) ||
        !(members = cJSON_AddArrayToObject(o, "members")))
        goto fail;
    for (int m = 0; m < 2; m++) {
        cJSON *u = users_to_json(&r->members[m]);
        if (!u)
            goto fail;
        cJSON_AddItemToArray(members, u);
    }
    if (!(r->has_name ? cJSON_AddStringToObject(o, "name", r->name)
                      : cJSON_AddNullToObject(o, "name")) ||
        !cJSON_AddStringToObject(o, "createdAt", timefmt_rfc3339(ts, r->created_at_ms)))
        goto fail;
    if (r->viewer && view_to_json(r, o) != 0)
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}
