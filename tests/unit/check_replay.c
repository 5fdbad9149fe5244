/*
 * check_replay.c - the seq/replay merge: what a client sees when a `since`
 * replay and live delivery overlap (no gap, no duplicate, increasing seq),
 * the bounded hold with its fetch-again fallback, and the per-room seq
 * counters (lazy load, strictly increasing, reload after a collision).
 */
#include "errors.h"
#include "replay.h"
#include "seqgen.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    int64_t seqs[256];
    size_t n;
};

static void record(struct seen *s, int64_t seq)
{
    ck_assert_uint_lt(s->n, 256);
    s->seqs[s->n++] = seq;
}

static void on_send(void *arg, const char *frame, size_t len)
{
    char *end;
    ck_assert_int_eq(frame[0], 'm');
    long long seq = strtoll(frame + 1, &end, 10);
    ck_assert_int_eq(*end, '\0');
    ck_assert_uint_eq(len, strlen(frame));
    record(arg, seq);
}

/* live: deliver seq as a live message; what should be sent is recorded. */
static enum replay_verdict live(struct replay *rp, struct seen *s, int64_t seq)
{
    char frame[32];
    int n = snprintf(frame, sizeof frame, "m%lld", (long long) seq);
    enum replay_verdict v = replay_live(rp, seq, frame, (size_t) n);
    if (v == REPLAY_SEND)
        record(s, seq);
    return v;
}

static void page(struct replay *rp, struct seen *s, int64_t first, int64_t last)
{
    for (int64_t seq = first; seq <= last; seq++)
        if (replay_take(rp, seq))
            record(s, seq);
}

static void expect_run(const struct seen *s, int64_t first, int64_t last)
{
    ck_assert_msg(s->n == (size_t) (last - first + 1), "expected seqs %lld..%lld, got %zu of them",
                  (long long) first, (long long) last, s->n);
    for (size_t i = 0; i < s->n; i++)
        ck_assert_msg(s->seqs[i] == first + (int64_t) i, "position %zu: expected seq %lld, got %lld",
                      i, (long long) (first + (int64_t) i), (long long) s->seqs[i]);
}

/* Stored 1..10; the client had 4; 11..13 arrive live while the replay
 * query runs (11 before the query read, so it is in the page too). */
START_TEST(test_replay_live_during_replay)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 100);
    replay_begin(&rp, 4);
    ck_assert_int_eq(live(&rp, &s, 11), REPLAY_HELD);
    page(&rp, &s, 5, 11);
    ck_assert_int_eq(live(&rp, &s, 12), REPLAY_HELD);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    ck_assert_int_eq(live(&rp, &s, 13), REPLAY_HELD); /* until finish, still held */
    replay_finish(&rp, on_send, &s);
    ck_assert_int_eq(live(&rp, &s, 14), REPLAY_SEND);
    ck_assert_int_eq(live(&rp, &s, 14), REPLAY_DROP);
    ck_assert_int_eq(live(&rp, &s, 9), REPLAY_DROP);
    expect_run(&s, 5, 14);
    replay_deinit(&rp);
}
END_TEST

/* Several pages: the caller fetches more after rp.last. */
START_TEST(test_replay_pages)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 100);
    replay_begin(&rp, 0);
    page(&rp, &s, 1, 3);
    ck_assert_int_eq(live(&rp, &s, 8), REPLAY_HELD);
    ck_assert_int_eq(replay_page_end(&rp, 1), REPLAY_FETCH_MORE);
    ck_assert_int_eq(rp.last, 3);
    page(&rp, &s, 4, 6);
    ck_assert_int_eq(replay_page_end(&rp, 1), REPLAY_FETCH_MORE);
    page(&rp, &s, 7, 8);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    replay_finish(&rp, on_send, &s);
    expect_run(&s, 1, 8);
    replay_deinit(&rp);
}
END_TEST

/* ENTER without since: the cursor is the room's last seq once known; live
 * messages held before that are sent only when newer. */
START_TEST(test_replay_enter_without_since)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 100);
    replay_begin(&rp, -1);
    ck_assert_int_eq(live(&rp, &s, 20), REPLAY_HELD); /* stored before the lookup read */
    ck_assert_int_eq(live(&rp, &s, 21), REPLAY_HELD);
    replay_set_cursor(&rp, 20);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    replay_finish(&rp, on_send, &s);
    expect_run(&s, 21, 21);
    replay_deinit(&rp);
}
END_TEST

/* Held messages arriving out of order are still sent in seq order. */
START_TEST(test_replay_held_sorted)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 100);
    replay_begin(&rp, 0);
    live(&rp, &s, 3);
    live(&rp, &s, 1);
    live(&rp, &s, 2);
    replay_page_end(&rp, 0);
    replay_finish(&rp, on_send, &s);
    expect_run(&s, 1, 3);
    replay_deinit(&rp);
}
END_TEST

/* Past the hold bound the held messages are dropped and the replay asks
 * for one more page, which (as they were stored first) contains them. */
START_TEST(test_replay_overflow_fetches_again)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 3);
    replay_begin(&rp, 0);
    page(&rp, &s, 1, 2);
    for (int64_t seq = 3; seq <= 6; seq++)
        live(&rp, &s, seq);
    ck_assert_int_eq(rp.overflowed, 1);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_FETCH_MORE);
    ck_assert_int_eq(live(&rp, &s, 7), REPLAY_HELD);
    page(&rp, &s, 3, 6);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    replay_finish(&rp, on_send, &s);
    expect_run(&s, 1, 7);
    replay_deinit(&rp);
}
END_TEST

/* A re-ENTER restarts from the new cursor and forgets what was held. */
START_TEST(test_replay_restart)
{
    struct replay rp;
    struct seen s = {.n = 0};
    replay_init(&rp, 10);
    replay_begin(&rp, 5);
    live(&rp, &s, 9);
    replay_begin(&rp, 2);
    ck_assert_uint_eq(rp.nheld, 0);
    page(&rp, &s, 3, 9);
    replay_page_end(&rp, 0);
    replay_finish(&rp, on_send, &s);
    expect_run(&s, 3, 9);
    replay_deinit(&rp);
}
END_TEST

/* ---- seqgen ---- */

struct fake_store {
    int64_t last[4];  /* per room 1..3 */
    int loads;
    int fail;
};

static int fake_load(void *arg, int64_t room, int64_t *last)
{
    struct fake_store *fs = arg;
    fs->loads++;
    if (fs->fail)
        return ERR_UNAVAILABLE;
    *last = fs->last[room];
    return 0;
}

START_TEST(test_seqgen_lazy_load_and_increment)
{
    struct fake_store fs = {.last = {0, 41, 0, 7}};
    struct seqgen *sg = seqgen_new(fake_load, &fs, 100);
    int64_t seq;
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), 0);
    ck_assert_int_eq(seq, 42);
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), 0);
    ck_assert_int_eq(seq, 43);
    ck_assert_int_eq(seqgen_next(sg, 2, -1, &seq), 0);
    ck_assert_int_eq(seq, 1);
    ck_assert_int_eq(fs.loads, 2); /* once per room */
    seqgen_free(sg);
}
END_TEST

/* After a collision (another writer stored seq 44..50) the counter is
 * reloaded and continues above what is stored. */
START_TEST(test_seqgen_reload_after_collision)
{
    struct fake_store fs = {.last = {0, 41, 0, 0}};
    struct seqgen *sg = seqgen_new(fake_load, &fs, 100);
    int64_t seq;
    seqgen_next(sg, 1, -1, &seq);
    fs.last[1] = 50;
    seqgen_forget(sg, 1);
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), 0);
    ck_assert_int_eq(seq, 51);
    fs.fail = 1;
    seqgen_forget(sg, 1);
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), ERR_UNAVAILABLE);
    fs.fail = 0;
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), 0);
    ck_assert_int_eq(seq, 51);
    seqgen_free(sg);
}
END_TEST

/* Past max_rooms the counters are dropped and reloaded on demand: values
 * still never go back. */
START_TEST(test_seqgen_bounded_rooms)
{
    struct fake_store fs = {.last = {0, 10, 20, 30}};
    struct seqgen *sg = seqgen_new(fake_load, &fs, 2);
    int64_t seq;
    seqgen_next(sg, 1, -1, &seq);
    fs.last[1] = seq; /* the store has it now */
    seqgen_next(sg, 2, -1, &seq);
    seqgen_next(sg, 3, -1, &seq); /* drops rooms 1 and 2 */
    ck_assert_int_eq(seq, 31);
    ck_assert_int_eq(seqgen_next(sg, 1, -1, &seq), 0);
    ck_assert_int_eq(seq, 12);
    ck_assert_int_eq(fs.loads, 4);
    seqgen_free(sg);
}
END_TEST

/* A known last seq seeds a new room without a load; a stale one only
 * matters until the caller reports the collision. */
START_TEST(test_seqgen_hint_skips_load)
{
    struct fake_store fs = {.last = {0, 41, 0, 0}};
    struct seqgen *sg = seqgen_new(fake_load, &fs, 100);
    int64_t seq;
    ck_assert_int_eq(seqgen_next(sg, 1, 41, &seq), 0);
    ck_assert_int_eq(seq, 42);
    ck_assert_int_eq(fs.loads, 0);
    ck_assert_int_eq(seqgen_next(sg, 1, 5, &seq), 0); /* known rooms ignore hints */
    ck_assert_int_eq(seq, 43);
    ck_assert_int_eq(seqgen_next(sg, 2, 3, &seq), 0); /* stale: the store has 0 .. say 9 */
    ck_assert_int_eq(seq, 4);
    fs.last[2] = 9;
    seqgen_forget(sg, 2);
    ck_assert_int_eq(seqgen_next(sg, 2, -1, &seq), 0);
    ck_assert_int_eq(seq, 10);
    ck_assert_int_eq(fs.loads, 1);
    seqgen_free(sg);
}
END_TEST

Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, test_replay_live_during_replay);
    tcase_add_test(tc, test_replay_pages);
    tcase_add_test(tc, test_replay_enter_without_since);
    tcase_add_test(tc, test_replay_held_sorted);
    tcase_add_test(tc, test_replay_overflow_fetches_again);
    tcase_add_test(tc, test_replay_restart);
    tcase_add_test(tc, test_seqgen_lazy_load_and_increment);
    tcase_add_test(tc, test_seqgen_reload_after_collision);
    tcase_add_test(tc, test_seqgen_bounded_rooms);
    tcase_add_test(tc, test_seqgen_hint_skips_load);
    suite_add_tcase(s, tc);
    return s;
}
