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
    char *frame; /* owned copy of the MESSAGE frame; NULL: seen, not to send (replay_own) */
    size_t len;
};

struct replay {
    int active;               /* a lookup or replay page is outstanding */
    int64_t last;             /* highest seq sent (or the cursor); -1 unknown */
    int overflowed;           /* held messages were dropped since the last fetch began */
    struct replay_item *held; /* in arrival order */
    size_t nheld, cap;
    size_t max_held;
    int contiguous; /* several writers: deliver only last+1, hold past a gap */
    int gap_fetch;  /* the running fetch closes a gap: REPLAY_GAP_WAIT or _SKIP */
    int gap_hit;    /* a REPLAY_GAP_WAIT page stopped at a missing seq */
};

enum replay_verdict { REPLAY_SEND, REPLAY_HELD, REPLAY_DROP };
/* Gap fetches: WAIT takes only what follows last without a gap (a missing
 * seq may still be in flight on another relay); SKIP also jumps over
 * seqs the store does not have (the gap outlived any write). */
enum replay_gap_mode { REPLAY_GAP_NONE, REPLAY_GAP_WAIT, REPLAY_GAP_SKIP };
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
 * in seq order, free them, and go live. In contiguous mode, unless the
 * fetch was a gap fetch, only the run last+1, last+2, ... is sent and the
 * rest stays held (replay_gap_pending then says so). */
void replay_finish(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                   void *arg);

/*
 * Contiguous mode (Redis scale-out). With several relays writing a room,
 * seq n+1 may reach a relay before seq n (stored by another relay a moment
 * earlier, published a moment later). A live message above last+1 is then
 * held instead of sent; when the missing seq arrives, replay_drain sends
 * the run that became contiguous. A gap that stays open past the caller's
 * short timer is looked up in the store: replay_gap_fetch marks the
 * fetch and the replay pages run as usual. A REPLAY_GAP_WAIT fetch delivers
 * only what became contiguous (the missing seq may be reserved by a write
 * still in flight elsewhere); once the gap is older than any write can
 * take, a REPLAY_GAP_SKIP fetch sends everything above last, skipping
 * seqs the store does not have (a failed write may skip a seq).
 */

/* replay_gap_abort: the gap fetch failed: back to live delivery with the
 * held frames kept and replay_gap_pending true, so the caller can retry. */
void replay_gap_abort(struct replay *rp);

/* replay_own: the connection itself sent `seq` (it gets an ACK, not a
 * MESSAGE): in contiguous mode count it as seen, in order, without
 * sending it (held as a marker past a gap; a gap fetch then skips it).
 * A no-op otherwise. */
void replay_own(struct replay *rp, int64_t seq);

/* replay_set_contiguous: turn contiguous mode on (1) or off (0). */
void replay_set_contiguous(struct replay *rp, int on);

/* replay_drain: after a REPLAY_SEND, send held frames that now follow last
 * without a gap (contiguous mode, not active; otherwise a no-op). */
void replay_drain(struct replay *rp, void (*send)(void *arg, const char *frame, size_t len),
                  void *arg);

/* replay_gap_pending: 1 when live delivery waits on a gap (held frames or
 * an overflow while not active): the caller should fetch after a short
 * wait unless the gap fills first. */
int replay_gap_pending(const struct replay *rp);

/* replay_gap_fetch: begin a gap fetch in `mode` (REPLAY_GAP_WAIT or
 * REPLAY_GAP_SKIP; active, held frames kept, cursor kept): query after
 * rp->last, feed pages with replay_take/page_end, end with replay_finish. */
void replay_gap_fetch(struct replay *rp, enum replay_gap_mode mode);

#endif
