/*
 * check_workq_drop.c - dropping a closed connection's queued jobs: they
 * complete unrun with WORKQ_CANCELLED on the caller's thread, while the
 * running job and other owners' jobs still run; freeing the queue cancels
 * what never started.
 */
#include "workq.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct test_job {
    struct job base;
    int started, ran, done, cancelled;
    int block_fd; /* >= 0: the run waits for a byte here */
};

static void test_run(struct job *j, void *ctx)
{
    struct test_job *t = (struct test_job *) j;
    char b;
    (void) ctx;
    __atomic_store_n(&t->started, 1, __ATOMIC_SEQ_CST);
    if (t->block_fd >= 0)
        while (read(t->block_fd, &b, 1) < 0) {
        }
    t->ran = 1;
}

static void test_done(struct job *j, int status)
{
    struct test_job *t = (struct test_job *) j;
    t->done = 1;
    t->cancelled = status == WORKQ_CANCELLED;
}

static void job_init(struct test_job *t, uint64_t owner, int block_fd)
{
    *t = (struct test_job){.block_fd = block_fd};
    t->base.run = test_run;
    t->base.done = test_done;
    t->base.owner = owner;
}

/* complete_until: call workq_complete until want jobs completed in all. */
static void complete_until(struct workq *q, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < 5000 && got < want; i++) {
        got += workq_complete(q);
        if (got < want)
            usleep(1000);
    }
    ck_assert_uint_eq(got, want);
}

START_TEST(test_workq_drop_owner_skips_queued_jobs)
{
    int notify[2], gate[2];
    ck_assert_int_eq(pipe2(notify, O_NONBLOCK), 0);
    ck_assert_int_eq(pipe(gate), 0);
    struct workq *q = workq_new(1, NULL, NULL, NULL, notify[1]);
    ck_assert_ptr_nonnull(q);

    /* The one worker is held by a job of owner 9, so the rest queue. */
    struct test_job blocker, mine[3], other;
    job_init(&blocker, 9, gate[0]);
    workq_submit(q, &blocker.base);
    for (int i = 0; i < 5000 && !__atomic_load_n(&blocker.started, __ATOMIC_SEQ_CST); i++)
        usleep(1000);
    ck_assert_int_eq(__atomic_load_n(&blocker.started, __ATOMIC_SEQ_CST), 1);
    for (int i = 0; i < 3; i++) {
        job_init(&mine[i], 7, -1);
        workq_submit(q, &mine[i].base);
    }
    job_init(&other, 8, -1);
    workq_submit(q, &other.base);

    ck_assert_uint_eq(workq_drop_owner(q, 0), 0); /* 0 is nobody's */
    ck_assert_uint_eq(workq_drop_owner(q, 7), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mine[i].done, 1);
        ck_assert_int_eq(mine[i].cancelled, 1);
        ck_assert_int_eq(mine[i].ran, 0);
    }
    /* The running job is not touched; the other owner's still runs. */
    ck_assert_uint_eq(workq_drop_owner(q, 9), 0);
    ck_assert_int_eq(write(gate[1], "x", 1), 1);
    complete_until(q, 2);
    ck_assert_int_eq(blocker.ran, 1);
    ck_assert_int_eq(blocker.cancelled, 0);
    ck_assert_int_eq(other.ran, 1);
    ck_assert_int_eq(other.done, 1);
    ck_assert_int_eq(other.cancelled, 0);
    ck_assert_uint_eq(workq_pending(q), 0);

    /* The queue still works after a drop emptied its tail. */
    struct test_job last;
    job_init(&last, 7, -1);
    workq_submit(q, &last.base);
    complete_until(q, 1);
    ck_assert_int_eq(last.ran, 1);
    ck_assert_int_eq(workq_free(q, 1000), 0);
    close(notify[0]);
    close(notify[1]);
    close(gate[0]);
    close(gate[1]);
}
END_TEST

START_TEST(test_workq_free_cancels_what_never_ran)
{
    int notify[2], gate[2];
    ck_assert_int_eq(pipe2(notify, O_NONBLOCK), 0);
    ck_assert_int_eq(pipe(gate), 0);
    struct workq *q = workq_new(1, NULL, NULL, NULL, notify[1]);
    ck_assert_ptr_nonnull(q);
    struct test_job blocker, queued;
    job_init(&blocker, 1, gate[0]);
    job_init(&queued, 2, -1);
    workq_submit(q, &blocker.base);
    workq_submit(q, &queued.base);
    for (int i = 0; i < 5000 && !__atomic_load_n(&blocker.started, __ATOMIC_SEQ_CST); i++)
        usleep(1000);
    ck_assert_int_eq(write(gate[1], "x", 1), 1); /* let the blocker end */
    ck_assert_int_eq(workq_free(q, 2000), 0);
    ck_assert_int_eq(blocker.done, 1);
    ck_assert_int_eq(queued.done, 1);
    /* queued either ran (the worker got to it first) or was cancelled. */
    ck_assert_int_eq(queued.ran + queued.cancelled, 1);
    close(notify[0]);
    close(notify[1]);
    close(gate[0]);
    close(gate[1]);
}
END_TEST

Suite *workq_drop_suite(void)
{
    Suite *s = suite_create("workq_drop");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_workq_drop_owner_skips_queued_jobs);
    tcase_add_test(tc, test_workq_free_cancels_what_never_ran);
    suite_add_tcase(s, tc);
    return s;
}
