/*
 * seqgen.h - in-memory per-room seq counters: the writer's fallback while
 * MySQL, which normally hands out seqs (seqalloc.h), cannot be reached.
 *
 * A counter is loaded lazily from what its loader says is the room's
 * newest seq the first time the room is written, then incremented per
 * message with no round trip. The unique index {chatRoomId, seq} stays the
 * backstop: on a collision the caller calls seqgen_forget and the next
 * seqgen_next reloads.
 *
 * Owned by the one writer thread; not thread-safe.
 */
#ifndef RELAY_SEQGEN_H
#define RELAY_SEQGEN_H

#include <stddef.h>
#include <stdint.h>

/* seqgen_load_fn: the highest stored seq of room_id (0 when empty) into
 * *last. Returns 0 or a project error code (passed through). */
typedef int seqgen_load_fn(void *arg, int64_t room_id, int64_t *last);

struct seqgen;

/* seqgen_new: counters loaded through load(arg, ...); at most max_rooms
 * counters are kept (past that all are dropped and reload on demand). NULL
 * when out of memory. */
struct seqgen *seqgen_new(seqgen_load_fn *load, void *arg, size_t max_rooms);

void seqgen_free(struct seqgen *sg);

/* seqgen_next: the next seq of room_id into *seq (strictly above every seq
 * handed out or stored before). known_last >= 0 is the room's newest seq
 * as the caller last saw it (an ENTER lookup, a delivery): it seeds an
 * unknown room instead of a load, which on the embedded store reads the
 * whole room. A stale hint costs one collision and a
 * reload, never a wrong seq. Returns 0, the loader's error, ERR_NOMEM. */
int seqgen_next(struct seqgen *sg, int64_t room_id, int64_t known_last, int64_t *seq);

/* seqgen_forget: drop room_id's counter (after a collision on the unique
 * index): the next seqgen_next reloads it from the store. */
void seqgen_forget(struct seqgen *sg, int64_t room_id);

#endif
