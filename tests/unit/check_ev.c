/*
 * check_ev.c - the select() loop over pipes: read/write readiness, interest
 * removed inside a callback, timers that repeat and stop, the before-sleep
 * hook, ev_stop; descriptors past FD_SETSIZE (a socketpair end moved to
 * fd 3000) ready in the same pass as a low one, deleted inside a callback,
 * and the sets growing; the refusal past the loop's descriptor limit.
 */
#include "errors.h"
#include "ev.h"

#include <check.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
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

static void on_write_high(struct ev_loop *loop, int fd, void *data, int mask)
{
    (void) data;
    ck_assert_int_eq(mask, EV_WRITE);
    ck_assert_int_eq(fd, 3000);
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

    ck_assert_int_eq(ev_add(loop, ev_fd_limit(loop), EV_READ, on_read, &c), ERR_TOO_LARGE);
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

/* Which descriptors fired in one pass, in call order. */
struct fired {
    int fd[8];
    int n;
    int del_fd; /* deleted (read interest) by the first callback, or -1 */
};

static void on_fired(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct fired *f = data;
    char buf[16];
    ck_assert_int_eq(mask, EV_READ);
    ck_assert_int_gt(read(fd, buf, sizeof buf), 0);
    ck_assert_int_lt(f->n, 8);
    f->fd[f->n++] = fd;
    if (f->del_fd >= 0) {
        ev_del(loop, f->del_fd, EV_READ);
        f->del_fd = -1;
    }
}

/* raise_nofile: 1 when the soft descriptor limit is (now) at least want. */
static int raise_nofile(rlim_t want)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want)
        return 1;
    if (rl.rlim_max < want)
        return 0;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* pair_at: a socketpair whose first end is moved to fd `at`. */
static void pair_at(int at, int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(dup2(sv[0], at), at);
    close(sv[0]);
    sv[0] = at;
}

/* expect_two: one pass calls exactly two callbacks, first then second. */
static void expect_two(struct ev_loop *loop, struct fired *f, int first, int second)
{
    ck_assert_int_eq(ev_run_once(loop, 1000), 2);
    ck_assert_int_eq(f->n, 2);
    ck_assert_int_eq(f->fd[0], first);
    ck_assert_int_eq(f->fd[1], second);
}

START_TEST(test_ev_above_fd_setsize)
{
    ck_assert_msg(raise_nofile(4096), "RLIMIT_NOFILE hard limit below 4096");
    struct ev_loop *loop = ev_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_ge(ev_fd_limit(loop), 4096);
    int low[2], high[2], top[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, low), 0);
    ck_assert_int_lt(low[0], FD_SETSIZE);
    pair_at(3000, high);
    struct fired f = {.n = 0, .del_fd = -1};

    /* The tables grow to fd 3000 on the first add above them. */
    ck_assert_int_eq(ev_add(loop, high[0], EV_READ, on_fired, &f), 0);
    ck_assert_int_eq(ev_add(loop, low[0], EV_READ, on_fired, &f), 0);
    ck_assert_int_eq(ev_mask(loop, 3000), EV_READ);
    ck_assert_int_eq(ev_mask(loop, 2999), EV_NONE);

    /* Nothing ready: nothing fires. */
    ck_assert_int_eq(ev_run_once(loop, 0), 0);

    /* A high and a low descriptor ready in one pass, lowest first. */
    ck_assert_int_eq(write(high[1], "h", 1), 1);
    ck_assert_int_eq(write(low[1], "l", 1), 1);
    expect_two(loop, &f, low[0], 3000);

    /* Growth again, past 3000, while fd 3000 is watched; then the low
     * descriptor's callback deletes fd 3000, which is ready in the same
     * pass and must not be called. */
    pair_at(3500, top);
    ck_assert_int_eq(ev_add(loop, top[0], EV_READ, on_fired, &f), 0);
    ck_assert_int_eq(ev_mask(loop, 3000), EV_READ);
    f.n = 0;
    f.del_fd = 3000;
    ck_assert_int_eq(write(high[1], "h", 1), 1);
    ck_assert_int_eq(write(low[1], "l", 1), 1);
    ck_assert_int_eq(write(top[1], "t", 1), 1);
    expect_two(loop, &f, low[0], 3500);
    ck_assert_int_eq(ev_mask(loop, 3000), EV_NONE);

    /* Deleted: fd 3000 stays unread however often the loop runs. */
    f.n = 0;
    ck_assert_int_eq(ev_run_once(loop, 0), 0);
    ck_assert_int_eq(f.n, 0);

    /* Write interest on a high descriptor: writable at once, and only it. */
    ck_assert_int_eq(ev_add(loop, high[0], EV_WRITE, on_write_high, &f), 0);
    ck_assert_int_eq(ev_run_once(loop, 1000), 1);
    ck_assert_int_eq(ev_mask(loop, 3000), EV_NONE);

    /* The highest one gone, the loop still serves the low one. */
    ev_del(loop, top[0], EV_READ);
    f.n = 0;
    ck_assert_int_eq(write(low[1], "l", 1), 1);
    ck_assert_int_eq(ev_run_once(loop, 1000), 1);
    ck_assert_int_eq(f.fd[0], low[0]);

    ev_free(loop);
    close(low[0]);
    close(low[1]);
    close(high[0]);
    close(high[1]);
    close(top[0]);
    close(top[1]);
}
END_TEST

Suite *ev_suite(void)
{
    Suite *s = suite_create("ev");
    TCase *tc = tcase_create("loop");
    tcase_add_test(tc, test_ev_fds_and_interest);
    tcase_add_test(tc, test_ev_timers_hook_and_stop);
    tcase_add_test(tc, test_ev_above_fd_setsize);
    suite_add_tcase(s, tc);
    return s;
}
