/*
 * workq.h - worker threads for blocking database calls, reporting back to
 * the event loop through a pipe.
 *
 * The loop submits a job; a worker runs job->run(job, thread_ctx) (this is
 * where MySQL or MongoDB may block), moves it to a done list and writes one
 * byte to notify_fd. When that fd is readable the loop drains it and calls
 * workq_complete, which runs job->done(job) on the loop thread. done owns
 * the job from then on (usually frees it). run must not touch loop state;
 * done must not block.
 *
 * Each thread gets its own context from thread_init (e.g. its own MySQL
 * connection), released with thread_fini when the queue is freed.
 */
#ifndef RELAY_WORKQ_H
#define RELAY_WORKQ_H

#include <stddef.h>
#include <stdint.h>

struct job {
    void (*run)(struct job *j, void *thread_ctx); /* worker thread */
    void (*done)(struct job *j);                  /* loop thread; owns j */
    int cancelled;  /* set when the job never ran (queue freed, owner dropped): done must only free
                     */
    uint64_t owner; /* who the job works for (a connection id), 0: nobody; see workq_drop_owner */
    struct job *next;
};

struct workq;

/* workq_new: start nthreads workers. thread_init(arg) makes each thread's
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
 * has started off the queue and call its done with cancelled = 1, on the
 * caller's (the loop's) thread; returns how many. For work whose only
 * reader has gone (a closed connection): it must not delay anyone else. */
size_t workq_drop_owner(struct workq *q, uint64_t owner);

/* workq_complete: call done for every finished job; returns how many. */
size_t workq_complete(struct workq *q);

/* workq_free: stop the workers after their current job, waiting at most
 * wait_ms for them; then call done on every job left, queued ones with
 * cancelled = 1, and free the queue. Returns 0 (also for NULL), or -1 when
 * a worker was still busy at the deadline: the threads are then detached
 * and the queue deliberately leaked, and the caller must not free what
 * those jobs use either (the process is about to exit). */
int workq_free(struct workq *q, int wait_ms);

#endif
