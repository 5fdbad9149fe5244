/*
 * room_seq.h - a room's sequence state in MySQL (chat_rooms.seq_issued and
 * chat_rooms.last_seq).
 *
 * seq_issued is the counter every writer reserves from: one UPDATE on the
 * room's primary key, atomic across any number of relays, O(1) whatever
 * the number of stored messages. last_seq is the highest seq known to be
 * stored, raised after each insert; ENTERED reports it. Both only grow.
 *
 * The relay's writer thread calls claim and raise once per room per write
 * batch (inside one transaction it opens with sqldb_begin); ENTER calls
 * room_seq_last. Same threading rules as sqldb.h.
 */
#ifndef CHAT_ROOM_SEQ_H
#define CHAT_ROOM_SEQ_H

#include "sqldb.h"

#include <stdint.h>

/* room_seq_claim: reserve count (>= 1) seqs of room_id; *last receives the
 * highest one reserved, so this caller owns last-count+1 .. last. Returns
 * 0, ERR_NOT_FOUND (no such room), ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_seq_claim(struct sqldb *db, int64_t room_id, int64_t count, int64_t *last);

/* room_seq_claim_many: room_seq_claim for n rooms at once (ids distinct
 * and ascending, the lock order; counts >= 1), in two statements per 32
 * rooms. The caller holds a transaction (sqldb_begin). last[i] receives
 * the highest seq reserved for room_ids[i], or -1 when there is no such
 * room. Returns 0, ERR_INVALID, ERR_UNAVAILABLE, ERR_INTERNAL (nothing of
 * the transaction is then to be kept). */
int room_seq_claim_many(struct sqldb *db, const int64_t *room_ids, const int64_t *counts, size_t n,
                        int64_t *last);

/* room_seq_raise: seq_issued = max(seq_issued, issued) and last_seq =
 * max(last_seq, stored); a value < 0 leaves its column alone. Never lowers
 * anything, so it is safe to repeat and to race. Returns 0 (also when the
 * room does not exist), ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_seq_raise(struct sqldb *db, int64_t room_id, int64_t issued, int64_t stored);

/* room_seq_last: the room's highest stored seq (0 when empty) into *last.
 * Returns 0, ERR_NOT_FOUND (no such room), ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_seq_last(struct sqldb *db, int64_t room_id, int64_t *last);

#endif
