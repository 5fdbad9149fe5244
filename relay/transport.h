/*
 * transport.h - the relay's client sockets: a new one admitted within the
 * HTTP-stage bounds (admission.c; listener.c accepts it), the HTTP
 * request buffer and its answer, the WebSocket once upgraded (wsconn.c
 * over the socket, its frames gathered per connection), output flushed before
 * sleeping, pings and the handshake, pong and close time-outs, and the
 * end of a connection. It knows nothing of the chat protocol: what comes
 * in goes up through transport_events.
 *
 * Ownership: the transport owns every conn. A conn is never freed inside
 * its own callback: transport_kill() lists it and transport_before_sleep()
 * frees it, after transport_events.freeing has let the layers above drop
 * what hangs off it. Jobs carry conn ids, never pointers, and find their
 * conn again with transport_conn(). Loop thread only.
 */
#ifndef RELAY_TRANSPORT_H
#define RELAY_TRANSPORT_H

#include "admission.h"
#include "config.h"
#include "handshake.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TRANSPORT_CLOSE_GRACE_MS   3000 /* after our close frame, before we drop the socket */
#define TRANSPORT_OUT_MIN          512  /* first size of a connection's output buffer */
#define TRANSPORT_FRAME_HEADER_MAX 10   /* an unmasked frame header, 64-bit length */

enum conn_state {
    CONN_HTTP,  /* reading the request */
    CONN_WAIT,  /* a worker is checking the token or health; no reading */
    CONN_REPLY, /* writing an HTTP answer, then closing */
    CONN_OPEN,  /* a WebSocket */
};

struct ev_loop;
struct metrics;
struct session;
struct transport;
struct wsconn;

struct conn {
    uint64_t id;
    int fd;
    enum conn_state state;
    struct transport *t;
    int64_t opened_ms;     /* monotonic */
    int64_t last_heard_ms; /* last frame of any kind from the peer */
    int64_t last_ping_ms;
    int closing; /* close frame queued: reap once sent or at close_deadline */
    int64_t close_deadline_ms;
    int dead;     /* on the reap list */
    int flushing; /* on the flush list */
    struct conn *next_flush, *next_reap;

    /* HTTP stage */
    struct adm_entry adm; /* listed while no request has been answered */
    char *in;             /* HS_MAX_REQUEST bytes while reading the request */
    size_t in_len;
    size_t early_off; /* bytes of `in` past the request still to feed wslay */
    struct hs_request hs;
    char *out;                        /* HTTP answer, or the 101 and then the WebSocket's frames */
    size_t out_len, out_off, out_cap; /* out[out_off, out_len) is unsent */
    int health_waiting;               /* routes.c: /healthz checks outstanding */
    int health_ok;                    /* routes.c: which of them answered */

    /* WebSocket stage */
    struct wsconn *ws;
    int rx_drained;          /* this read event's recv() came back short: no more now */
    int64_t user_id;         /* from the socket token, never from a frame */
    struct session *session; /* session.c's, set at open, freed in freeing */
};

/* What the transport tells the layers above; arg is transport_new's. */
struct transport_events {
    /* request: c's request is parsed (rc: hs_parse's HS_OK or HS_BAD, the
     * details in c->hs): answer it (transport_http_reply) or park it in
     * CONN_WAIT and answer later. */
    void (*request)(void *arg, struct conn *c, int rc);
    /* text: one text message on an open, not closing WebSocket (borrowed). */
    void (*text)(void *arg, struct conn *c, const char *text, size_t len);
    /* freeing: an open WebSocket is about to be freed: drop c->session. */
    void (*freeing)(void *arg, struct conn *c);
};

/* transport_new: cfg (time-outs, output bound, message size), loop, adm
 * (HTTP-stage bounds, connections per user) and metrics are borrowed.
 * NULL when out of memory. */
struct transport *transport_new(const struct config *cfg, struct ev_loop *loop,
                                struct admission *adm, struct metrics *metrics,
                                const struct transport_events *ev, void *arg);

/* transport_free: kill and free every conn (events.freeing for open
 * ones). NULL is fine. */
void transport_free(struct transport *t);

/* transport_accept: a conn in the HTTP stage on fd (a connected socket,
 * owned from now on; sa/salen its peer, NULL for none), within the
 * HTTP-stage bounds (the oldest such conn of the address may be shed).
 * NULL when it was refused (select() cannot watch fd) or out of memory:
 * fd is closed then. */
struct conn *transport_accept(struct transport *t, int fd, const struct sockaddr *sa,
                              socklen_t salen);

/* transport_shed: close the HTTP-stage conn listed at e (named by
 * admission_victim) so a newer one gets its place. */
void transport_shed(struct transport *t, struct adm_entry *e);

/* transport_reaping: killed conns still hold their descriptors (they are
 * released before the loop sleeps). */
int transport_reaping(const struct transport *t);

/* transport_conn: the live conn with this id, or NULL (closed meanwhile). */
struct conn *transport_conn(struct transport *t, uint64_t id);

/* transport_count: conns of every stage; transport_open: WebSockets. */
size_t transport_count(const struct transport *t);
size_t transport_open(const struct transport *t);

/* transport_http_reply: answer c's request and close it once written.
 * transport_http_text: the same with a text/plain body (text + "\n"). */
void transport_http_reply(struct conn *c, int status, const char *extra, const char *ctype,
                          const char *body, size_t body_len);
void transport_http_text(struct conn *c, int status, const char *extra, const char *text);

/* transport_wait: c's request waits for a worker (no reading meanwhile). */
void transport_wait(struct conn *c);

/* transport_upgrade: answer 101 and make c a WebSocket of user_id.
 * Returns 0 or ERR_NOMEM (c unchanged). transport_start then feeds wslay
 * what came with the request; in between the caller sets up its session. */
int transport_upgrade(struct conn *c, int64_t user_id);
void transport_start(struct conn *c);

/* transport_usable: c is open and not closing: frames sent now go out. */
int transport_usable(const struct conn *c);

/* transport_send: queue a text frame (copied into c's output buffer,
 * sent with the rest of it before the loop sleeps); over
 * max_outbuf_bytes the conn is closed with 1008 instead. Ignored unless
 * usable. */
void transport_send(struct conn *c, const char *frame, size_t len);

/* transport_frame_header: the header of an unmasked final text frame of
 * len payload bytes into hdr (TRANSPORT_FRAME_HEADER_MAX bytes); returns
 * its length (2, 4 or 10). */
size_t transport_frame_header(uint8_t *hdr, size_t len);

/* transport_send_owned: transport_send and free(frame); NULL (out of
 * memory) closes the conn with 1011. */
void transport_send_owned(struct conn *c, char *frame);

/* transport_close: a close frame with code and reason, then the socket
 * (at once in the HTTP stage). */
void transport_close(struct conn *c, uint16_t code, const char *reason);

/* transport_close_all: transport_close on every conn. */
void transport_close_all(struct transport *t, uint16_t code, const char *reason);

/* transport_flush_later: write c's output before the loop sleeps. */
void transport_flush_later(struct conn *c);

/* transport_kill: drop c at once (freed before the loop sleeps). */
void transport_kill(struct conn *c);

/* transport_before_sleep: flush what is pending, free what was killed. */
void transport_before_sleep(struct transport *t);

/* transport_sweep: the time-outs (handshake, pong, close) and pings; now
 * is monotonic ms. */
void transport_sweep(struct transport *t, int64_t now);

#endif
