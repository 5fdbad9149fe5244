/*
 * redis_outbox.h - frames that are no stored message (READ, TYPING, ROOM,
 * PRESENCE) on their way from the loop thread to the writer thread's Redis
 * connection (the loop's own is a subscriber and cannot publish).
 *
 * One job at a time on the writer's queue: frames queued while it runs
 * wait and go out together in the next job, as one pipeline. Under load
 * that is one Redis round trip and one job for many frames, where one job
 * per frame put a round trip per message in front of the write batches
 * sharing the writer thread (a ROOM notice goes out for every stored
 * message). Best effort: past `max` frames waiting, a new one is dropped.
 *
 * Loop thread only (the publish function runs on the queue's thread).
 */
#ifndef RELAY_REDIS_OUTBOX_H
#define RELAY_REDIS_OUTBOX_H

#include "redis_pub.h"
#include "workq.h"

#include <stddef.h>
#include <stdint.h>

/* Publishes ev[0..n-1] (borrowed for the call); runs on the queue's thread. */
typedef void redis_outbox_publish_fn(void *arg, const struct redis_event *ev, size_t n);

struct redis_outbox;

/* redis_outbox_new: frames go to publish(arg, ...) in jobs on q (borrowed;
 * free the outbox after the queue). At most max frames wait. NULL when
 * out of memory. */
struct redis_outbox *redis_outbox_new(struct workq *q, size_t max, redis_outbox_publish_fn *publish,
                                      void *arg);

/* redis_outbox_free: after workq_free of its queue (which completes its
 * job); frames still waiting are dropped. NULL is a no-op. */
void redis_outbox_free(struct redis_outbox *ob);

/* redis_outbox_push: queue a copy of frame (see struct redis_event for
 * room_id and user_id). 0; ERR_TOO_LARGE when max frames already wait
 * (dropped); ERR_NOMEM. */
int redis_outbox_push(struct redis_outbox *ob, int64_t room_id, int64_t user_id, const char *frame,
                      size_t len);

/* redis_outbox_waiting: frames queued and not yet published (in the job
 * running or waiting for it). */
size_t redis_outbox_waiting(const struct redis_outbox *ob);

#endif
