/*
 * check_writer.c - the loop side of the writer without a database: the
 * pending queue's bounds (count, the light-sender share), batches of at
 * most write_batch_max in send order, a batch cancelled at shutdown
 * reported as OUTMSG_CANCELLED (never stored), and failing the queue.
 * The work queue has no thread, so no batch ever runs: what the writer
 * reports is decided by the queue's cancellation alone.
 */
#include "batch.h"
#include "errors.h"
#include "lastseq.h"
#include "metrics.h"
#include "workq.h"
#include "writer.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
    int statuses[16];
    uint64_t senders[16];
    size_t n, batches;
    char why[64];
    size_t failed;
};

static void on_batch_done(void *arg, struct outmsg **batch, size_t n)
{
    struct seen *s = arg;
    s->batches++;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(s->n, 16);
        s->statuses[s->n] = batch[i]->status;
        s->senders[s->n++] = batch[i]->conn_id;
    }
}

static void on_failed(void *arg, struct outmsg *om, const char *why)
{
    struct seen *s = arg;
    ck_assert_uint_lt(s->n, 16);
    s->senders[s->n++] = om->conn_id;
    s->failed++;
    snprintf(s->why, sizeof s->why, "%s", why);
}

static const struct writer_events events = {on_batch_done, on_failed};

struct fixture {
    struct config cfg;
    int pfd[2];
    struct workq *q;
    struct lastseq ls;
    struct metrics metrics;
    struct seen seen;
    struct writer *w;
};

static void fixture_init(struct fixture *f, int max_pending, int batch_max)
{
    memset(f, 0, sizeof *f);
    f->cfg.max_pending_messages = max_pending;
    f->cfg.write_batch_max = batch_max;
    ck_assert_int_eq(pipe2(f->pfd, O_CLOEXEC | O_NONBLOCK), 0);
    f->q = workq_new(0, NULL, NULL, NULL, f->pfd[1]);
    ck_assert_ptr_nonnull(f->q);
    lastseq_init(&f->ls);
    f->w = writer_new(&f->cfg, f->q, NULL, NULL, NULL, &f->ls, &f->metrics, &events, &f->seen);
    ck_assert_ptr_nonnull(f->w);
}

static void fixture_free(struct fixture *f)
{
    ck_assert_int_eq(workq_free(f->q, 1000), 0);
    writer_free(f->w);
    lastseq_deinit(&f->ls);
    close(f->pfd[0]);
    close(f->pfd[1]);
}

static struct outmsg *msg(uint64_t sender, int64_t room)
{
    struct outmsg *om = calloc(1, sizeof *om);
    ck_assert_ptr_nonnull(om);
    om->conn_id = sender;
    om->m.room_id = room;
    om->m.client_msg_id = strdup("c1");
    om->m.message = strdup("hello");
    om->bytes = outmsg_size(om);
    return om;
}

START_TEST(test_writer_cancelled_batch_is_not_stored)
{
    struct fixture f;
    fixture_init(&f, 100, 2);
    lastseq_note(&f.ls, 7, 41);
    for (uint64_t i = 1; i <= 3; i++)
        ck_assert_int_eq(writer_enqueue(f.w, msg(i, 7), 0), 0);
    ck_assert_uint_eq(writer_queued(f.w), 3);
    writer_kick(f.w);
    ck_assert_uint_eq(writer_writing(f.w), 2); /* write_batch_max */
    ck_assert_uint_eq(writer_queued(f.w), 1);
    writer_kick(f.w); /* one batch at a time */
    ck_assert_uint_eq(writer_writing(f.w), 2);
    ck_assert_uint_eq(f.metrics.messages_in, 3);

    /* Shutdown: the batch never ran. */
    ck_assert_int_eq(workq_free(f.q, 1000), 0);
    ck_assert_uint_eq(f.seen.batches, 1);
    ck_assert_uint_eq(f.seen.n, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(f.seen.statuses[i], OUTMSG_CANCELLED);
        ck_assert_uint_eq(f.seen.senders[i], i + 1); /* send order */
    }
    f.q = workq_new(0, NULL, NULL, NULL, f.pfd[1]); /* for fixture_free */
    fixture_free(&f);
}
END_TEST

START_TEST(test_writer_bounds)
{
    struct fixture f;
    fixture_init(&f, 8, 100);
    /* Up to 3/4 of the bound anyone gets in. */
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(writer_enqueue(f.w, msg(1, 7), 10), 0);
    /* Past it, a sender with WRITER_LIGHT unanswered is refused, a light
     * one is not. */
    struct outmsg *heavy = msg(1, 7);
    ck_assert_int_eq(writer_enqueue(f.w, heavy, WRITER_LIGHT), ERR_UNAVAILABLE);
    outmsg_free(heavy); /* refused: still the caller's */
    ck_assert_int_eq(writer_enqueue(f.w, msg(2, 8), WRITER_LIGHT - 1), 0);
    ck_assert_int_eq(writer_enqueue(f.w, msg(3, 9), 0), 0);
    /* Full: nobody. */
    struct outmsg *light = msg(4, 9);
    ck_assert_int_eq(writer_enqueue(f.w, light, 0), ERR_UNAVAILABLE);
    outmsg_free(light);
    ck_assert_uint_eq(writer_queued(f.w), 8);
    ck_assert_uint_eq(f.metrics.refusals[REFUSE_STORE_UNAVAILABLE], 2);
    fixture_free(&f);
}
END_TEST

START_TEST(test_writer_fail_pending_in_order)
{
    struct fixture f;
    fixture_init(&f, 100, 100);
    for (uint64_t i = 1; i <= 3; i++)
        ck_assert_int_eq(writer_enqueue(f.w, msg(i, 7), 0), 0);
    writer_fail_pending(f.w, "server shutting down");
    ck_assert_uint_eq(f.seen.failed, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(f.seen.senders[i], i + 1);
    ck_assert_str_eq(f.seen.why, "server shutting down");
    ck_assert_uint_eq(writer_queued(f.w), 0);
    writer_kick(f.w); /* nothing to write */
    ck_assert_uint_eq(writer_writing(f.w), 0);
    fixture_free(&f);
    ck_assert_uint_eq(f.seen.batches, 0);
}
END_TEST

Suite *writer_suite(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_writer_cancelled_batch_is_not_stored);
    tcase_add_test(tc, test_writer_bounds);
    tcase_add_test(tc, test_writer_fail_pending_in_order);
    suite_add_tcase(s, tc);
    return s;
}
