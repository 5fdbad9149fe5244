/*
 * benchstore.h - the databases behind the "bigstore" scenario: seeding a
 * store straight into MongoDB, the marker that says what a kept store
 * holds, the MySQL side of the seq state, and removing what a run added.
 *
 * Seeding goes around the relay on purpose: on a store that scans, 200,000
 * messages through the relay would take hours. It stays consistent with
 * both relay designs: the messages are the documents the relay writes
 * (msgstore_insert_many), with seqs 1..n per room and no gaps, and when
 * chat_rooms has the per-room seq columns (seq_issued, last_seq) they are
 * raised to each room's highest seq, never lowered.
 *
 * Settings come from the shared config (CHAT_CONFIG with CHAT_<KEY>
 * overrides): bench/run.sh points mongo_database and mysql_database at a
 * database of the bench's own, never the dev database.
 */
#ifndef BENCH_BENCHSTORE_H
#define BENCH_BENCHSTORE_H

#include "chat_message.h"
#include "storeplan.h"

#include <stddef.h>
#include <stdint.h>

struct benchstore;

/* What a seeded store holds, recorded after seeding has finished. */
struct benchstore_marker {
    struct storeplan plan;
    char prefix[32];    /* usernames of the seeded rooms' members: <prefix>_<n> */
    int64_t big_room;   /* room id of the big room */
    int64_t first_room; /* lowest and highest room id seeded: rooms outside */
    int64_t last_room;  /* them belong to runs, not to the store */
    double seed_seconds;
    int seq_columns; /* chat_rooms had the seq columns when the store was seeded */
};

/* benchstore_open: connections to the configured MongoDB and MySQL (not
 * contacted yet). NULL with a reason in err when the config does not load
 * or out of memory. */
struct benchstore *benchstore_open(char *err, size_t errlen);

/* benchstore_close: NULL is a no-op. */
void benchstore_close(struct benchstore *bs);

/* benchstore_database: the MongoDB database name in use (borrowed). */
const char *benchstore_database(const struct benchstore *bs);

/* benchstore_marker_get: the marker into *m. Returns 0, ERR_NOT_FOUND (no
 * marker, or one this code does not read), ERR_UNAVAILABLE. */
int benchstore_marker_get(struct benchstore *bs, struct benchstore_marker *m);

/* benchstore_marker_put: record *m (replacing any marker). Returns 0 or
 * an error code. */
int benchstore_marker_put(struct benchstore *bs, const struct benchstore_marker *m);

/* benchstore_count: documents in chat_messages into *n. */
int benchstore_count(struct benchstore *bs, int64_t *n);

/* benchstore_delete_outside: remove the messages of every room whose id
 * is not in [first, last] (what runs stored besides the seeded rooms);
 * *deleted (may be NULL) gets how many. */
int benchstore_delete_outside(struct benchstore *bs, int64_t first, int64_t last, int64_t *deleted);

/* benchstore_wipe: remove every message and the marker (the indexes stay). */
int benchstore_wipe(struct benchstore *bs);

/* benchstore_insert: store n messages in one insertMany (msgs borrowed;
 * ids are filled in). Returns 0 when all were stored, ERR_CONFLICT when
 * one already existed, or the store's error. */
int benchstore_insert(struct benchstore *bs, struct chat_message *msgs, size_t n);

/* benchstore_seq_columns: *present becomes 1 when chat_rooms has the
 * seq_issued and last_seq columns, 0 when it has neither. Returns 0,
 * ERR_INVALID when it has only one of them, or a database error. */
int benchstore_seq_columns(struct benchstore *bs, int *present);

/* benchstore_seq_raise: chat_rooms.seq_issued and last_seq of room_id
 * become at least seq (GREATEST: never lowered). Only call when
 * benchstore_seq_columns found them. Returns 0 or a database error. */
int benchstore_seq_raise(struct benchstore *bs, int64_t room_id, int64_t seq);

#endif
