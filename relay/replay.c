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

enum replay_verdict replay_live(struct replay *rp, int64_t seq, const char *frame, size_t len)
{
    if (!rp->active) {
        if (seq <= rp->last)
            return REPLAY_DROP;
        rp->last = seq;
        return REPLAY_SEND;
    }
    if (rp->last >= 0 && seq <= rp->last)
        return REPLAY_DROP;
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
    char *copy = malloc(len + 1);
    if (!copy)
        return overflow(rp);
    memcpy(copy, frame, len);
    copy[len] = '\0';
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
    rp->last = seq;
    return 1;
}

enum replay_next replay_page_end(struct replay *rp, int more)
{
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

void replay_finish(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                   void *arg)
{
    /* Held in arrival order, which is seq order for one writer; sort anyway
     * so several writers (scale-out) cannot reorder a room. */
    if (rp->nheld > 1)
        qsort(rp->held, rp->nheld, sizeof *rp->held, by_seq);
    for (size_t i = 0; i < rp->nheld; i++) {
        if (rp->held[i].seq > rp->last) {
            rp->last = rp->held[i].seq;
            send(arg, rp->held[i].frame, rp->held[i].len);
        }
    }
    drop_held(rp);
    rp->active = 0;
    rp->overflowed = 0;
}
