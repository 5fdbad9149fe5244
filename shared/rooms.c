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
    struct sqldb_arg room_args[3] = {SQLDB_ARG_I64(lo), SQLDB_ARG_I64(hi), SQLDB_ARG_I64(creator)};
    uint64_t affected = 0, id = 0;
    int rc = sqldb_begin(db);
    if (rc != 0)
        return rc;
    rc =
        sqldb_stmt_exec(db,
                        "INSERT INTO chat_rooms (user_low, user_high, created_by) VALUES (?, ?, ?) "
                        "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                        room_args, 3, &affected, &id);
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

struct list_ctx {
    struct room *out;
    size_t n, cap;
    struct room *scratch; /* the row buffers the columns are bound to */
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
    room_take(cols, lc->scratch);
    lc->out[lc->n++] = *lc->scratch;
    return 0;
}

int rooms_list(struct sqldb *db, int64_t user_id, int64_t before, int limit, struct room *out,
               size_t *n, int *more)
{
    *n = 0;
    *more = 0;
    if (limit < 1 || limit > ROOMS_PAGE_MAX)
        return ERR_INVALID;
    if (before <= 0)
        before = INT64_MAX;
    struct room scratch;
    struct sqldb_col cols[ROOM_NCOLS];
    memset(&scratch, 0, sizeof scratch);
    room_cols(cols, &scratch);
    struct list_ctx lc = {out, 0, (size_t) limit, &scratch, 0};
    struct sqldb_arg args[3] = {SQLDB_ARG_I64(user_id), SQLDB_ARG_I64(before),
                                SQLDB_ARG_I64(limit + 1)};
    int rc = sqldb_stmt_query(db,
                              ROOM_SELECT "JOIN chat_room_members m ON m.room_id = r.id "
                                          "WHERE m.user_id = ? AND m.room_id < ? "
                                          "ORDER BY m.room_id DESC LIMIT ?",
                              args, 3, cols, ROOM_NCOLS, list_row, &lc);
    if (rc < 0)
        return rc;
    *n = lc.n;
    *more = lc.more;
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
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}
