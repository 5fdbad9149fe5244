/*
 * storeplan.h - the shape of a seeded message store for the "bigstore"
 * scenario, and the order its messages are written in.
 *
 * A store is one big room of `big_room_msgs` messages plus `rooms` other
 * rooms sharing the rest of `messages` as evenly as possible. Room index 0
 * is the big room, 1..rooms the others; each room's seqs run 1..its count,
 * with no gaps, as the relay would have numbered them. Pure arithmetic: no
 * I/O, so the unit tests check it without a stack.
 */
#ifndef BENCH_STOREPLAN_H
#define BENCH_STOREPLAN_H

#include <stddef.h>
#include <stdint.h>

struct storeplan {
    int64_t messages;      /* in the whole store */
    int rooms;             /* rooms besides the big one */
    int64_t big_room_msgs; /* in room 0 */
};

/* storeplan_check: 0 when the plan can be seeded (at least one other room,
 * the big room non-empty, and every other room holds at least one
 * message), ERR_INVALID otherwise. */
int storeplan_check(const struct storeplan *p);

/* storeplan_room_count: rooms in the store, the big one included. */
int storeplan_room_count(const struct storeplan *p);

/* storeplan_room_msgs: messages of room index i (0: the big room), 0 when
 * i is out of range. The first (messages - big) % rooms other rooms hold
 * one more than the rest. */
int64_t storeplan_room_msgs(const struct storeplan *p, int i);

/* Where a seeding pass has got to: the next message to write. */
struct storeplan_cursor {
    int room;     /* room index */
    int64_t seq;  /* seq of the next message in that room, from 1 */
    int64_t done; /* messages handed out so far */
};

/* storeplan_start: a cursor at the first message (room 0, seq 1). */
void storeplan_start(struct storeplan_cursor *c);

/* storeplan_next: the next message's room index and seq into *room and
 * *seq, and advance. Returns 1 while there is one, 0 once every message
 * of the plan has been handed out (then *room and *seq are untouched). */
int storeplan_next(const struct storeplan *p, struct storeplan_cursor *c, int *room, int64_t *seq);

/* storeplan_middle_before: the `before` of a history page in the middle of
 * the big room: the page then holds the seqs just below the middle. */
int64_t storeplan_middle_before(const struct storeplan *p);

#endif
