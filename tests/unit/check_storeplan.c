/* check_storeplan.c - the seeded store's shape and write order (bench). */
#include "errors.h"
#include "storeplan.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(test_storeplan_shares_the_rest_evenly)
{
    struct storeplan p = {200000, 1000, 5000};
    ck_assert_int_eq(storeplan_check(&p), 0);
    ck_assert_int_eq(storeplan_room_count(&p), 1001);
    ck_assert_int_eq((int) storeplan_room_msgs(&p, 0), 5000);
    ck_assert_int_eq((int) storeplan_room_msgs(&p, 1), 195);
    ck_assert_int_eq((int) storeplan_room_msgs(&p, 1000), 195);
    ck_assert_int_eq((int) storeplan_room_msgs(&p, 1001), 0);
    ck_assert_int_eq((int) storeplan_room_msgs(&p, -1), 0);

    /* 10 left over 4 rooms: 3, 3, 2, 2 */
    struct storeplan q = {15, 4, 5};
    int64_t sum = 0;
    for (int i = 0; i < storeplan_room_count(&q); i++)
        sum += storeplan_room_msgs(&q, i);
    ck_assert_int_eq((int) sum, 15);
    ck_assert_int_eq((int) storeplan_room_msgs(&q, 1), 3);
    ck_assert_int_eq((int) storeplan_room_msgs(&q, 2), 3);
    ck_assert_int_eq((int) storeplan_room_msgs(&q, 3), 2);
    ck_assert_int_eq((int) storeplan_room_msgs(&q, 4), 2);
}
END_TEST

START_TEST(test_storeplan_refuses_shapes_it_cannot_seed)
{
    struct storeplan no_rooms = {100, 0, 50};
    struct storeplan empty_big = {100, 10, 0};
    struct storeplan too_few = {105, 10, 100}; /* 5 messages for 10 rooms */
    struct storeplan just_enough = {110, 10, 100};
    ck_assert_int_eq(storeplan_check(&no_rooms), ERR_INVALID);
    ck_assert_int_eq(storeplan_check(&empty_big), ERR_INVALID);
    ck_assert_int_eq(storeplan_check(&too_few), ERR_INVALID);
    ck_assert_int_eq(storeplan_check(&just_enough), 0);
}
END_TEST

START_TEST(test_storeplan_cursor_visits_every_seq_once_in_order)
{
    struct storeplan p = {23, 3, 8}; /* others: 5, 5, 5 */
    struct storeplan_cursor c;
    int64_t next_seq[4] = {1, 1, 1, 1};
    int room, last_room = 0, n = 0;
    int64_t seq;
    storeplan_start(&c);
    while (storeplan_next(&p, &c, &room, &seq)) {
        ck_assert_int_ge(room, last_room); /* room by room */
        ck_assert_int_le(room, 3);
        ck_assert_int_eq((int) seq, (int) next_seq[room]); /* 1, 2, ... no gap */
        next_seq[room]++;
        last_room = room;
        n++;
    }
    ck_assert_int_eq(n, 23);
    ck_assert_int_eq((int) c.done, 23);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq((int) next_seq[i] - 1, (int) storeplan_room_msgs(&p, i));
    room = -7;
    ck_assert_int_eq(storeplan_next(&p, &c, &room, &seq), 0); /* stays done */
    ck_assert_int_eq(room, -7);
}
END_TEST

START_TEST(test_storeplan_middle_page_lies_inside_the_big_room)
{
    struct storeplan p = {200000, 1000, 5000};
    int64_t before = storeplan_middle_before(&p);
    ck_assert_int_eq((int) before, 2501);
    /* a 50-message page below it is full and far from both ends */
    ck_assert_int_gt((int) before - 50, 1);
    ck_assert_int_lt((int) before, 5000 - 50);
}
END_TEST

Suite *storeplan_suite(void)
{
    Suite *s = suite_create("storeplan");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_storeplan_shares_the_rest_evenly);
    tcase_add_test(t, test_storeplan_refuses_shapes_it_cannot_seed);
    tcase_add_test(t, test_storeplan_cursor_visits_every_seq_once_in_order);
    tcase_add_test(t, test_storeplan_middle_page_lies_inside_the_big_room);
    suite_add_tcase(s, t);
    return s;
}
