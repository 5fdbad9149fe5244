/*
 * wsconn.c - wslay event-API glue (see wsconn.h).
 *
 * The recv/send callbacks translate the pluggable I/O's errno into wslay's
 * vocabulary: EAGAIN -> WSLAY_ERR_WOULDBLOCK (try later), anything else
 * -> WSLAY_ERR_CALLBACK_FAILURE (connection over). At most one context
 * per connection; hot path of every frame in and out.
 *
 * Every byte read also passes a small frame-header scanner before wslay
 * sees it. wslay's frame layer turns some protocol errors into a failed
 * read and a close frame without a status code, and it answers every ping
 * with a queued pong however fast they come. The scanner catches those
 * errors and counts pings, and on a violation hands wslay only the bytes
 * before the offending header byte (so wslay never sees that frame), after
 * which wsconn_read queues the close with the right code.
 *
 * An idle connection holds no wslay context (about 9 KiB of buffers each,
 * most of what an idle connection cost). The context is made when bytes
 * arrive or a frame must be queued, and given back as soon as it holds
 * nothing a later frame depends on: the scanner is between frames, no
 * fragmented data message is half received, nothing is queued or half
 * sent, and no close has been queued, sent or received. At that point
 * wslay's own state is what a fresh context starts with: its recv loop
 * reads until the socket would block, so every byte it was given has been
 * parsed (the scanner saw the same bytes, all of them whole frames), each
 * finished message resets its input record, and a fully sent frame leaves
 * its output idle. What lives longer than a context is wsconn's: the ping
 * rate limit, the close code, the scanner and the fragment flag.
 *
 * A context given back in that state is the same as a new one, so a few
 * wait in a pool for the next connection that needs one: making one costs
 * two allocations and zeroing 9 KiB, which a busy connection would
 * otherwise pay for every frame in or out. wslay's callbacks get the slot
 * the context sits in, which names the connection holding it now. The
 * pool is the loop thread's (the relay drives every wsconn from it).
 *
 * The keepalive ping of an idle connection takes no context at all: it is
 * two bytes, written by this layer before anything wslay sends. Pings come
 * due for every idle connection in the same time-out sweep and are written
 * only when the loop flushes, so through wslay each would hold a context
 * meanwhile: all of them at once after a crowd connected together.
 */
#include "wsconn.h"
#include "errors.h"
#include "ratelimit.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

/* A wslay context and the connection holding it (NULL while pooled). */
struct ctx_slot {
    wslay_event_context_ptr ctx;
    struct wsconn *wc;
    struct ctx_slot *next; /* in the pool */
};

/* The pool is the process's, without a lock: every wsconn is driven by the
 * one event-loop thread (ev.h: one loop per process). A second loop on
 * another thread would need a pool of its own. */
#define WSCONN_POOL_MAX 16
static struct ctx_slot *pool;
static size_t pool_len;

struct wsconn {
    struct ctx_slot *slot;       /* NULL while idle (see above) */
    wslay_event_context_ptr ctx; /* slot->ctx, or NULL */
    const struct wsconn_io *io;
    void *io_arg;
    const struct wsconn_events *ev;
    void *ev_arg;
    uint16_t close_code; /* what we queued, 0 until then */
    uint16_t violation;  /* close code the scanner called for, 0 if none */
    const char *violation_reason;
    struct ratelimit pings;
    /* The scanner: the header of the frame being read, then its payload. */
    uint8_t hdr[14];
    uint8_t have;  /* header bytes seen */
    uint8_t need;  /* header length once known (2 until then) */
    uint8_t ext;   /* extended length bytes: 0, 2 or 8 */
    uint64_t len;  /* payload length from the header */
    uint64_t left; /* payload bytes still to pass */
    size_t max_msg;
    uint8_t frag;      /* a data frame without FIN was seen, its message not finished */
    uint8_t busy;      /* inside a wslay call: the context must stay */
    uint8_t ping_left; /* bytes of an idle connection's ping still to write */
    uint8_t broken;    /* a wslay call failed: the context is never given back */
};

static int64_t now_ms(const struct wsconn *wc)
{
    return wc->io->now_ms ? wc->io->now_ms(wc->io_arg) : timefmt_mono_ms();
}

static uint16_t violate(struct wsconn *wc, uint16_t code, const char *reason)
{
    wc->violation = code;
    wc->violation_reason = reason;
    return code;
}

/* scan_header_byte: take the next header byte. Returns 0, or the close
 * code this byte makes certain (the frame must not reach wslay). */
static uint16_t scan_header_byte(struct wsconn *wc, uint8_t byte)
{
    wc->hdr[wc->have++] = byte;
    uint8_t op = wc->hdr[0] & 0x0f;
    if (wc->have == 2) {
        unsigned len7 = wc->hdr[1] & 0x7fu;
        int fin = (wc->hdr[0] & 0x80) != 0;
        if ((op & 0x8) && (!fin || len7 > 125))
            return violate(wc, WSLAY_CODE_PROTOCOL_ERROR, "bad control frame");
        if (op == WSLAY_CONNECTION_CLOSE && len7 == 1)
            return violate(wc, WSLAY_CODE_PROTOCOL_ERROR, "bad close payload");
        wc->ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        wc->need = (uint8_t) (2 + wc->ext + ((wc->hdr[1] & 0x80) ? 4 : 0));
        wc->len = len7;
    }
    if (wc->ext && wc->have == 2 + wc->ext) {
        uint64_t v = 0;
        for (unsigned i = 2; i < 2u + wc->ext; i++)
            v = v << 8 | wc->hdr[i];
        if (wc->ext == 2 ? v < 126 : (v < 65536 || (v >> 63) != 0))
            return violate(wc, WSLAY_CODE_PROTOCOL_ERROR, "bad payload length");
        wc->len = v;
    }
    if (wc->have >= 2 && wc->have == wc->need) {
        if (op == WSLAY_PING && !ratelimit_take(&wc->pings, now_ms(wc)))
            return violate(wc, WSLAY_CODE_POLICY_VIOLATION, "too many pings");
        /* Control frames may come between fragments and change nothing;
         * a data frame out of sequence makes wslay close anyway. */
        if (!(op & 0x8))
            wc->frag = (wc->hdr[0] & 0x80) == 0;
        wc->left = wc->len;
        wc->have = 0;
        wc->need = 2;
        wc->ext = 0;
    }
    return 0;
}

/* scan: pass n bytes read from the peer through the scanner. Returns how
 * many of them wslay may see: n, or fewer after a violation. */
static size_t scan(struct wsconn *wc, const uint8_t *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (wc->left > 0) {
            size_t k = n - i;
            if ((uint64_t) k > wc->left)
                k = (size_t) wc->left;
            wc->left -= k;
            i += k;
            continue;
        }
        if (scan_header_byte(wc, buf[i]) != 0)
            return i;
        i++;
    }
    return n;
}

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct wsconn *wc = ((struct ctx_slot *) user_data)->wc;
    (void) flags;
    if (wc->violation) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ssize_t r = wc->io->recv(wc->io_arg, buf, len);
    if (r > 0) {
        size_t ok = scan(wc, buf, (size_t) r);
        if (ok > 0)
            return (ssize_t) ok;
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); /* EOF or error */
    return -1;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct wsconn *wc = ((struct ctx_slot *) user_data)->wc;
    ssize_t r = wc->io->send(wc->io_arg, data, len, (flags & WSLAY_MSG_MORE) != 0);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user_data)
{
    struct wsconn *wc = ((struct ctx_slot *) user_data)->wc;
    (void) ctx;
    if (wc->ev->on_alive)
        wc->ev->on_alive(wc->ev_arg);
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (wc->close_code == 0)
            wc->ev->on_text(wc->ev_arg, (const char *) arg->msg, arg->msg_length);
        break;
    case WSLAY_BINARY_FRAME:
        wsconn_close(wc, WSLAY_CODE_UNSUPPORTED_DATA, "text frames only");
        break;
    case WSLAY_CONNECTION_CLOSE:
        /* wslay queued the echoing close frame already. */
        if (wc->close_code == 0)
            wc->close_code = arg->status_code ? arg->status_code : WSLAY_CODE_NORMAL_CLOSURE;
        break;
    default: /* ping (answered by wslay), pong */
        break;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = cb_recv,
    .send_callback = cb_send,
    .on_msg_recv_callback = cb_msg,
};

static void slot_free(struct ctx_slot *s)
{
    wslay_event_context_free(s->ctx);
    free(s);
}

/* ctx_get: a wslay context for wc, from the pool or new, if it was idle.
 * Returns 0 or ERR_NOMEM. */
static int ctx_get(struct wsconn *wc)
{
    if (wc->slot)
        return 0;
    struct ctx_slot *s = pool;
    if (s) {
        pool = s->next;
        pool_len--;
    } else {
        s = calloc(1, sizeof *s);
        if (!s)
            return ERR_NOMEM;
        if (wslay_event_context_server_init(&s->ctx, &callbacks, s) != 0) {
            free(s);
            return ERR_NOMEM;
        }
        /* No extension is negotiated, so any RSV bit is a protocol error (wslay's default). */
    }
    s->wc = wc;
    s->next = NULL;
    wslay_event_config_set_max_recv_msg_length(s->ctx, wc->max_msg);
    wc->slot = s;
    wc->ctx = s->ctx;
    return 0;
}

/* quiescent: the context holds nothing a later frame depends on. */
static int quiescent(const struct wsconn *wc)
{
    wslay_event_context_ptr ctx = wc->ctx;
    return !wc->busy && !wc->broken && wc->close_code == 0 && wc->violation == 0 && wc->have == 0 &&
           wc->left == 0 && !wc->frag && wslay_event_get_read_enabled(ctx) &&
           wslay_event_get_write_enabled(ctx) && !wslay_event_want_write(ctx) &&
           wslay_event_get_queued_msg_count(ctx) == 0 && !wslay_event_get_close_received(ctx) &&
           !wslay_event_get_close_sent(ctx);
}

/* release_if_idle: give the context back once the connection is quiescent. */
static void release_if_idle(struct wsconn *wc)
{
    if (!wc->slot || !quiescent(wc))
        return;
    struct ctx_slot *s = wc->slot;
    wc->slot = NULL;
    wc->ctx = NULL;
    s->wc = NULL;
    if (pool_len >= WSCONN_POOL_MAX) {
        slot_free(s);
        return;
    }
    s->next = pool;
    pool = s;
    pool_len++;
}

struct wsconn *wsconn_new(const struct wsconn_io *io, void *io_arg, const struct wsconn_events *ev,
                          void *ev_arg, size_t max_msg)
{
    struct wsconn *wc = calloc(1, sizeof *wc);
    if (!wc)
        return NULL;
    wc->io = io;
    wc->io_arg = io_arg;
    wc->ev = ev;
    wc->ev_arg = ev_arg;
    wc->max_msg = max_msg;
    wc->need = 2;
    ratelimit_init(&wc->pings, WSCONN_PING_RATE, WSCONN_PING_BURST, now_ms(wc));
    return wc;
}

void wsconn_free(struct wsconn *wc)
{
    if (!wc)
        return;
    if (wc->slot)
        slot_free(wc->slot); /* not quiescent: never pooled */
    free(wc);
}

int wsconn_has_context(const struct wsconn *wc)
{
    return wc->slot != NULL;
}

size_t wsconn_pool_size(void)
{
    return pool_len;
}

/* run: wslay's recv or send loop with the context held for its length;
 * a failure marks the context broken. Returns 0 or ERR_IO. */
static int run(struct wsconn *wc, int (*loop)(wslay_event_context_ptr))
{
    wc->busy = 1;
    int r = loop(wc->ctx);
    wc->busy = 0;
    if (r != 0)
        wc->broken = 1;
    return r == 0 ? 0 : ERR_IO;
}

int wsconn_read(struct wsconn *wc)
{
    if (ctx_get(wc) != 0)
        return ERR_NOMEM;
    if (run(wc, wslay_event_recv) != 0)
        return ERR_IO;
    /* The scanner stopped the input: unless wslay closed on something
     * earlier in the same bytes, queue the close it called for. */
    if (wc->violation && wslay_event_get_read_enabled(wc->ctx))
        return wsconn_close(wc, wc->violation, wc->violation_reason) == 0 ? 0 : ERR_IO;
    release_if_idle(wc);
    return 0;
}

/* write_ping: what is left of a ping queued while idle. Returns 0 (done,
 * or the socket is full and ping_left says what is left) or ERR_IO. */
static int write_ping(struct wsconn *wc)
{
    static const uint8_t ping[2] = {0x80 | WSLAY_PING, 0};
    while (wc->ping_left > 0) {
        ssize_t r = wc->io->send(wc->io_arg, ping + 2 - wc->ping_left, wc->ping_left, 0);
        if (r <= 0) {
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return ERR_IO;
            return 0;
        }
        wc->ping_left = r >= wc->ping_left ? 0 : (uint8_t) (wc->ping_left - r);
    }
    return 0;
}

int wsconn_write(struct wsconn *wc)
{
    /* The ping was queued before anything the context holds now. */
    if (write_ping(wc) != 0) {
        wc->broken = 1;
        return ERR_IO;
    }
    if (wc->ping_left > 0 || !wc->ctx)
        return 0; /* the socket is full, or nothing else is queued */
    if (run(wc, wslay_event_send) != 0)
        return ERR_IO;
    release_if_idle(wc);
    return 0;
}

static int queue(struct wsconn *wc, uint8_t opcode, const void *data, size_t len)
{
    if (wc->close_code != 0)
        return ERR_IO;
    if (ctx_get(wc) != 0)
        return ERR_NOMEM;
    struct wslay_event_msg msg = {opcode, data, len};
    int r = wslay_event_queue_msg(wc->ctx, &msg);
    if (r == 0)
        return 0;
    release_if_idle(wc); /* nothing was queued */
    return r == WSLAY_ERR_NOMEM ? ERR_NOMEM : ERR_IO;
}

int wsconn_send_text(struct wsconn *wc, const char *text, size_t len)
{
    return queue(wc, WSLAY_TEXT_FRAME, text, len);
}

int wsconn_ping(struct wsconn *wc)
{
    if (wc->slot)
        return queue(wc, WSLAY_PING, "", 0);
    if (wc->close_code != 0)
        return ERR_IO;
    if (wc->ping_left == 0)
        wc->ping_left = 2; /* idle: no context (see above); one still on its way is enough */
    return 0;
}

int wsconn_close(struct wsconn *wc, uint16_t code, const char *reason)
{
    if (wc->close_code != 0 || (wc->ctx && wslay_event_get_close_sent(wc->ctx)))
        return 0;
    if (ctx_get(wc) != 0)
        return ERR_NOMEM;
    wc->close_code = code;
    size_t rlen = reason ? strnlen(reason, 122) : 0;
    int r = wslay_event_queue_close(wc->ctx, code, (const uint8_t *) reason, rlen);
    wslay_event_shutdown_read(wc->ctx);
    return r == WSLAY_ERR_NOMEM ? ERR_NOMEM : 0;
}

size_t wsconn_queued_bytes(const struct wsconn *wc)
{
    size_t n = wc->ping_left ? WSCONN_FRAME_COST : 0;
    if (!wc->ctx)
        return n;
    return n + wslay_event_get_queued_msg_length(wc->ctx) +
           wslay_event_get_queued_msg_count(wc->ctx) * WSCONN_FRAME_COST;
}

/* Without a context the connection is idle: open both ways, nothing queued
 * but perhaps a ping. */

int wsconn_closing(const struct wsconn *wc)
{
    return wc->close_code != 0 || (wc->ctx && !wslay_event_get_read_enabled(wc->ctx));
}

int wsconn_read_wanted(const struct wsconn *wc)
{
    return !wc->ctx || wslay_event_want_read(wc->ctx);
}

int wsconn_write_wanted(const struct wsconn *wc)
{
    return wc->ping_left > 0 || (wc->ctx && wslay_event_want_write(wc->ctx));
}

int wsconn_finished(const struct wsconn *wc)
{
    return wc->ping_left == 0 && wc->ctx && !wslay_event_want_read(wc->ctx) &&
           !wslay_event_want_write(wc->ctx);
}

uint16_t wsconn_close_code(const struct wsconn *wc)
{
    if (wc->close_code)
        return wc->close_code;
    if (wc->ctx && wslay_event_get_close_sent(wc->ctx))
        return wslay_event_get_status_code_sent(wc->ctx);
    return 0;
}
