/*
 * check_seqalloc.c - the writer's seq source without MySQL (db NULL, the
 * memory fallback it uses during an outage): runs per room from the
 * loop's hint or the store, consecutive runs across batches, a collided
 * room re-seeded from the store and never from the stale hint, and every
 * room served from memory remembered for repair.
 */
#include "errors.h"
#include "seqalloc.h"

#include <check.h>
#include <stdint.h>

struct fake_store {
    int64_t last[8]; /* highest stored seq per room id 0..7 */
    int loads;
    int fail;
};

static int fake_load(void *arg, int64_t room_id, int64_t *last)
{
    struct fake_store *fs = arg;
    fs->loads++;
    if (fs->fail)
        return ERR_UNAVAILABLE;
    *last = fs->last[room_id];
    return 0;
}

START_TEST(test_seqalloc_memory_runs_per_room)
{
    struct fake_store fs = {.last = {0, 10, 0, 3}};
    struct seqalloc *sa = seqalloc_new(NULL, fake_load, &fs);
    ck_assert_ptr_nonnull(sa);
    ck_assert_int_eq(seqalloc_mysql_up(sa), 0);
    struct seq_claim c[2] = {{.room_id = 1, .count = 3, .hint = -1},
                             {.room_id = 3, .count = 2, .hint = 7}};
    seqalloc_claim(sa, c, 2);
    ck_assert_int_eq(c[0].status, 0);
    ck_assert_int_eq(c[0].first, 11); /* from the store: 10 */
    ck_assert_int_eq(c[1].status, 0);
    ck_assert_int_eq(c[1].first, 8); /* from the hint, newer than the store's 3 */
    ck_assert_int_eq(fs.loads, 1);

    /* The next batch continues both rooms without asking again. */
    struct seq_claim d[2] = {{.room_id = 1, .count = 1, .hint = -1},
                             {.room_id = 3, .count = 1, .hint = 8}};
    seqalloc_claim(sa, d, 2);
    ck_assert_int_eq(d[0].first, 14);
    ck_assert_int_eq(d[1].first, 10);
    ck_assert_int_eq(fs.loads, 1);
    seqalloc_free(sa);
}
END_TEST

START_TEST(test_seqalloc_collided_room_reloads_from_store)
{
    struct fake_store fs = {.last = {0, 0, 5}};
    struct seqalloc *sa = seqalloc_new(NULL, fake_load, &fs);
    struct seq_claim c = {.room_id = 2, .count = 1, .hint = 5};
    seqalloc_claim(sa, &c, 1);
    ck_assert_int_eq(c.first, 6);
    /* Another writer stored 6..9 meanwhile: the insert of 6 collided. */
    fs.last[2] = 9;
    seqalloc_collided(sa, 2);
    c = (struct seq_claim){.room_id = 2, .count = 2, .hint = 5}; /* stale hint */
    seqalloc_claim(sa, &c, 1);
    ck_assert_int_eq(c.status, 0);
    ck_assert_int_eq(c.first, 10);
    seqalloc_free(sa);
}
END_TEST

START_TEST(test_seqalloc_store_down_is_unavailable)
{
    struct fake_store fs = {.fail = 1};
    struct seqalloc *sa = seqalloc_new(NULL, fake_load, &fs);
    struct seq_claim c[2] = {{.room_id = 1, .count = 1, .hint = -1},
                             {.room_id = 2, .count = 1, .hint = 4}};
    seqalloc_claim(sa, c, 2);
    ck_assert_int_eq(c[0].status, ERR_UNAVAILABLE); /* nothing to seed it from */
    ck_assert_int_eq(c[1].status, 0);               /* the hint seeds it */
    ck_assert_int_eq(c[1].first, 5);
    /* Recording stored seqs without MySQL must not fail or crash. */
    struct chat_message m = {.room_id = 2, .seq = 5, .sender_id = 1};
    struct seq_result res[2] = {{&m, 1, 0, 0}, {NULL, 0, 0, 0}};
    seqalloc_stored(sa, res, 2);
    seqalloc_free(sa);
}
END_TEST

Suite *seqalloc_suite(void)
{
    Suite *s = suite_create("seqalloc");
    TCase *tc = tcase_create("memory fallback");
    tcase_add_test(tc, test_seqalloc_memory_runs_per_room);
    tcase_add_test(tc, test_seqalloc_collided_room_reloads_from_store);
    tcase_add_test(tc, test_seqalloc_store_down_is_unavailable);
    suite_add_tcase(s, tc);
    return s;
}
