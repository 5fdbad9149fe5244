/*
 * check_roommap.c - the room map (room id -> members) and the hash map
 * under it: add/remove, a room vanishing with its last member, a
 * connection leaving all its rooms, and many keys with deletions (the
 * backward-shift delete must keep every other key reachable).
 */
#include "errors.h"
#include "i64map.h"
#include "roommap.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(test_roommap_add_remove)
{
    struct roommap rm;
    int a, b, c;
    roommap_init(&rm);
    ck_assert_ptr_null(roommap_get(&rm, 7));
    ck_assert_int_eq(roommap_add(&rm, 7, &a), 0);
    ck_assert_int_eq(roommap_add(&rm, 7, &b), 0);
    ck_assert_int_eq(roommap_add(&rm, 7, &a), 0); /* twice: still once */
    ck_assert_int_eq(roommap_add(&rm, 8, &c), 0);
    const struct roommap_entry *r = roommap_get(&rm, 7);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_uint_eq(roommap_count(&rm), 2);

    ck_assert_int_eq(roommap_remove(&rm, 7, &c), ERR_NOT_FOUND);
    ck_assert_int_eq(roommap_remove(&rm, 9, &a), ERR_NOT_FOUND);
    ck_assert_int_eq(roommap_remove(&rm, 7, &a), 0);
    r = roommap_get(&rm, 7);
    ck_assert_uint_eq(r->n, 1);
    ck_assert_ptr_eq(r->members[0], &b);
    ck_assert_int_eq(roommap_remove(&rm, 7, &b), 0);
    ck_assert_ptr_null(roommap_get(&rm, 7)); /* the last member took the room with it */
    ck_assert_uint_eq(roommap_count(&rm), 1);
    roommap_deinit(&rm);
}
END_TEST

/* One connection in many rooms, each shared with another: closing it
 * (removing it from each of its rooms) leaves only the others. */
START_TEST(test_roommap_close_removes_from_all_rooms)
{
    struct roommap rm;
    int conn, other;
    roommap_init(&rm);
    for (int64_t room = 1; room <= 100; room++) {
        ck_assert_int_eq(roommap_add(&rm, room, &conn), 0);
        if (room % 2 == 0)
            ck_assert_int_eq(roommap_add(&rm, room, &other), 0);
    }
    for (int64_t room = 1; room <= 100; room++)
        ck_assert_int_eq(roommap_remove(&rm, room, &conn), 0);
    ck_assert_uint_eq(roommap_count(&rm), 50);
    for (int64_t room = 1; room <= 100; room++) {
        const struct roommap_entry *r = roommap_get(&rm, room);
        if (room % 2) {
            ck_assert_ptr_null(r);
        } else {
            ck_assert_uint_eq(r->n, 1);
            ck_assert_ptr_eq(r->members[0], &other);
        }
    }
    roommap_deinit(&rm);
}
END_TEST

START_TEST(test_i64map_many_keys_with_deletes)
{
    struct i64map m;
    enum { N = 20000 };
    static int vals[N + 1];
    i64map_init(&m);
    for (int64_t k = 1; k <= N; k++)
        ck_assert_int_eq(i64map_put(&m, k * 7919, &vals[k]), 0);
    ck_assert_uint_eq(i64map_len(&m), N);
    for (int64_t k = 1; k <= N; k += 3)
        ck_assert_ptr_eq(i64map_del(&m, k * 7919), &vals[k]);
    for (int64_t k = 1; k <= N; k++) {
        void *v = i64map_get(&m, k * 7919);
        if ((k - 1) % 3 == 0)
            ck_assert_msg(v == NULL, "key %lld deleted but found", (long long) k);
        else
            ck_assert_msg(v == &vals[k], "key %lld lost after deletes", (long long) k);
    }
    ck_assert_ptr_null(i64map_del(&m, 1));
    ck_assert_ptr_null(i64map_get(&m, -5));
    size_t pos = 0, seen = 0;
    int64_t key;
    void *val;
    while (i64map_next(&m, &pos, &key, &val))
        seen++;
    ck_assert_uint_eq(seen, i64map_len(&m));
    /* Replacing keeps the count. */
    ck_assert_int_eq(i64map_put(&m, 2 * 7919, &vals[0]), 0);
    ck_assert_ptr_eq(i64map_get(&m, 2 * 7919), &vals[0]);
    ck_assert_uint_eq(seen, i64map_len(&m));
    i64map_deinit(&m);
    ck_assert_uint_eq(i64map_len(&m), 0);
}
END_TEST

Suite *roommap_suite(void)
{
    Suite *s = suite_create("roommap");
    TCase *tc = tcase_create("map");
    tcase_add_test(tc, test_roommap_add_remove);
    tcase_add_test(tc, test_roommap_close_removes_from_all_rooms);
    tcase_add_test(tc, test_i64map_many_keys_with_deletes);
    suite_add_tcase(s, tc);
    return s;
}
