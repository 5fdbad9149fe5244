/*
 * writer.h - the pending queue of messages on their way to MongoDB and the
 * one write batch in flight (loop side). The batch itself runs on the
 * writer thread (batch.c); its result comes back on the loop through
 * writer_events.
 *
 * Bounds: at most max_pending_messages messages and WRITER_MAX_BYTES bytes
 * wait; past three quarters of max_pending_messages only a sender with
 * fewer than WRITER_LIGHT messages of its own unanswered still gets in, so
 * under overload the heaviest senders are refused first and a quiet room
 * goes through. One batch at a time: while it is out, new messages pile up
 * and go together in the next insertMany, and per-room order is kept.
 *
 * Loop thread only.
 */
#ifndef RELAY_WRITER_H
#define RELAY_WRITER_H

#include "batch.h"
#include "config.h"

#include <stddef.h>

#define WRITER_MAX_BYTES (64u << 20)
#define WRITER_LIGHT     4

struct lastseq;
struct metrics;
struct workq;

/* What the writer tells its owner; arg is writer_new's. Both are called on
 * the loop thread; the outmsgs are borrowed (the writer frees them after). */
struct writer_events {
    /* batch_done: a batch came back, batch[0..n-1] in send order, each with
     * its status: OUTMSG_STORED, OUTMSG_DUPLICATE, OUTMSG_CANCELLED (the
     * queue was freed first) or an ERR_*. */
    void (*batch_done)(void *arg, struct outmsg **batch, size_t n);
    /* failed: a queued message that will never be written (why: a message
     * for the client). */
    void (*failed)(void *arg, struct outmsg *om, const char *why);
};

struct writer;

/* writer_new: cfg (max_pending_messages, write_batch_max), q (the writer's
 * one-thread work queue), store, seqa, pub (used on the writer thread),
 * lastseq (seq hints) and metrics are borrowed. NULL when out of memory. */
struct writer *writer_new(const struct config *cfg, struct workq *q, struct msgstore *store,
                          struct seqalloc *seqa, struct redis_pub *pub,
                          const struct lastseq *lastseq, struct metrics *metrics,
                          const struct writer_events *ev, void *arg);

/* writer_free: free what is still queued, unanswered. Call after the work
 * queue is freed (its cancelled batch reports through the events). NULL is
 * fine. */
void writer_free(struct writer *w);

/* writer_set_write: have the writer thread call write(arg, batch, n)
 * instead of batch_write (tests: results without a database). write
 * returns like batch_write. */
typedef int writer_write_fn(void *arg, struct outmsg **batch, size_t n);
void writer_set_write(struct writer *w, writer_write_fn *write, void *arg);

/* writer_enqueue: queue om for the next batch (the writer owns it then)
 * and return 0; or ERR_UNAVAILABLE when a bound refuses it (the caller
 * keeps om). sender_unanswered: the sender's messages queued or being
 * written. */
int writer_enqueue(struct writer *w, struct outmsg *om, size_t sender_unanswered);

/* writer_kick: when no batch is out, hand up to write_batch_max queued
 * messages to the writer thread (out of memory: tried again next time). */
void writer_kick(struct writer *w);

/* writer_fail_pending: every queued message is failed (events.failed with
 * why) and freed. */
void writer_fail_pending(struct writer *w, const char *why);

/* writer_queued: messages waiting; writer_writing: messages in the batch
 * in flight (0: the writer thread is idle). */
size_t writer_queued(const struct writer *w);
size_t writer_writing(const struct writer *w);

#endif
