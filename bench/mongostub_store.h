/*
 * mongostub_store.h - the commands chat-bench-mongostub answers, and the
 * little it remembers.
 *
 * The stand-in acknowledges every insert at once and keeps only the newest
 * document of each room (so the relay's "last seq of a room" query, a find
 * on chatRoomId alone sorted by seq descending, answers right); every other
 * find answers an empty batch. It is a bench instrument: with it, the
 * relay's latency and CPU can be measured without the store's, nothing
 * more. No test uses it in place of the real store.
 */
#ifndef BENCH_MONGOSTUB_STORE_H
#define BENCH_MONGOSTUB_STORE_H

#include <bson/bson.h>
#include <stdint.h>

struct stubstore;

/* What stubstore_command did with a command, for the stand-in's tally. */
enum stubstore_outcome {
    STUBSTORE_ANSWERED = 0,  /* a reply with ok: 1 */
    STUBSTORE_UNKNOWN = 1,   /* not in the subset: a CommandNotFound reply */
    STUBSTORE_MALFORMED = 2, /* known, but not of the form expected: an error reply */
};

/* stubstore_new / stubstore_free: an empty store; free releases what it
 * kept (NULL is allowed). new returns NULL when out of memory. */
struct stubstore *stubstore_new(void);
void stubstore_free(struct stubstore *st);

/* stubstore_command: the reply to cmd (its first key names the command)
 * written into reply (initialized by the caller, empty). Returns an
 * enum stubstore_outcome; reply is complete in every case. */
int stubstore_command(struct stubstore *st, const bson_t *cmd, bson_t *reply);

/* stubstore_rooms: rooms with a kept newest document. */
size_t stubstore_rooms(const struct stubstore *st);

#endif
