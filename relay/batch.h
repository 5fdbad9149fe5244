/*
 * batch.h - one write batch as the writer thread handles it: seqs from
 * seqalloc, one insertMany, the retry of a seq that collided, then the
 * stored seqs recorded and the messages published (stored before seen).
 *
 * struct outmsg is the unit both threads share: the loop builds it
 * (session.c), queues it (writer.c), the writer thread fills its seq, id,
 * created_at and status here, and the loop answers and delivers it.
 */
#ifndef RELAY_BATCH_H
#define RELAY_BATCH_H

#include "chat_message.h"

#include <stddef.h>
#include <stdint.h>

struct msgstore;
struct redis_pub;
struct seqalloc;

/* outmsg: one TEXT/IMAGE on its way to MongoDB and back. */
struct outmsg {
    uint64_t conn_id;      /* the sending connection */
    struct chat_message m; /* the writer fills id, seq, created_at */
    int64_t seq_hint;      /* the room's newest seq as the loop knows it, or -1 */
    int status;            /* OUTMSG_* (positive) or the ERR_* (negative) that failed it */
    size_t bytes;          /* for the pending-bytes bound */
    size_t batch_pos;      /* send order within a finished batch */
    int64_t burned_seq;    /* writer: a seq reserved for it that holds no message, or 0 */
    int64_t peer_id;       /* the room's other member (told of it by a ROOM frame), 0: unknown */
    struct outmsg *next;
};

/* No status means success by default: a message is PENDING until the
 * writer says otherwise, and one whose batch never ran is CANCELLED. */
#define OUTMSG_PENDING   0 /* not written (yet) */
#define OUTMSG_STORED    1
#define OUTMSG_DUPLICATE 2 /* m now holds the original message */
#define OUTMSG_CANCELLED 3 /* its batch was cancelled at shutdown: never written */

/* outmsg_size: the bytes om's strings and struct take (for the bound). */
size_t outmsg_size(const struct outmsg *om);

/* outmsg_free: free om and its message. NULL is fine. */
void outmsg_free(struct outmsg *om);

/* batch_write (writer thread): give batch[0..n-1] their seqs (in batch
 * order within a room), insert them in one insertMany, retry a few times
 * those whose seq collided with another writer's, find the original of an
 * idempotent retry, record the stored seqs and publish what was stored.
 * Every message ends with a status other than OUTMSG_PENDING. store, seqa
 * and pub are borrowed (pub may be a no-op publisher). Returns 0, or
 * ERR_UNAVAILABLE when the store could not be reached at all. */
int batch_write(struct msgstore *store, struct seqalloc *seqa, struct redis_pub *pub,
                struct outmsg **batch, size_t n);

#endif
