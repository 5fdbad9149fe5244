/*
 * seqalloc.h - where the writer thread gets the seqs of a write batch, and
 * where it records what was stored.
 *
 * The authority is the room's row in MySQL (room_seq.h): one atomic
 * UPDATE per room per batch reserves a run of seqs, so any number of
 * relays can write the same room without ever handing out a number twice,
 * and nothing on this path depends on how many messages are stored. After
 * the insert, the room's last_seq (what ENTERED reports) is raised.
 *
 * While MySQL cannot be reached, seqs come from in-memory counters
 * (seqgen.h) seeded from what this writer last reserved, else from the
 * loop's hint, else from the store; every room served that way is written
 * back to MySQL (GREATEST, never lower) before the next reservation once
 * MySQL answers again. Two relays in that mode may pick the same number:
 * the unique index {chatRoomId, seq} refuses the second, the caller calls
 * seqalloc_collided, and the room is raised to the stored maximum before
 * its next reservation.
 *
 * Writer thread only, except seqalloc_mysql_up, which any thread may read.
 */
#ifndef RELAY_SEQALLOC_H
#define RELAY_SEQALLOC_H

#include "chat_message.h"
#include "seqgen.h"
#include "sqldb.h"

#include <stddef.h>
#include <stdint.h>

/* One room's share of a batch. */
struct seq_claim {
    int64_t room_id;
    int64_t count; /* seqs wanted (>= 1) */
    int64_t hint;  /* the room's newest seq as the loop last saw it, or -1 */
    int64_t first; /* out: the run is first .. first + count - 1 */
    int status;    /* out: 0, ERR_UNAVAILABLE (no seq could be had), ERR_NOT_FOUND
                    * (no such room), ERR_INTERNAL */
};

struct seqalloc;

/* seqalloc_new: reserve through db (owned: freed by seqalloc_free; NULL
 * means MySQL is never asked); load/arg read a room's highest stored seq
 * from the message store (borrowed). NULL when out of memory. */
struct seqalloc *seqalloc_new(struct sqldb *db, seqgen_load_fn *load, void *arg);
void seqalloc_free(struct seqalloc *sa);

/* seqalloc_claim: fill first/status of claims[0..n-1], which name distinct
 * rooms in ascending order (the order rows are locked in). */
void seqalloc_claim(struct seqalloc *sa, struct seq_claim *claims, size_t n);

/* One message of a finished batch, as seqalloc_stored records it. */
struct seq_result {
    const struct chat_message *m; /* room, seq, sender, created_at; m->seq 0: never got one */
    int stored;                   /* 1: m is in the store (newly, or found as a duplicate) */
    int64_t burned;               /* a seq reserved for it that holds no message, or 0 */
    int uncertain;                /* burned by a write that timed out: it may land after all */
};

/* seq_probe_fn: whether room_id holds a message with seq in the store:
 * 0 with *exists set, or ERR_* when the store cannot say now. */
typedef int seq_probe_fn(void *arg, int64_t room_id, int64_t seq, int *exists);

/* seqalloc_set_probe: how seqalloc_stored settles uncertain seqs: once one
 * is SEQALLOC_SETTLE_MS old and a later write has succeeded, it asks the
 * store and records a gap only when no message holds the seq. Without a
 * probe, uncertain seqs are never recorded as gaps. */
#define SEQALLOC_SETTLE_MS 5000
void seqalloc_set_probe(struct seqalloc *sa, seq_probe_fn *probe, void *arg);

/* seqalloc_stored: record the outcome of a batch (n results, any order) in
 * MySQL, in one transaction, rooms in ascending order: each room's last_seq
 * and last message, each sender's read watermark (writing means having
 * read), and the seqs that hold no message (so unread counts stay exact;
 * an uncertain one only once the store has confirmed it holds nothing).
 * An outcome that cannot reach MySQL (it is away, or the transaction
 * fails) is kept (up to 16,384 messages, its preview copied) and written
 * with the next batch that reaches it; last_seq is also raised by the
 * repair before the next reservation. */
void seqalloc_stored(struct seqalloc *sa, const struct seq_result *res, size_t n);

/* seqalloc_collided: an insert of room_id hit the unique index and was not
 * an idempotent retry: raise the room to the stored maximum before it gets
 * another seq. */
void seqalloc_collided(struct seqalloc *sa, int64_t room_id);

/* 1 while the last MySQL call of the writer succeeded. Any thread. */
int seqalloc_mysql_up(const struct seqalloc *sa);

#endif
