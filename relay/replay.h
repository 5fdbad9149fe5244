/*
 * replay.h - merging a `since` replay with live delivery for one
 * (connection, room) pair, so the client sees every seq after its cursor
 * exactly once, in increasing order.
 *
 * While a replay (or the ENTER lookup) is in flight, live messages are
 * held instead of sent. Each replayed message is sent only when its seq is
 * above the highest seq sent so far (`last`); when the replay has caught
 * up, the held messages above `last` are sent in seq order and delivery
 * goes live, where the same rule drops anything already seen.
 *
 * Held messages are bounded (max_held). Past the bound they are dropped
 * and the replay is simply asked to fetch once more: every live message
 * was stored before it was delivered, so a later query finds it.
 *
 * Pure bookkeeping: no I/O; the caller sends frames and runs queries.
 */
#ifndef RELAY_REPLAY_H
#define RELAY_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct replay_item {
    int64_t seq;
    char *frame;     /* owned copy of the MESSAGE frame */
    size_t len;
};

struct replay {
    int active;               /* a lookup or replay page is outstanding */
    int64_t last;             /* highest seq sent (or the cursor); -1 unknown */
    int overflowed;           /* held messages were dropped since the last fetch began */
    struct replay_item *held; /* in arrival order */
    size_t nheld, cap;
    size_t max_held;
};

enum replay_verdict { REPLAY_SEND, REPLAY_HELD, REPLAY_DROP };
enum replay_next { REPLAY_FETCH_MORE, REPLAY_CAUGHT_UP };

/* replay_init: inactive, nothing seen (last = -1); max_held > 0. */
void replay_init(struct replay *rp, size_t max_held);

/* replay_deinit: free held frames. */
void replay_deinit(struct replay *rp);

/* replay_begin: start (or restart) a replay from `since` (-1 when the
 * cursor is not known yet: set it with replay_set_cursor once the lookup
 * answers). Drops anything held. */
void replay_begin(struct replay *rp, int64_t since);

/* replay_set_cursor: the cursor of a replay begun with since = -1 (the
 * room's last seq when the client asked for live messages only). */
void replay_set_cursor(struct replay *rp, int64_t seq);

/* replay_live: a live message with `seq` and its frame (borrowed; copied
 * when held). REPLAY_SEND: send it now (last advanced); REPLAY_HELD:
 * stored for later; REPLAY_DROP: already seen, or dropped by the bound. */
enum replay_verdict replay_live(struct replay *rp, int64_t seq, const char *frame, size_t len);

/* replay_take: a replayed (stored) message: 1 to send it (last advanced),
 * 0 to skip it as already seen. */
int replay_take(struct replay *rp, int64_t seq);

/* replay_page_end: a replay page ended; `more` says the store has more.
 * REPLAY_FETCH_MORE: query again after rp->last; REPLAY_CAUGHT_UP: call
 * replay_finish. */
enum replay_next replay_page_end(struct replay *rp, int more);

/* replay_finish: hand every held frame above last to send(arg, frame, len)
 * in seq order, free them, and go live. */
void replay_finish(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                   void *arg);

#endif
