/* replay.c - replay/live merge for one subscription (see replay.h). */
#include "replay.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void replay_init(struct replay *rp, size_t max_held)
{
    assert(max_held > 0);
    memset(rp, 0, sizeof *rp);
    rp->last = -1;
    rp->max_held = max_held;
}

static void drop_held(struct replay *rp)
{
    for (size_t i = 0; i < rp->nheld; i++)
        free(rp->held[i].frame);
    rp->nheld = 0;
}

void replay_deinit(struct replay *rp)
{
    drop_held(rp);
    free(rp->held);
    rp->held = NULL;
    rp->cap = 0;
}

void replay_begin(struct replay *rp, int64_t since)
{
    drop_held(rp);
    rp->active = 1;
    rp->overflowed = 0;
    rp->gap_fetch = REPLAY_GAP_NONE;
    rp->gap_hit = 0;
    rp->last = since;
}

void replay_set_cursor(struct replay *rp, int64_t seq)
{
    if (rp->last < seq)
        rp->last = seq;
}

/* overflow: forget what is held; the next page end fetches again. */
static enum replay_verdict overflow(struct replay *rp)
{
    drop_held(rp);
    rp->overflowed = 1;
    return REPLAY_DROP;
}

static enum replay_verdict hold(struct replay *rp, int64_t seq, const char *frame, size_t len);

enum replay_verdict replay_live(struct replay *rp, int64_t seq, const char *frame, size_t len)
{
    if (!rp->active) {
        if (seq <= rp->last)
            return REPLAY_DROP;
        if (rp->contiguous && rp->last >= 0 && seq != rp->last + 1)
            return hold(rp, seq, frame, len);
        rp->last = seq;
        return REPLAY_SEND;
    }
    if (rp->last >= 0 && seq <= rp->last)
        return REPLAY_DROP;
    return hold(rp, seq, frame, len);
}

static enum replay_verdict hold(struct replay *rp, int64_t seq, const char *frame, size_t len)
{
    for (size_t i = 0; i < rp->nheld; i++)
        if (rp->held[i].seq == seq)
            return REPLAY_DROP; /* the same message twice (local and via Redis) */
    assert(rp->max_held > 0);
    if (rp->nheld == rp->max_held)
        return overflow(rp);
    if (rp->nheld == rp->cap) {
        size_t cap = rp->cap ? rp->cap * 2 : 8;
        if (cap > rp->max_held)
            cap = rp->max_held;
        struct replay_item *h = realloc(rp->held, cap * sizeof *h);
        if (!h)
            return overflow(rp);
        rp->held = h;
        rp->cap = cap;
    }
    char *copy = NULL;
    if (frame) {
        if (!(copy = malloc(len + 1)))
            return overflow(rp);
        memcpy(copy, frame, len);
        copy[len] = '\0';
    }
    struct replay_item *it = &rp->held[rp->nheld++];
    it->seq = seq;
    it->frame = copy;
    it->len = len;
    return REPLAY_HELD;
}

int replay_take(struct replay *rp, int64_t seq)
{
    if (seq <= rp->last)
        return 0;
    if (rp->gap_fetch == REPLAY_GAP_WAIT && (rp->gap_hit || seq != rp->last + 1)) {
        rp->gap_hit = 1; /* the rest comes with a later fetch */
        return 0;
    }
    rp->last = seq;
    for (size_t i = 0; i < rp->nheld; i++)
        if (rp->held[i].seq == seq && !rp->held[i].frame)
            return 0; /* this connection's own message (replay_own) */
    return 1;
}

enum replay_next replay_page_end(struct replay *rp, int more)
{
    if (rp->gap_hit) {
        /* Stopped at a missing seq: fetching on would return the same
         * page. Stay pending so the caller's timer tries again. */
        rp->gap_hit = 0;
        rp->overflowed = 1;
        return REPLAY_CAUGHT_UP;
    }
    if (more || rp->overflowed) {
        rp->overflowed = 0;
        return REPLAY_FETCH_MORE;
    }
    return REPLAY_CAUGHT_UP;
}

static int by_seq(const void *a, const void *b)
{
    int64_t x = ((const struct replay_item *) a)->seq, y = ((const struct replay_item *) b)->seq;
    return (x > y) - (x < y);
}

/* send_run: sort what is held, send it above last (only the contiguous
 * run when `contiguous`), keep the rest. */
static void send_run(struct replay *rp, int contiguous,
                     void (*send)(void *arg, const char *frame, size_t len), void *arg)
{
    if (rp->nheld > 1)
        qsort(rp->held, rp->nheld, sizeof *rp->held, by_seq);
    size_t keep = 0;
    for (size_t i = 0; i < rp->nheld; i++) {
        struct replay_item *it = &rp->held[i];
        if (it->seq <= rp->last) {
            free(it->frame);
        } else if (!contiguous || it->seq == rp->last + 1) {
            rp->last = it->seq;
            if (it->frame)
                send(arg, it->frame, it->len);
            free(it->frame);
        } else {
            rp->held[keep++] = *it; /* past a gap: stays held */
        }
    }
    rp->nheld = keep;
}

void replay_own(struct replay *rp, int64_t seq)
{
    if (rp->contiguous && replay_live(rp, seq, NULL, 0) == REPLAY_SEND)
        return; /* in order: last advanced, nothing to send */
}

void replay_set_contiguous(struct replay *rp, int on)
{
    rp->contiguous = on;
}

void replay_drain(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                  void *arg)
{
    if (rp->contiguous && !rp->active && rp->nheld > 0)
        send_run(rp, 1, send, arg);
}

int replay_gap_pending(const struct replay *rp)
{
    return rp->contiguous && !rp->active && (rp->nheld > 0 || rp->overflowed);
}

void replay_gap_fetch(struct replay *rp, enum replay_gap_mode mode)
{
    rp->active = 1;
    rp->gap_fetch = mode;
    rp->gap_hit = 0;
    rp->overflowed = 0;
}

void replay_gap_abort(struct replay *rp)
{
    rp->active = 0;
    rp->gap_fetch = REPLAY_GAP_NONE;
    rp->gap_hit = 0;
    rp->overflowed = 1; /* pending even when nothing is held (a resync) */
}

void replay_finish(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                   void *arg)
{
    if (rp->contiguous && rp->gap_fetch != REPLAY_GAP_SKIP) {
        int stopped = rp->overflowed; /* a WAIT fetch stopped at a gap */
        rp->gap_fetch = REPLAY_GAP_NONE;
        send_run(rp, 1, send, arg);
        rp->active = 0;
        rp->overflowed = stopped;
        return;
    }
    rp->gap_fetch = REPLAY_GAP_NONE;
    /* Held in arrival order, which is seq order for one writer; sort anyway
     * so several writers (scale-out) cannot reorder a room. */
    if (rp->nheld > 1)
        qsort(rp->held, rp->nheld, sizeof *rp->held, by_seq);
    for (size_t i = 0; i < rp->nheld; i++) {
        if (rp->held[i].seq > rp->last) {
            rp->last = rp->held[i].seq;
            if (rp->held[i].frame)
                send(arg, rp->held[i].frame, rp->held[i].len);
        }
    }
    drop_held(rp);
    rp->active = 0;
    rp->overflowed = 0;
}
