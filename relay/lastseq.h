/*
 * lastseq.h - the newest seq this relay has seen stored, per room: what
 * ENTERED reports when MySQL lags or is away, and the writer's hint for
 * its in-memory fallback. Bounded: past LASTSEQ_MAX rooms it starts over
 * (a miss only costs a lookup). Loop thread only.
 */
#ifndef RELAY_LASTSEQ_H
#define RELAY_LASTSEQ_H

#include "i64map.h"

#include <stdint.h>

#define LASTSEQ_MAX 100000 /* rooms remembered */

struct lastseq {
    struct i64map rooms; /* room id -> int64_t * */
};

void lastseq_init(struct lastseq *ls);
void lastseq_deinit(struct lastseq *ls);

/* lastseq_note: room_id has seq stored; keeps the highest seen. Out of
 * memory only forgets. */
void lastseq_note(struct lastseq *ls, int64_t room_id, int64_t seq);

/* lastseq_get: 0 and *seq, or ERR_NOT_FOUND when the room is not known. */
int lastseq_get(const struct lastseq *ls, int64_t room_id, int64_t *seq);

#endif
