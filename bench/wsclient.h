/*
 * wsclient.h - one non-blocking WebSocket client connection of the load
 * generator: TCP connect, the RFC 6455 opening handshake, then framing by
 * wslay's event API (client context, so every frame we send is masked).
 *
 * A connection lives in the caller's epoll set with data.ptr pointing at
 * it; the caller passes each readiness event to wsclient_on_event(), and the
 * connection keeps its own epoll interest up to date. Nothing here blocks
 * and nothing is thread-safe: one thread owns the epoll set and every
 * connection in it.
 *
 * Lifecycle: CONNECTING -> HANDSHAKE -> OPEN -> CLOSED, or straight to
 * CLOSED on any failure. on_closed runs once, when the socket has been
 * closed; the connection is freed only by its owner with wsclient_free(),
 * never inside a callback.
 */
#ifndef BENCH_WSCLIENT_H
#define BENCH_WSCLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum wsclient_state { WSCLIENT_CONNECTING, WSCLIENT_HANDSHAKE, WSCLIENT_OPEN, WSCLIENT_CLOSED };

struct wsclient;

/* Callbacks, each with the `ud` given at creation. They may call
 * wsclient_send_text and wsclient_close on any connection, but must not free
 * one. on_text's msg is borrowed for the call only. */
struct wsclient_handlers {
    void (*on_open)(struct wsclient *c, void *ud);
    void (*on_text)(struct wsclient *c, const uint8_t *msg, size_t len, void *ud);
    void (*on_closed)(struct wsclient *c, void *ud);
};

/* Where to connect: filled once by wsclient_target_parse, then shared
 * (borrowed) by every connection made to it. */
struct wsclient_target {
    struct sockaddr_in addr;
    char host[128]; /* Host header: "127.0.0.1:8090" */
    char path[256]; /* "/ws" */
};

/* wsclient_target_parse: "ws://HOST:PORT/PATH" with a numeric IPv4 address
 * or "localhost". Returns 0 or ERR_INVALID. */
int wsclient_target_parse(const char *url, struct wsclient_target *t);

/* wsclient_connect: start a connection to t (borrowed until wsclient_free)
 * asking for `t->path?token=<token>` (token copied; NULL: no query).
 * Returns the connection in state CONNECTING, or NULL with *err set to
 * ERR_NOMEM, ERR_IO (errno tells why: EMFILE, EADDRNOTAVAIL, ...). */
struct wsclient *wsclient_connect(int epfd, const struct wsclient_target *t, const char *token,
                                  const struct wsclient_handlers *h, void *ud, int *err);

/* wsclient_adopt: like wsclient_connect over an already connected socket `fd`
 * (handed over: closed by the connection), starting at the handshake. For
 * tests over a socketpair. */
struct wsclient *wsclient_adopt(int epfd, int fd, const struct wsclient_target *t,
                                const char *token, const struct wsclient_handlers *h, void *ud,
                                int *err);

/* wsclient_on_event: handle the epoll events that fired for c. */
void wsclient_on_event(struct wsclient *c, uint32_t events);

/* wsclient_send_text: queue one text message (copied) and try to write it
 * now. Returns 0, ERR_INVALID when c is not OPEN or is closing, ERR_NOMEM. */
int wsclient_send_text(struct wsclient *c, const char *text, size_t len);

/* wsclient_close: start the closing handshake with `code` (1000 normally);
 * the socket closes when the peer answers. No-op unless OPEN. */
void wsclient_close(struct wsclient *c, uint16_t code);

/* wsclient_abort: close the socket now (on_closed runs); no-op when CLOSED. */
void wsclient_abort(struct wsclient *c, const char *why);

enum wsclient_state wsclient_state(const struct wsclient *c);

/* wsclient_http_status: status of the handshake answer (101 on success, 503
 * when the relay is at capacity, ...); 0 when none was read. */
int wsclient_http_status(const struct wsclient *c);

/* wsclient_close_code: the close code the peer sent, 0 when none. */
int wsclient_close_code(const struct wsclient *c);

/* wsclient_why: why a CLOSED connection closed ("closed by peer", "http 503",
 * "eof", "connect: Connection refused", ...); static or owned by c. */
const char *wsclient_why(const struct wsclient *c);

/* wsclient_queued_bytes: bytes queued in wslay and not yet written. */
size_t wsclient_queued_bytes(const struct wsclient *c);

/* wsclient_free: free a connection (aborting it first if still open; its
 * on_closed does not run then). NULL is a no-op. */
void wsclient_free(struct wsclient *c);

#endif
