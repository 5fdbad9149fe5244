/*
 * room_state.h - what a room's members have seen, in MySQL: the room's
 * newest message (for the room list), each member's read watermark, and
 * the seqs that were reserved but never stored (so unread counts are
 * exact). All of it is derived from the per-room seq; nothing is stored
 * or rewritten per message.
 *
 * The relay's writer calls room_state_record_many once per write batch
 * (and the gap functions once per empty seq, then in one transaction); the relay's READ and the API
 * call room_state_mark_read. Same threading rules as sqldb.h.
 */
#ifndef CHAT_ROOM_STATE_H
#define CHAT_ROOM_STATE_H

#include "chat_message.h"
#include "sqldb.h"

#include <stddef.h>
#include <stdint.h>

#define ROOM_PREVIEW_CHARS 80 /* characters of a TEXT kept for the room list */
#define ROOM_PREVIEW_BUF   (ROOM_PREVIEW_CHARS * 4 + 1)

/* room_state_preview: the room list's preview of m into buf (cap >=
 * ROOM_PREVIEW_BUF): the first ROOM_PREVIEW_CHARS characters of a TEXT
 * (cut between characters, never inside one), an IMAGE's or VIDEO's name
 * or "". */
void room_state_preview(const struct chat_message *m, char *buf, size_t cap);

/* One sender's newest stored message in a room of a write batch, with the
 * room's newest stored message of the batch (the same one when that
 * sender wrote last). Writing means having read: the sender's watermark
 * moves up to its own message. */
struct room_record {
    const struct chat_message *newest; /* seq, created_at, sender, type, text */
    int64_t reader_id, read_seq;
};

/* room_state_record_many: for each row, raise the room's last_seq to
 * newest's seq and, unless the room's last message is newer, make it the
 * last message and the room's last activity; and raise reader_id's
 * watermark to read_seq (nothing when reader_id is no member). Never
 * lowers anything; safe to repeat and to race. One statement per 32 rows,
 * each atomic by itself. Returns 0 (rooms that do not exist are skipped),
 * ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_state_record_many(struct sqldb *db, const struct room_record *rows, size_t n);

/* room_state_mark_read: a member says it has read up to seq. The
 * watermark moves forward only: a seq at or below it changes nothing (and
 * is no error); *read gets the watermark after the call, *moved (may be
 * NULL) 1 when this call moved it. Returns 0, ERR_NOT_FOUND (no such
 * room, or user_id is no member), ERR_INVALID (seq < 0 or above any seq
 * the room has handed out), ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_state_mark_read(struct sqldb *db, int64_t room_id, int64_t user_id, int64_t seq,
                         int64_t *read, int *moved);

/* room_state_gap_add: seq of room_id was reserved but will never hold a
 * message. room_state_gap_fill: it does hold one after all (a write
 * reported as failed was applied, found again by a client's retry). Both
 * idempotent. 0, ERR_UNAVAILABLE, ERR_INTERNAL. */
int room_state_gap_add(struct sqldb *db, int64_t room_id, int64_t seq);
int room_state_gap_fill(struct sqldb *db, int64_t room_id, int64_t seq);

#endif
