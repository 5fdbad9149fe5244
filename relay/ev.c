/*
 * ev.c - the select(2) event loop (see ev.h).
 *
 * The poller sits behind four static functions (poll_add, poll_del,
 * poll_wait and the state in struct poller), as in Redis' ae_select.c, so
 * another backend would replace only those.
 *
 * The descriptor sets are our own bitmaps of unsigned long words, grown to
 * cover the highest watched descriptor: Linux's select() reads as many
 * bits as its first argument says, whatever FD_SETSIZE is (libevent's
 * select backend relies on the same), while glibc's FD_SET and FD_ISSET
 * abort past FD_SETSIZE under _FORTIFY_SOURCE, so they are never used
 * here. The master sets change only in ev_add and ev_del; a pass copies
 * the words up to the highest descriptor for select() and walks the result
 * a word at a time, skipping empty words, so its own work beyond select()
 * follows the ready descriptors (plus one word test per 64 descriptors).
 *
 * Timers live in an unsorted singly linked list: the relay has a handful,
 * so a linear scan per iteration is cheaper than a heap.
 */
#include "ev.h"
#include "errors.h"
#include "timefmt.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>

#define WORD_BITS   ((int) (sizeof(unsigned long) * CHAR_BIT))
#define EV_MIN_FDS  1024    /* first size of the tables, grown by doubling */
#define EV_FD_LIMIT 1048576 /* highest limit taken from RLIMIT_NOFILE */

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
    unsigned long *rbits, *wbits;   /* master sets */
    unsigned long *rready, *wready; /* copies handed to select() */
    size_t nwords;                  /* words in each of the four */
};

struct ev_loop {
    int maxfd;    /* highest fd with a mask, or -1 */
    int fd_limit; /* fds at or above it are refused */
    int nfiles;   /* entries in files (nwords * WORD_BITS) */
    struct ev_file *files;
    struct poller poll;
    struct ev_timer *timers;
    int64_t next_timer_id;
    int stop;
    ev_hook_fn *before_sleep;
    void *before_sleep_data;
};

static void bit_set(unsigned long *w, int fd)
{
    w[fd / WORD_BITS] |= 1UL << (fd % WORD_BITS);
}

static void bit_clear(unsigned long *w, int fd)
{
    w[fd / WORD_BITS] &= ~(1UL << (fd % WORD_BITS));
}

static void poll_add(struct poller *p, int fd, int mask)
{
    if (mask & EV_READ)
        bit_set(p->rbits, fd);
    if (mask & EV_WRITE)
        bit_set(p->wbits, fd);
}

static void poll_del(struct poller *p, int fd, int mask)
{
    if (mask & EV_READ)
        bit_clear(p->rbits, fd);
    if (mask & EV_WRITE)
        bit_clear(p->wbits, fd);
}

/* grow_words: resize *w from `from` to `to` words, the new ones zero. */
static int grow_words(unsigned long **w, size_t from, size_t to)
{
    unsigned long *n = realloc(*w, to * sizeof *n);
    if (!n)
        return ERR_NOMEM;
    memset(n + from, 0, (to - from) * sizeof *n);
    *w = n;
    return 0;
}

/* loop_grow: make the file table and master sets cover fd. */
static int loop_grow(struct ev_loop *loop, int fd)
{
    if (fd < loop->nfiles)
        return 0;
    size_t n = loop->nfiles ? (size_t) loop->nfiles : EV_MIN_FDS;
    while (n <= (size_t) fd)
        n *= 2;
    struct poller *p = &loop->poll;
    size_t words = n / (size_t) WORD_BITS;
    struct ev_file *f = realloc(loop->files, n * sizeof *f);
    if (!f)
        return ERR_NOMEM;
    memset(f + loop->nfiles, 0, (n - (size_t) loop->nfiles) * sizeof *f);
    loop->files = f;
    /* A failure leaves some arrays larger than nwords; nwords is what counts. */
    if (grow_words(&p->rbits, p->nwords, words) != 0 ||
        grow_words(&p->wbits, p->nwords, words) != 0 ||
        grow_words(&p->rready, p->nwords, words) != 0 ||
        grow_words(&p->wready, p->nwords, words) != 0)
        return ERR_NOMEM;
    p->nwords = words;
    loop->nfiles = (int) n;
    return 0;
}

/* poll_wait: select() over copies of the master sets up to maxfd; returns
 * its result. */
static int poll_wait(struct poller *p, int maxfd, struct timeval *tv)
{
    size_t words = (size_t) (maxfd + WORD_BITS) / (size_t) WORD_BITS;
    memcpy(p->rready, p->rbits, words * sizeof *p->rbits);
    memcpy(p->wready, p->wbits, words * sizeof *p->wbits);
    /* The words are laid out as the kernel reads an fd_set of maxfd+1 bits. */
    return select(maxfd + 1, (fd_set *) (void *) p->rready, (fd_set *) (void *) p->wready, NULL,
                  tv);
}

/* start_limit: the process' descriptor limit now, within EV_FD_LIMIT. */
static int start_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > EV_FD_LIMIT)
        return EV_FD_LIMIT;
    return rl.rlim_cur < FD_SETSIZE ? FD_SETSIZE : (int) rl.rlim_cur;
}

struct ev_loop *ev_new(void)
{
    struct ev_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->maxfd = -1;
    loop->next_timer_id = 1;
    loop->fd_limit = start_limit();
    if (loop_grow(loop, EV_MIN_FDS - 1) != 0) {
        ev_free(loop);
        return NULL;
    }
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
    free(loop->files);
    free(loop->poll.rbits);
    free(loop->poll.wbits);
    free(loop->poll.rready);
    free(loop->poll.wready);
    free(loop);
}

int ev_fd_limit(const struct ev_loop *loop)
{
    return loop->fd_limit;
}

int ev_add(struct ev_loop *loop, int fd, int mask, ev_file_fn *fn, void *data)
{
    if (fd < 0 || fd >= loop->fd_limit)
        return ERR_TOO_LARGE;
    assert(fn != NULL);
    if (loop_grow(loop, fd) != 0)
        return ERR_NOMEM;
    struct ev_file *f = &loop->files[fd];
    poll_add(&loop->poll, fd, mask);
    f->mask |= mask;
    f->fn = fn;
    f->data = data;
    if (fd > loop->maxfd && f->mask != EV_NONE)
        loop->maxfd = fd;
    return 0;
}

/* highest_fd: the highest descriptor in either master set below `from`
 * words, or -1. */
static int highest_fd(const struct poller *p, size_t from)
{
    for (size_t w = from; w-- > 0;) {
        unsigned long bits = p->rbits[w] | p->wbits[w];
        if (bits)
            return (int) w * WORD_BITS + (WORD_BITS - 1 - __builtin_clzl(bits));
    }
    return -1;
}

void ev_del(struct ev_loop *loop, int fd, int mask)
{
    if (fd < 0 || fd >= loop->nfiles || loop->files[fd].mask == EV_NONE)
        return;
    struct ev_file *f = &loop->files[fd];
    poll_del(&loop->poll, fd, mask);
    f->mask &= ~mask;
    if (f->mask == EV_NONE && fd == loop->maxfd)
        loop->maxfd = highest_fd(&loop->poll, (size_t) fd / (size_t) WORD_BITS + 1);
}

int ev_mask(const struct ev_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfiles)
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

/* dispatch: call the callbacks of the descriptors select() left in the
 * ready copies (the first `words` words). A callback may add or delete
 * interest, which can grow (move) the tables, so they are indexed afresh
 * for every descriptor. */
static int dispatch(struct ev_loop *loop, size_t words)
{
    const struct poller *p = &loop->poll;
    int handled = 0;
    for (size_t w = 0; w < words; w++) {
        unsigned long bits = p->rready[w] | p->wready[w];
        while (bits) {
            int b = __builtin_ctzl(bits);
            unsigned long bit = 1UL << b;
            bits &= bits - 1;
            int fd = (int) w * WORD_BITS + b;
            int fired =
                ((p->rready[w] & bit) ? EV_READ : 0) | ((p->wready[w] & bit) ? EV_WRITE : 0);
            /* Interest may have been dropped by an earlier callback this round. */
            struct ev_file *f = &loop->files[fd];
            fired &= f->mask;
            if (fired) {
                f->fn(loop, fd, f->data, fired);
                handled++;
            }
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
    int maxfd = loop->maxfd;
    int n = poll_wait(&loop->poll, maxfd, tvp);
    if (n < 0 && errno != EINTR)
        return ERR_IO;
    if (n > 0)
        handled += dispatch(loop, (size_t) (maxfd + WORD_BITS) / (size_t) WORD_BITS);
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
