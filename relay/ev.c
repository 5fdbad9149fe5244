/*
 * ev.c - the select(2) event loop (see ev.h).
 *
 * The poller sits behind four static functions (poll_add, poll_del,
 * poll_wait and the state in struct poller), as in Redis' ae_select.c, so
 * another backend would replace only those. select() overwrites its sets,
 * so each iteration copies the master sets first.
 *
 * Timers live in an unsorted singly linked list: the relay has a handful,
 * so a linear scan per iteration is cheaper than a heap.
 */
#include "ev.h"
#include "errors.h"
#include "timefmt.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

struct ev_file {
    int mask; /* EV_READ | EV_WRITE */
    ev_file_fn *fn;
    void *data;
};

struct ev_timer {
    int64_t id;
    int64_t when_ms; /* monotonic deadline */
    ev_timer_fn *fn;
    void *data;
    int deleted; /* set by ev_timer_del while timers run */
    struct ev_timer *next;
};

struct poller {
    fd_set rfds, wfds;     /* master sets */
    fd_set rready, wready; /* copies handed to select() */
};

struct ev_loop {
    int maxfd; /* highest fd with a mask, or -1 */
    struct ev_file files[FD_SETSIZE];
    struct poller poll;
    struct ev_timer *timers;
    int64_t next_timer_id;
    int stop;
    ev_hook_fn *before_sleep;
    void *before_sleep_data;
};

static void poll_add(struct poller *p, int fd, int mask)
{
    if (mask & EV_READ)
        FD_SET(fd, &p->rfds);
    if (mask & EV_WRITE)
        FD_SET(fd, &p->wfds);
}

static void poll_del(struct poller *p, int fd, int mask)
{
    if (mask & EV_READ)
        FD_CLR(fd, &p->rfds);
    if (mask & EV_WRITE)
        FD_CLR(fd, &p->wfds);
}

/* poll_wait: select() over copies of the master sets; returns its result. */
static int poll_wait(struct poller *p, int maxfd, struct timeval *tv)
{
    memcpy(&p->rready, &p->rfds, sizeof p->rfds);
    memcpy(&p->wready, &p->wfds, sizeof p->wfds);
    return select(maxfd + 1, &p->rready, &p->wready, NULL, tv);
}

struct ev_loop *ev_new(void)
{
    struct ev_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->maxfd = -1;
    loop->next_timer_id = 1;
    FD_ZERO(&loop->poll.rfds);
    FD_ZERO(&loop->poll.wfds);
    return loop;
}

void ev_free(struct ev_loop *loop)
{
    if (!loop)
        return;
    while (loop->timers) {
        struct ev_timer *t = loop->timers;
        loop->timers = t->next;
        free(t);
    }
    free(loop);
}

int ev_add(struct ev_loop *loop, int fd, int mask, ev_file_fn *fn, void *data)
{
    if (fd < 0 || fd >= FD_SETSIZE)
        return ERR_TOO_LARGE;
    assert(fn != NULL);
    struct ev_file *f = &loop->files[fd];
    poll_add(&loop->poll, fd, mask);
    f->mask |= mask;
    f->fn = fn;
    f->data = data;
    if (fd > loop->maxfd)
        loop->maxfd = fd;
    return 0;
}

void ev_del(struct ev_loop *loop, int fd, int mask)
{
    if (fd < 0 || fd >= FD_SETSIZE || loop->files[fd].mask == EV_NONE)
        return;
    struct ev_file *f = &loop->files[fd];
    poll_del(&loop->poll, fd, mask);
    f->mask &= ~mask;
    if (f->mask == EV_NONE && fd == loop->maxfd) {
        while (loop->maxfd >= 0 && loop->files[loop->maxfd].mask == EV_NONE)
            loop->maxfd--;
    }
}

int ev_mask(const struct ev_loop *loop, int fd)
{
    if (fd < 0 || fd >= FD_SETSIZE)
        return EV_NONE;
    return loop->files[fd].mask;
}

int64_t ev_timer_add(struct ev_loop *loop, int64_t ms, ev_timer_fn *fn, void *data)
{
    struct ev_timer *t = calloc(1, sizeof *t);
    if (!t)
        return ERR_NOMEM;
    t->id = loop->next_timer_id++;
    t->when_ms = timefmt_mono_ms() + (ms > 0 ? ms : 0);
    t->fn = fn;
    t->data = data;
    t->next = loop->timers;
    loop->timers = t;
    return t->id;
}

int ev_timer_del(struct ev_loop *loop, int64_t id)
{
    for (struct ev_timer *t = loop->timers; t; t = t->next) {
        if (t->id == id && !t->deleted) {
            t->deleted = 1; /* unlinked by run_timers, which may be iterating */
            return 0;
        }
    }
    return ERR_NOT_FOUND;
}

void ev_set_before_sleep(struct ev_loop *loop, ev_hook_fn *fn, void *data)
{
    loop->before_sleep = fn;
    loop->before_sleep_data = data;
}

void ev_stop(struct ev_loop *loop)
{
    loop->stop = 1;
}

/* nearest_timer_ms: ms until the earliest live timer (0 if overdue), or -1. */
static int64_t nearest_timer_ms(const struct ev_loop *loop, int64_t now)
{
    int64_t best = -1;
    for (const struct ev_timer *t = loop->timers; t; t = t->next) {
        if (t->deleted)
            continue;
        int64_t d = t->when_ms > now ? t->when_ms - now : 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

/* run_timers: call every due timer once; free deleted ones. Timers added by
 * a callback are at the list head and wait for the next iteration. */
static int run_timers(struct ev_loop *loop)
{
    int64_t now = timefmt_mono_ms();
    int64_t max_id = loop->next_timer_id - 1;
    int handled = 0;

    for (struct ev_timer *t = loop->timers; t; t = t->next) {
        if (t->deleted || t->id > max_id || t->when_ms > now)
            continue;
        int64_t again = t->fn(loop, t->id, t->data);
        handled++;
        if (again == EV_TIMER_DONE)
            t->deleted = 1;
        else
            t->when_ms = timefmt_mono_ms() + again;
    }
    for (struct ev_timer **pp = &loop->timers; *pp;) {
        struct ev_timer *t = *pp;
        if (t->deleted) {
            *pp = t->next;
            free(t);
        } else {
            pp = &t->next;
        }
    }
    return handled;
}

int ev_run_once(struct ev_loop *loop, int64_t max_wait_ms)
{
    if (loop->before_sleep)
        loop->before_sleep(loop, loop->before_sleep_data);

    int64_t wait = nearest_timer_ms(loop, timefmt_mono_ms());
    if (max_wait_ms >= 0 && (wait < 0 || max_wait_ms < wait))
        wait = max_wait_ms;
    struct timeval tv, *tvp = NULL;
    if (wait >= 0) {
        tv.tv_sec = (time_t) (wait / 1000);
        tv.tv_usec = (suseconds_t) ((wait % 1000) * 1000);
        tvp = &tv;
    }

    int handled = 0;
    int n = poll_wait(&loop->poll, loop->maxfd, tvp);
    if (n < 0 && errno != EINTR)
        return ERR_IO;
    for (int fd = 0; n > 0 && fd <= loop->maxfd; fd++) {
        int fired = 0;
        if (FD_ISSET(fd, &loop->poll.rready))
            fired |= EV_READ;
        if (FD_ISSET(fd, &loop->poll.wready))
            fired |= EV_WRITE;
        if (!fired)
            continue;
        n--;
        /* Interest may have been dropped by an earlier callback this round. */
        struct ev_file *f = &loop->files[fd];
        fired &= f->mask;
        if (fired) {
            f->fn(loop, fd, f->data, fired);
            handled++;
        }
    }
    handled += run_timers(loop);
    return handled;
}

int ev_run(struct ev_loop *loop)
{
    loop->stop = 0;
    while (!loop->stop) {
        int rc = ev_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
