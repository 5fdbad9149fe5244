/*
 * workq.h - worker threads for blocking database calls, reporting back to
 * the event loop through a pipe.
 *
 * The loop submits a job; a worker runs job->run(job, thread_ctx) (this is
 * where MySQL or MongoDB may block), moves it to a done list and writes one
 * byte to notify_fd. When that fd is readable the loop drains it and calls
 * workq_complete, which runs job->done(job, WORKQ_OK) on the loop thread.
 * A job still queued when the queue is freed never runs: its done gets
 * WORKQ_CANCELLED, so cancelled work can never pass for success (as
 * libuv's done(req, status)). done owns the job from then on (usually
 * frees it). run must not touch loop state; done must not block.
 *
 * Each thread gets its own context from thread_init (e.g. its own MySQL
 * connection), released with thread_fini when the queue is freed.
 */
#ifndef RELAY_WORKQ_H
#define RELAY_WORKQ_H

#include <stddef.h>
#include <stdint.h>

/* The status done receives. */
enum workq_status {
    WORKQ_OK = 0,        /* run ran; its results are in the job */
    WORKQ_CANCELLED = 1, /* run never ran (queue freed, owner dropped): the results are unset */
};

struct job {
    void (*run)(struct job *j, void *thread_ctx); /* worker thread */
    void (*done)(struct job *j, int status);      /* loop thread; owns j; status: WORKQ_* */
    uint64_t owner; /* who the job works for (a connection id), 0: nobody; see workq_drop_owner */
    struct job *next;
};

struct workq;

/* workq_new: start nthreads workers (0: none; every job submitted is
 * cancelled when the queue is freed, which tests use). thread_init(arg) makes each thread's
 * context (NULL is a valid context; thread_init may be NULL); thread_fini
 * releases it at exit (may be NULL). notify_fd: the write end of a
 * non-blocking pipe the loop watches (borrowed). NULL on failure. */
struct workq *workq_new(int nthreads, void *(*thread_init)(void *arg),
                        void (*thread_fini)(void *ctx), void *arg, int notify_fd);

/* workq_submit: queue j (ownership passes to the queue until done). */
void workq_submit(struct workq *q, struct job *j);

/* workq_pending: jobs queued or running (not yet completed). */
size_t workq_pending(struct workq *q);

/* workq_drop_owner: take every job of `owner` (non-zero) that no worker
 * has started off the queue and call its done with WORKQ_CANCELLED, on the
 * caller's (the loop's) thread; returns how many. For work whose only
 * reader has gone (a closed connection): it must not delay anyone else. */
size_t workq_drop_owner(struct workq *q, uint64_t owner);

/* workq_complete: call done(j, WORKQ_OK) for every finished job; returns
 * how many. */
size_t workq_complete(struct workq *q);

/* workq_run_one: run the first queued job on the calling thread, then its
 * done with WORKQ_OK; ctx is the thread context run gets. For a queue of
 * no threads only (tests step through their jobs with it). Returns 0, or
 * ERR_NOT_FOUND when nothing is queued. */
int workq_run_one(struct workq *q, void *ctx);

/* workq_free: stop the workers after their current job, waiting at most
 * wait_ms for them; then call done on every job left: finished ones with
 * WORKQ_OK, queued ones with WORKQ_CANCELLED; and free the queue. Returns 0 (also for NULL), or -1
 * when a worker was still busy at the deadline: the threads are then detached and the queue
 * deliberately leaked, and the caller must not free what those jobs use either (the process is
 * about to exit). */
int workq_free(struct workq *q, int wait_ms);

#endif
