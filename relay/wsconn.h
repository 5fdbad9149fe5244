/*
 * wsconn.h - one server-side WebSocket connection on wslay's event API,
 * with the I/O behind two function pointers.
 *
 * The relay plugs in non-blocking socket I/O; unit tests plug in scripted
 * byte buffers and capture what would have been sent, as wslay's own tests
 * do. wslay validates framing, masking, opcodes, close codes and UTF-8
 * and closes with 1002/1007/1009 by itself; this layer adds the relay's
 * frame policy: text frames only (binary closes with 1003), a message size
 * limit, a ping rate limit (1008 past it) and liveness (any frame or pong
 * from the peer). It also looks at every frame header before wslay does,
 * because wslay answers some protocol errors (an oversized or fragmented
 * control frame, a non-minimal or 2^63+ length, a 1-byte close payload)
 * with a close frame without a code; here they close with 1002.
 *
 * The wslay context (about 9 KiB) exists only while a frame is on its way
 * in or out: an idle connection costs this layer a small struct. Contexts
 * given back wait in a small pool for the next connection (reused, not
 * made again); all wsconns must be driven from one thread.
 *
 * Drive it only through want_read/want_write: call wsconn_read when the
 * socket is readable and wsconn_read_wanted() says so, wsconn_write while
 * wsconn_write_wanted(), and close the socket once wsconn_finished().
 */
#ifndef RELAY_WSCONN_H
#define RELAY_WSCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wsconn_io {
    /* recv: up to len bytes into buf; > 0 bytes read, 0 at end of stream,
     * -1 with errno set (EAGAIN/EWOULDBLOCK: nothing to read right now). */
    ssize_t (*recv)(void *arg, uint8_t *buf, size_t len);
    /* send: like send(2): bytes written, or -1 with errno (EAGAIN: later).
     * `more` is nonzero when the next bytes of the same frame follow at once
     * (a header before its payload): a socket can hold them back (MSG_MORE)
     * so the frame leaves in one segment instead of two. */
    ssize_t (*send)(void *arg, const uint8_t *buf, size_t len, int more);
    /* now_ms: a monotonic clock in ms for the ping rate limit; NULL uses
     * CLOCK_MONOTONIC (tests pass their own). */
    int64_t (*now_ms)(void *arg);
};

/* Pings the peer may send: WSCONN_PING_RATE a second on average, bursts
 * of WSCONN_PING_BURST. Enough for any keepalive; more closes with 1008. */
#define WSCONN_PING_RATE  1
#define WSCONN_PING_BURST 10

/* What a queued frame costs beyond its payload (wslay's record of it and
 * the frame header), so that empty frames count too. */
#define WSCONN_FRAME_COST 64

struct wsconn_events {
    /* on_text: one complete text message (valid UTF-8, not NUL-terminated;
     * borrowed for the call). May queue frames or close the connection. */
    void (*on_text)(void *arg, const char *text, size_t len);
    /* on_alive: the peer sent something (any frame, pongs included). */
    void (*on_alive)(void *arg);
};

struct wsconn;

/* wsconn_new: a server context; io/events (and their args) are borrowed for
 * the connection's lifetime. max_msg bounds a received message (1009 past
 * it). NULL when out of memory. */
struct wsconn *wsconn_new(const struct wsconn_io *io, void *io_arg, const struct wsconn_events *ev,
                          void *ev_arg, size_t max_msg);

/* wsconn_free: NULL is a no-op. Does not touch the socket. */
void wsconn_free(struct wsconn *wc);

/* wsconn_read: read and dispatch what the peer sent. Returns 0, or ERR_IO
 * when the connection is over (end of stream, socket error) or ERR_NOMEM
 * (no context could be made): close it.
 * A protocol error or a ping flood returns 0 with a close frame queued
 * (wsconn_closing() says so): stop using the connection but write. */
int wsconn_read(struct wsconn *wc);

/* wsconn_write: send queued frames until the socket would block. Returns
 * 0, or ERR_IO on a socket error (close it). */
int wsconn_write(struct wsconn *wc);

/* wsconn_send_text: queue one text message (copied). Returns 0, ERR_IO
 * when a close was already queued (the message is dropped), ERR_NOMEM. */
int wsconn_send_text(struct wsconn *wc, const char *text, size_t len);

/* wsconn_ping: queue a ping (on an idle connection with one still being
 * written, that one stands for it). Same returns as wsconn_send_text. */
int wsconn_ping(struct wsconn *wc);

/* wsconn_close: queue a close frame with code and reason (< 123 bytes),
 * stop reading. Later calls are no-ops. Returns 0 or ERR_NOMEM. */
int wsconn_close(struct wsconn *wc, uint16_t code, const char *reason);

/* wsconn_queued_bytes: what the frames queued but not yet sent cost:
 * their payload plus WSCONN_FRAME_COST each (pongs wslay queued included). */
size_t wsconn_queued_bytes(const struct wsconn *wc);

int wsconn_read_wanted(const struct wsconn *wc);
int wsconn_write_wanted(const struct wsconn *wc);

/* wsconn_finished: neither side has anything left to do: close the socket. */
int wsconn_finished(const struct wsconn *wc);

/* wsconn_closing: a close frame was queued or sent, by this layer, by
 * wslay on a protocol error, or as the echo of the peer's: nothing more
 * can be sent or read. */
int wsconn_closing(const struct wsconn *wc);

/* wsconn_close_code: the code of the close frame we sent or queued (0 if none). */
uint16_t wsconn_close_code(const struct wsconn *wc);

/* wsconn_has_context: 1 while a wslay context is held (a frame on its way
 * in or out, a fragmented message, a close), 0 while idle. For tests and
 * measurements. */
int wsconn_has_context(const struct wsconn *wc);

/* wsconn_pool_size: contexts waiting for reuse (at most a small bound). */
size_t wsconn_pool_size(void);

#endif
