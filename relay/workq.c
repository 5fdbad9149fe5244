/*
 * workq.c - a mutex/condvar job queue with N threads and a notify pipe
 * (see workq.h). A few hundred jobs per second at most (handshakes,
 * membership checks, replays, write batches), so one lock is plenty.
 */
#include "workq.h"

#include "errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct worker {
    pthread_t tid;
    struct workq *q;
    int started;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;     /* jobs queued, or stop */
    pthread_cond_t idle;     /* a worker exited */
    struct job *head, *tail; /* queued */
    struct job *done_head, *done_tail;
    size_t queued, running;
    int stop;
    int alive; /* workers not yet exited */
    int notify_fd;
    void *(*thread_init)(void *arg);
    void (*thread_fini)(void *ctx);
    void *arg;
    int nthreads;
    struct worker *workers;
};

static void notify(struct workq *q)
{
    char b = 1;
    /* EAGAIN means a wake-up byte is already pending: enough. */
    ssize_t w = write(q->notify_fd, &b, 1);
    (void) w;
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct workq *q = w->q;
    void *ctx = q->thread_init ? q->thread_init(q->arg) : NULL;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->stop)
            break;
        struct job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        q->running++;
        pthread_mutex_unlock(&q->lock);

        j->run(j, ctx);

        pthread_mutex_lock(&q->lock);
        q->running--;
        j->next = NULL;
        if (q->done_tail)
            q->done_tail->next = j;
        else
            q->done_head = j;
        q->done_tail = j;
        notify(q);
    }
    pthread_mutex_unlock(&q->lock);
    if (q->thread_fini)
        q->thread_fini(ctx);
    pthread_mutex_lock(&q->lock);
    q->alive--;
    pthread_cond_broadcast(&q->idle);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct workq *workq_new(int nthreads, void *(*thread_init)(void *arg),
                        void (*thread_fini)(void *ctx), void *arg, int notify_fd)
{
    struct workq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->workers = nthreads > 0 ? calloc((size_t) nthreads, sizeof *q->workers) : NULL;
    if (nthreads > 0 && !q->workers) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    q->notify_fd = notify_fd;
    q->thread_init = thread_init;
    q->thread_fini = thread_fini;
    q->arg = arg;
    q->nthreads = nthreads;
    for (int i = 0; i < nthreads; i++) {
        q->workers[i].q = q;
        pthread_mutex_lock(&q->lock);
        q->alive++;
        pthread_mutex_unlock(&q->lock);
        if (pthread_create(&q->workers[i].tid, NULL, worker_main, &q->workers[i]) != 0) {
            pthread_mutex_lock(&q->lock);
            q->alive--;
            pthread_mutex_unlock(&q->lock);
            workq_free(q, 1000);
            return NULL;
        }
        q->workers[i].started = 1;
    }
    return q;
}

void workq_submit(struct workq *q, struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->queued++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

size_t workq_pending(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->queued + q->running;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t workq_drop_owner(struct workq *q, uint64_t owner)
{
    struct job *dropped = NULL, **tail = &dropped;
    if (owner == 0)
        return 0;
    pthread_mutex_lock(&q->lock);
    struct job *prev = NULL;
    for (struct job *j = q->head, *next; j; j = next) {
        next = j->next;
        if (j->owner != owner) {
            prev = j;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            q->head = next;
        if (q->tail == j)
            q->tail = prev;
        q->queued--;
        j->next = NULL;
        *tail = j;
        tail = &j->next;
    }
    pthread_mutex_unlock(&q->lock);

    size_t n = 0;
    while (dropped) {
        struct job *next = dropped->next;
        dropped->done(dropped, WORKQ_CANCELLED);
        dropped = next;
        n++;
    }
    return n;
}

size_t workq_complete(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    struct job *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);

    size_t n = 0;
    while (j) {
        struct job *next = j->next;
        j->done(j, WORKQ_OK);
        j = next;
        n++;
    }
    return n;
}

int workq_run_one(struct workq *q, void *ctx)
{
    pthread_mutex_lock(&q->lock);
    struct job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
    }
    pthread_mutex_unlock(&q->lock);
    if (!j)
        return ERR_NOT_FOUND;
    j->next = NULL;
    j->run(j, ctx);
    j->done(j, WORKQ_OK);
    return 0;
}

int workq_free(struct workq *q, int wait_ms)
{
    if (!q)
        return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_broadcast(&q->cond);
    int timed_out = 0;
    while (q->alive > 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&q->idle, &q->lock, &deadline) == ETIMEDOUT;
    int stuck = q->alive > 0;
    pthread_mutex_unlock(&q->lock);

    for (int i = 0; i < q->nthreads; i++) {
        if (!q->workers[i].started)
            continue;
        if (stuck)
            pthread_detach(q->workers[i].tid);
        else
            pthread_join(q->workers[i].tid, NULL);
    }
    if (stuck)
        return -1; /* a worker still holds q; the process is exiting anyway */

    workq_complete(q);
    for (struct job *j = q->head, *next; j; j = next) {
        next = j->next;
        j->done(j, WORKQ_CANCELLED);
    }
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->idle);
    pthread_mutex_destroy(&q->lock);
    free(q->workers);
    free(q);
    return 0;
}
