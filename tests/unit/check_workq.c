/*
 * check_workq.c - the work queue's completion status: a job that ran
 * completes with WORKQ_OK and its results; a job still queued when the
 * queue is freed completes with WORKQ_CANCELLED and never ran, so no done
 * handler can take unset results for success.
 */
#include "workq.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

struct test_job {
    struct job base;
    int ran;      /* set by run (worker thread) */
    int status;   /* what done received, -1 before */
    int order;    /* completion order */
    int *counter; /* shared completion counter */
};

static void test_run(struct job *j, void *ctx)
{
    (void) ctx;
    ((struct test_job *) j)->ran = 1;
}

static void test_done(struct job *j, int status)
{
    struct test_job *t = (struct test_job *) j;
    t->status = status;
    t->order = (*t->counter)++;
}

static void job_init(struct test_job *t, int *counter)
{
    *t = (struct test_job){
        .base = {.run = test_run, .done = test_done}, .status = -1, .counter = counter};
}

START_TEST(test_workq_done_ok_after_run)
{
    int pfd[2], counter = 0;
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    struct workq *q = workq_new(1, NULL, NULL, NULL, pfd[1]);
    ck_assert_ptr_nonnull(q);
    struct test_job t;
    job_init(&t, &counter);
    workq_submit(q, &t.base);
    /* The worker writes one byte when the job is finished. */
    char b;
    ck_assert_int_eq(read(pfd[0], &b, 1), 1);
    ck_assert_uint_eq(workq_complete(q), 1);
    ck_assert_int_eq(t.ran, 1);
    ck_assert_int_eq(t.status, WORKQ_OK);
    ck_assert_int_eq(workq_free(q, 1000), 0);
    ck_assert_int_eq(counter, 1); /* done is called once */
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

START_TEST(test_workq_cancelled_never_ok)
{
    int pfd[2], counter = 0;
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC | O_NONBLOCK), 0);
    /* No worker: whatever is submitted is still queued at free. */
    struct workq *q = workq_new(0, NULL, NULL, NULL, pfd[1]);
    ck_assert_ptr_nonnull(q);
    struct test_job t[3];
    for (int i = 0; i < 3; i++) {
        job_init(&t[i], &counter);
        workq_submit(q, &t[i].base);
    }
    ck_assert_uint_eq(workq_pending(q), 3);
    ck_assert_uint_eq(workq_complete(q), 0);
    ck_assert_int_eq(workq_free(q, 1000), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(t[i].ran, 0);
        ck_assert_int_eq(t[i].status, WORKQ_CANCELLED);
        ck_assert_int_eq(t[i].order, i); /* in submission order */
    }
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

Suite *workq_suite(void)
{
    Suite *s = suite_create("workq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_workq_done_ok_after_run);
    tcase_add_test(tc, test_workq_cancelled_never_ok);
    suite_add_tcase(s, tc);
    return s;
}
