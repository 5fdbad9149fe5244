/*
 * check_ev.c - the select() loop over pipes: read/write readiness, interest
 * removed inside a callback, timers that repeat and stop, the before-sleep
 * hook, ev_stop, and the FD_SETSIZE refusal.
 */
#include "errors.h"
#include "ev.h"

#include <check.h>
#include <sys/select.h>
#include <unistd.h>

struct counts {
    int reads, writes, timer, hook;
    int other_fd;
};

static void on_read(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct counts *c = data;
    char buf[16];
    ck_assert_int_eq(mask & EV_READ, EV_READ);
    ck_assert_int_gt(read(fd, buf, sizeof buf), 0);
    c->reads++;
    /* Dropping another fd's interest: its callback must not run this round. */
    if (c->other_fd >= 0)
        ev_del(loop, c->other_fd, EV_READ);
}

static void on_write(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct counts *c = data;
    ck_assert_int_eq(mask, EV_WRITE);
    c->writes++;
    ev_del(loop, fd, EV_WRITE);
}

static int64_t tick(struct ev_loop *loop, int64_t id, void *data)
{
    struct counts *c = data;
    (void) id;
    if (++c->timer == 3) {
        ev_stop(loop);
        return EV_TIMER_DONE;
    }
    return 1;
}

static void hook(struct ev_loop *loop, void *data)
{
    (void) loop;
    ((struct counts *) data)->hook++;
}

START_TEST(test_ev_fds_and_interest)
{
    struct ev_loop *loop = ev_new();
    struct counts c = {0, 0, 0, 0, -1};
    int p1[2], p2[2];
    ck_assert_int_eq(pipe(p1), 0);
    ck_assert_int_eq(pipe(p2), 0);
    ck_assert_int_eq(ev_add(loop, p1[0], EV_READ, on_read, &c), 0);
    ck_assert_int_eq(ev_add(loop, p2[0], EV_READ, on_read, &c), 0);
    ck_assert_int_eq(ev_add(loop, p1[1], EV_WRITE, on_write, &c), 0);
    ck_assert_int_eq(ev_mask(loop, p1[0]), EV_READ);

    /* Nothing to read yet: only the writable end fires, once. */
    ck_assert_int_eq(ev_run_once(loop, 0), 1);
    ck_assert_int_eq(c.writes, 1);
    ck_assert_int_eq(ev_mask(loop, p1[1]), EV_NONE);

    /* Both readable; the first callback drops the second's interest. */
    ck_assert_int_eq(write(p1[1], "x", 1), 1);
    ck_assert_int_eq(write(p2[1], "y", 1), 1);
    c.other_fd = p2[0];
    ck_assert_int_eq(ev_run_once(loop, 0), 1);
    ck_assert_int_eq(c.reads, 1);
    ck_assert_int_eq(ev_mask(loop, p2[0]), EV_NONE);
    ck_assert_int_eq(c.hook, 0);

    ck_assert_int_eq(ev_add(loop, FD_SETSIZE, EV_READ, on_read, &c), ERR_TOO_LARGE);
    ck_assert_int_eq(ev_add(loop, -1, EV_READ, on_read, &c), ERR_TOO_LARGE);
    ev_free(loop);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
}
END_TEST

START_TEST(test_ev_timers_hook_and_stop)
{
    struct ev_loop *loop = ev_new();
    struct counts c = {0, 0, 0, 0, -1};
    ev_set_before_sleep(loop, hook, &c);
    ck_assert_int_gt(ev_timer_add(loop, 1, tick, &c), 0);
    int64_t never = ev_timer_add(loop, 60000, tick, &c);
    ck_assert_int_eq(ev_timer_del(loop, never), 0);
    ck_assert_int_eq(ev_timer_del(loop, never), ERR_NOT_FOUND);
    ck_assert_int_eq(ev_run(loop), 0); /* returns when the third tick stops it */
    ck_assert_int_eq(c.timer, 3);
    ck_assert_int_ge(c.hook, 3);
    ev_free(loop);
}
END_TEST

Suite *ev_suite(void)
{
    Suite *s = suite_create("ev");
    TCase *tc = tcase_create("loop");
    tcase_add_test(tc, test_ev_fds_and_interest);
    tcase_add_test(tc, test_ev_timers_hook_and_stop);
    suite_add_tcase(s, tc);
    return s;
}
