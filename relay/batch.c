/*
 * batch.c - the writer thread's work on one batch (see batch.h). Nothing
 * here touches loop state: the batch is the writer's from submit to done.
 */
#include "batch.h"

#include "errors.h"
#include "msgstore.h"
#include "redis_pub.h"
#include "seqalloc.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

size_t outmsg_size(const struct outmsg *om)
{
    return sizeof *om + str_size(om->m.message) + str_size(om->m.image_url) +
           str_size(om->m.image_name) + str_size(om->m.client_msg_id) +
           (om->m.media ? sizeof *om->m.media : 0);
}

void outmsg_free(struct outmsg *om)
{
    if (!om)
        return;
    chat_message_clear(&om->m);
    free(om);
}

_Static_assert(offsetof(struct seq_claim, room_id) == 0, "lower_bound_room reads ids at offset 0");

/* lower_bound_room: the index of the first of n elements (each `size`
 * bytes, sorted by an int64_t room id at offset 0) whose id is >= room. */
static size_t lower_bound_room(const void *base, size_t n, size_t size, int64_t room)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t id;
        memcpy(&id, (const char *) base + mid * size, sizeof id);
        if (id < room)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* claims_build: one claim per room of batch[idx[0..n-1]], ascending by
 * room (the lock order seqalloc wants); *nclaims set. */
static void claims_build(struct outmsg **batch, const size_t *idx, size_t n,
                         struct seq_claim *claims, size_t *nclaims)
{
    size_t k = 0;
    for (size_t t = 0; t < n; t++) {
        const struct outmsg *om = batch[idx[t]];
        size_t lo = lower_bound_room(claims, k, sizeof *claims, om->m.room_id);
        if (lo < k && claims[lo].room_id == om->m.room_id) {
            claims[lo].count++;
            continue;
        }
        memmove(&claims[lo + 1], &claims[lo], (k - lo) * sizeof *claims);
        claims[lo] = (struct seq_claim){.room_id = om->m.room_id, .count = 1, .hint = om->seq_hint};
        k++;
    }
    *nclaims = k;
}

static struct seq_claim *claim_of(struct seq_claim *claims, size_t n, int64_t room_id)
{
    size_t lo = lower_bound_room(claims, n, sizeof *claims, room_id);
    return lo < n && claims[lo].room_id == room_id ? &claims[lo] : NULL;
}

/* assign_seqs: give batch[idx[0..n-1]] their seqs in batch order (so a
 * room's messages keep the order they arrived in); a message that gets
 * none has m.seq = 0 and its status set. */
static void assign_seqs(struct seqalloc *seqa, struct outmsg **batch, const size_t *idx, size_t n,
                        struct seq_claim *claims, int round)
{
    size_t nclaims = 0;
    claims_build(batch, idx, n, claims, &nclaims);
    if (round > 0)
        for (size_t i = 0; i < nclaims; i++)
            claims[i].hint = -1; /* the hint may be what collided */
    seqalloc_claim(seqa, claims, nclaims);
    for (size_t t = 0; t < n; t++) {
        struct outmsg *om = batch[idx[t]];
        struct seq_claim *c = claim_of(claims, nclaims, om->m.room_id);
        om->m.seq = 0;
        om->status = OUTMSG_PENDING;
        if (c->status == 0) {
            om->m.seq = c->first++;
        } else {
            om->status = c->status == ERR_NOT_FOUND ? ERR_INTERNAL : c->status;
        }
    }
}

/* record_stored: record what the batch left in the store (rooms' last
 * seq and message, senders' watermarks, seqs that hold no message), and
 * publish the messages stored. */
static void record_stored(struct seqalloc *seqa, struct redis_pub *pub, struct outmsg **batch,
                          size_t n, struct seq_result *results, const struct chat_message **done)
{
    size_t ndone = 0;
    for (size_t i = 0; i < n; i++) {
        const struct outmsg *om = batch[i];
        int stored = om->status == OUTMSG_STORED || om->status == OUTMSG_DUPLICATE;
        int64_t burned = om->burned_seq;
        if (!stored && om->status != ERR_CONFLICT && om->m.seq > 0)
            burned = om->m.seq; /* reserved, never written */
        /* A write that timed out may still land: its seq is only a gap
         * once the store says so. */
        int uncertain = !stored && om->status == ERR_UNAVAILABLE;
        results[i] = (struct seq_result){om->m.seq > 0 ? &om->m : NULL, stored, burned, uncertain};
        if (stored)
            done[ndone++] = &om->m;
    }
    seqalloc_stored(seqa, results, n);
    /* Stored: now other relays may see it (stored before seen). */
    redis_pub_send(pub, done, ndone);
}

/* settle: the insert statuses of msgs[0..k-1] (batch[idx[t]]):
 * stored, failed, or a collision: the original of an idempotent retry, or
 * a seq another writer took, to retry. Returns how many to retry (moved to
 * the front of idx). */
static size_t settle(struct msgstore *store, struct seqalloc *seqa, struct outmsg **batch,
                     size_t *idx, size_t k, const struct chat_message *msgs, const int *status)
{
    size_t retry = 0;
    for (size_t t = 0; t < k; t++) {
        struct outmsg *om = batch[idx[t]];
        memcpy(om->m.id, msgs[t].id, sizeof om->m.id);
        if (status[t] == 0) {
            om->status = OUTMSG_STORED;
            continue;
        }
        if (status[t] != ERR_CONFLICT) {
            om->status = status[t];
            continue;
        }
        struct chat_message orig;
        int frc = msgstore_find_client_msg(store, om->m.room_id, om->m.sender_id,
                                           om->m.client_msg_id, &orig);
        if (frc == 0) {
            om->burned_seq = om->m.seq; /* the original holds another seq */
            chat_message_clear(&om->m);
            om->m = orig;
            om->status = OUTMSG_DUPLICATE;
        } else if (frc == ERR_NOT_FOUND) {
            seqalloc_collided(seqa, om->m.room_id);
            idx[retry++] = idx[t];
            om->status = ERR_CONFLICT;
        } else {
            om->status = frc;
        }
    }
    return retry;
}

int batch_write(struct msgstore *store, struct seqalloc *seqa, struct redis_pub *pub,
                struct outmsg **batch, size_t n)
{
    struct chat_message *msgs = calloc(n, sizeof *msgs);
    int *status = calloc(n, sizeof *status);
    size_t *idx = calloc(n, sizeof *idx), ntodo = n;
    struct seq_claim *claims = calloc(n, sizeof *claims);
    struct seq_result *results = calloc(n, sizeof *results);
    const struct chat_message **done = calloc(n, sizeof(const struct chat_message *));
    int ret = 0;

    if (!msgs || !status || !idx || !claims || !results || !done) {
        for (size_t i = 0; i < n; i++)
            batch[i]->status = ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;

    /* A collision on {chatRoomId, seq} means another writer got there
     * first: the room is repaired and the message tries again, a few times. */
    for (int round = 0; round < 3 && ntodo > 0; round++) {
        int64_t now = timefmt_now_ms();
        size_t k = 0;
        assign_seqs(seqa, batch, idx, ntodo, claims, round);
        for (size_t t = 0; t < ntodo; t++) {
            struct outmsg *om = batch[idx[t]];
            if (om->m.seq <= 0)
                continue; /* no seq: status says why */
            om->m.created_at_ms = now;
            msgs[k] = om->m; /* shallow: strings stay owned by om */
            idx[k++] = idx[t];
        }
        if (k == 0)
            break;
        int rc = msgstore_insert_many(store, msgs, k, status);
        if (rc) {
            for (size_t t = 0; t < k; t++)
                batch[idx[t]]->status = rc;
            if (rc == ERR_UNAVAILABLE)
                ret = ERR_UNAVAILABLE;
            break;
        }
        ntodo = settle(store, seqa, batch, idx, k, msgs, status);
    }
    record_stored(seqa, pub, batch, n, results, done);
out:
    for (size_t i = 0; i < n; i++)
        if (batch[i]->status == OUTMSG_PENDING)
            batch[i]->status = ERR_INTERNAL; /* never success by default */
    free(msgs);
    free(status);
    free(idx);
    free(claims);
    free(results);
    free(done);
    return ret;
}
