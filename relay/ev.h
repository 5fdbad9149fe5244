/*
 * ev.h - a small event loop over select(2): fd interest, timers and a
 * before-sleep hook, in the manner of Redis' ae.
 *
 * One loop per process, driven by one thread; nothing here is thread-safe.
 * Other threads wake the loop by writing to a pipe the loop watches.
 * Descriptors are not bounded by FD_SETSIZE: the loop's sets grow with the
 * highest watched descriptor, up to the process' RLIMIT_NOFILE when the
 * loop was made (ev_fd_limit), which the caller raises first.
 *
 * Callbacks may add and delete interest (their own or other fds'), add and
 * delete timers, and call ev_stop; a deleted fd's callbacks are not called
 * for the rest of the iteration.
 */
#ifndef RELAY_EV_H
#define RELAY_EV_H

#include <stdint.h>

#define EV_NONE  0
#define EV_READ  1
#define EV_WRITE 2

/* A timer callback returns how many ms until it should run again, or
 * EV_TIMER_DONE to be deleted. */
#define EV_TIMER_DONE (-1)

struct ev_loop;

typedef void ev_file_fn(struct ev_loop *loop, int fd, void *data, int mask);
typedef int64_t ev_timer_fn(struct ev_loop *loop, int64_t id, void *data);
typedef void ev_hook_fn(struct ev_loop *loop, void *data);

/* ev_new: an empty loop; NULL when out of memory. Its descriptor limit is
 * the RLIMIT_NOFILE soft limit at this moment (at least FD_SETSIZE). */
struct ev_loop *ev_new(void);

/* ev_fd_limit: descriptors at or above this cannot be watched. */
int ev_fd_limit(const struct ev_loop *loop);

/* ev_free: free the loop and its timers (not the fds); NULL is a no-op. */
void ev_free(struct ev_loop *loop);

/* ev_add: watch fd for `mask` (EV_READ and/or EV_WRITE, added to what is
 * already watched) and call fn(loop, fd, data, fired_mask) when ready. One
 * fn/data pair per fd: the last call wins. Returns 0, ERR_TOO_LARGE when
 * fd is negative or >= ev_fd_limit, ERR_NOMEM when the sets cannot grow. */
int ev_add(struct ev_loop *loop, int fd, int mask, ev_file_fn *fn, void *data);

/* ev_del: stop watching fd for `mask`; unknown fds are ignored. */
void ev_del(struct ev_loop *loop, int fd, int mask);

/* ev_mask: what fd is watched for (EV_NONE when nothing). */
int ev_mask(const struct ev_loop *loop, int fd);

/* ev_timer_add: call fn after `ms` milliseconds (monotonic clock). Returns
 * the timer id (> 0), or ERR_NOMEM. */
int64_t ev_timer_add(struct ev_loop *loop, int64_t ms, ev_timer_fn *fn, void *data);

/* ev_timer_del: cancel a timer; returns 0, or ERR_NOT_FOUND. */
int ev_timer_del(struct ev_loop *loop, int64_t id);

/* ev_set_before_sleep: fn runs at the start of every iteration, before the
 * loop waits in select() (flush output, hand work to threads, reap closed
 * clients). NULL removes it. */
void ev_set_before_sleep(struct ev_loop *loop, ev_hook_fn *fn, void *data);

/* ev_run_once: one iteration: before-sleep hook, select() (waiting at most
 * until the next timer, or max_wait_ms when >= 0 and sooner), fd callbacks,
 * due timers. Returns the number of events handled, or ERR_IO when
 * select() failed other than by EINTR. */
int ev_run_once(struct ev_loop *loop, int64_t max_wait_ms);

/* ev_run: iterate until ev_stop. Returns 0, or ERR_IO. */
int ev_run(struct ev_loop *loop);

/* ev_stop: make ev_run return after the current iteration. */
void ev_stop(struct ev_loop *loop);

#endif
