/*
 * check_room_batch.c - the writer's statements over many rooms at once
 * (room_seq_claim_many, room_state_record_many)
 * against the test database: chunks of 1, 8 and 32 rows with padding, rooms
 * that do not exist, and the rules the single-row statements kept (nothing
 * moves back; a newer last message is never replaced by an older one).
 */
#include "errors.h"
#include "room_seq.h"
#include "room_state.h"
#include "rooms.h"
#include "sqldb.h"
#include "testenv.h"
#include "users.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NROOMS 41 /* one chunk of 32, one of 8, one of 1 */

static struct sqldb *db;
static int64_t room_ids[NROOMS], user_a, user_b;

static void setup(void)
{
    char name[64];
    struct user a, b;
    ck_assert_ptr_nonnull(db = sqldb_new(testenv_config()));
    long stamp = (long) time(NULL) % 100000000;
    snprintf(name, sizeof name, "rb%ld_a%d", stamp, (int) getpid() % 1000);
    ck_assert_int_eq(users_create(db, name, "A", &a), 0);
    user_a = a.id;
    for (int i = 0; i < NROOMS; i++) {
        struct room r;
        int created = 0;
        snprintf(name, sizeof name, "rb%ld_%d_%d", stamp, (int) getpid() % 1000, i);
        ck_assert_int_eq(users_create(db, name, "B", &b), 0);
        ck_assert_int_eq(rooms_find_or_create(db, user_a, b.id, &r, &created), 0);
        room_ids[i] = r.id;
    }
    user_b = b.id; /* member of the last room only */
}

static void teardown(void)
{
    sqldb_free(db);
}

static int64_t column(const char *sql, int64_t a, int64_t b)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(a), SQLDB_ARG_I64(b)};
    struct sqldb_col c = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(db, sql, args, strstr(sql, "user_id") ? 2 : 1, &c, 1), 0);
    return c.i64;
}

/* room_col: one column of a room's row (the statement cache keeps the
 * text's pointer: constant texts only). */
static int64_t room_col(const char *col, int64_t room)
{
    static const char *const texts[][2] = {
        {"seq_issued", "SELECT seq_issued FROM chat_rooms WHERE id = ?"},
        {"last_seq", "SELECT last_seq FROM chat_rooms WHERE id = ?"},
        {"last_msg_seq", "SELECT last_msg_seq FROM chat_rooms WHERE id = ?"},
        {"last_msg_at_ms", "SELECT last_msg_at_ms FROM chat_rooms WHERE id = ?"},
        {"last_activity_ms", "SELECT last_activity_ms FROM chat_rooms WHERE id = ?"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i][0], col) == 0)
            return column(texts[i][1], room, 0);
    ck_abort_msg("no statement for column %s", col);
    return 0;
}

static void preview_of(int64_t room, char *buf, size_t cap)
{
    struct sqldb_arg a = SQLDB_ARG_I64(room);
    struct sqldb_col c = SQLDB_COL_TEXT(buf, cap);
    ck_assert_int_eq(
        sqldb_stmt_row(db, "SELECT last_msg_preview FROM chat_rooms WHERE id = ?", &a, 1, &c, 1),
        0);
}

/* claim: every room of ids[0..n-1] in one transaction. */
static int claim(const int64_t *ids, const int64_t *counts, size_t n, int64_t *last)
{
    ck_assert_int_eq(sqldb_begin(db), 0);
    int rc = room_seq_claim_many(db, ids, counts, n, last);
    if (rc == 0)
        rc = sqldb_commit(db);
    sqldb_rollback(db);
    return rc;
}

START_TEST(test_claim_many_across_chunks)
{
    int64_t counts[NROOMS], last[NROOMS];
    for (int i = 0; i < NROOMS; i++)
        counts[i] = i + 1;
    ck_assert_int_eq(claim(room_ids, counts, NROOMS, last), 0);
    for (int i = 0; i < NROOMS; i++)
        ck_assert_int_eq(last[i], i + 1);
    /* Again: each room goes on from where it was, by its own count. */
    ck_assert_int_eq(claim(room_ids, counts, NROOMS, last), 0);
    for (int i = 0; i < NROOMS; i++) {
        ck_assert_int_eq(last[i], 2 * (i + 1));
        ck_assert_int_eq(room_col("seq_issued", room_ids[i]), 2 * (i + 1));
    }
    /* Two rooms and one that does not exist, in one statement of 8. */
    int64_t ids[3] = {room_ids[0], room_ids[5], room_ids[NROOMS - 1] + 1000000}, c3[3] = {1, 1, 1},
            l3[3];
    ck_assert_int_eq(claim(ids, c3, 3, l3), 0);
    ck_assert_int_eq(l3[0], 3);
    ck_assert_int_eq(l3[1], 13);
    ck_assert_int_eq(l3[2], -1);
    /* Out of order or a zero count: refused, nothing reserved. */
    int64_t bad[2] = {room_ids[1], room_ids[0]}, c2[2] = {1, 1};
    ck_assert_int_eq(claim(bad, c2, 2, l3), ERR_INVALID);
    c2[0] = 0;
    ck_assert_int_eq(claim(room_ids, c2, 2, l3), ERR_INVALID);
    ck_assert_int_eq(room_col("seq_issued", room_ids[0]), 3);
    ck_assert_int_eq(room_col("seq_issued", room_ids[1]), 4);
}
END_TEST

static struct chat_message text_msg(int64_t room, int64_t seq, const char *text, int64_t at)
{
    struct chat_message m;
    memset(&m, 0, sizeof m);
    m.room_id = room;
    m.seq = seq;
    m.type = CHAT_TEXT;
    m.message = (char *) text;
    m.sender_id = user_a;
    m.created_at_ms = at;
    return m;
}

START_TEST(test_stored_many_keeps_newest)
{
    /* Message times after the rooms' creation (their first activity). */
    const int64_t t0 = (int64_t) time(NULL) * 1000 + 60000;
    struct chat_message *ms = calloc(NROOMS, sizeof *ms);
    struct room_record p[NROOMS];
    char text[NROOMS][16], buf[ROOM_PREVIEW_BUF];
    ck_assert_ptr_nonnull(ms);
    for (int i = 0; i < NROOMS; i++) {
        snprintf(text[i], sizeof text[i], "five-%d", i);
        ms[i] = text_msg(room_ids[i], 5, text[i], t0 + 5000 + i);
        p[i] = (struct room_record){&ms[i], user_a, 5};
    }
    ck_assert_int_eq(room_state_record_many(db, p, NROOMS), 0);
    for (int i = 0; i < NROOMS; i++) {
        ck_assert_int_eq(room_col("last_seq", room_ids[i]), 5);
        ck_assert_int_eq(room_col("last_msg_seq", room_ids[i]), 5);
        ck_assert_int_eq(room_col("last_activity_ms", room_ids[i]), t0 + 5000 + i);
        preview_of(room_ids[i], buf, sizeof buf);
        ck_assert_str_eq(buf, text[i]);
    }
    /* An older message (a held outcome written late) changes nothing; a
     * newer one of another room in the same statement does. */
    struct chat_message older = text_msg(room_ids[0], 3, "three", t0 + 3000);
    struct chat_message newer = text_msg(room_ids[1], 7, "seven", t0 + 7000);
    struct room_record two[2] = {{&older, user_a, 3}, {&newer, user_a, 7}};
    ck_assert_int_eq(room_state_record_many(db, two, 2), 0);
    preview_of(room_ids[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "five-0");
    ck_assert_int_eq(room_col("last_seq", room_ids[0]), 5);
    ck_assert_int_eq(room_col("last_activity_ms", room_ids[0]), t0 + 5000);
    preview_of(room_ids[1], buf, sizeof buf);
    ck_assert_str_eq(buf, "seven");
    ck_assert_int_eq(room_col("last_msg_seq", room_ids[1]), 7);
    ck_assert_int_eq(room_col("last_msg_at_ms", room_ids[1]), t0 + 7000);
    /* The same message again (a retried record) leaves it as it was. */
    ck_assert_int_eq(room_state_record_many(db, &two[1], 1), 0);
    preview_of(room_ids[1], buf, sizeof buf);
    ck_assert_str_eq(buf, "seven");
    /* A room that does not exist is skipped, the others still recorded. */
    struct chat_message ghost = text_msg(room_ids[NROOMS - 1] + 1000000, 9, "ghost", t0 + 9000);
    struct chat_message nine = text_msg(room_ids[2], 9, "nine", t0 + 9000);
    struct room_record gn[2] = {{&nine, user_a, 9}, {&ghost, user_a, 9}};
    ck_assert_int_eq(room_state_record_many(db, gn, 2), 0);
    ck_assert_int_eq(room_col("last_msg_seq", room_ids[2]), 9);
    free(ms);
}
END_TEST

START_TEST(test_record_many_raises_watermarks)
{
    const int64_t t0 = (int64_t) time(NULL) * 1000 + 60000;
    struct chat_message *ms = calloc(NROOMS, sizeof *ms);
    struct room_record rd[NROOMS + 1];
    const char *read_sql = "SELECT last_read_seq FROM chat_room_members WHERE room_id = ? "
                           "AND user_id = ?";
    ck_assert_ptr_nonnull(ms);
    for (int i = 0; i < NROOMS; i++) {
        ms[i] = text_msg(room_ids[i], 10 + i, "read", t0);
        rd[i] = (struct room_record){&ms[i], user_a, 10 + i};
    }
    /* user_b is no member of room 0: that row raises no watermark, and
     * the room itself is still recorded. */
    struct chat_message late = text_msg(room_ids[0], 50, "late", t0 + 1);
    rd[NROOMS] = (struct room_record){&late, user_b, 99};
    ck_assert_int_eq(room_state_record_many(db, rd, NROOMS + 1), 0);
    for (int i = 1; i < NROOMS; i++)
        ck_assert_int_eq(column(read_sql, room_ids[i], user_a), 10 + i);
    ck_assert_int_eq(column(read_sql, room_ids[0], user_a), 10);
    ck_assert_int_eq(room_col("last_msg_seq", room_ids[0]), 50);
    ck_assert_int_eq(column(read_sql, room_ids[NROOMS - 1], user_b), 0);
    /* Lower seqs do not move anything back. */
    for (int i = 0; i < NROOMS; i++)
        rd[i].read_seq = 1;
    ck_assert_int_eq(room_state_record_many(db, rd, NROOMS), 0);
    for (int i = 1; i < NROOMS; i++)
        ck_assert_int_eq(column(read_sql, room_ids[i], user_a), 10 + i);
    free(ms);
}
END_TEST

Suite *room_batch_suite(void)
{
    Suite *s = suite_create("room_batch");
    TCase *tc = tcase_create("mariadb");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_claim_many_across_chunks);
    tcase_add_test(tc, test_stored_many_keeps_newest);
    tcase_add_test(tc, test_record_many_raises_watermarks);
    suite_add_tcase(s, tc);
    return s;
}
