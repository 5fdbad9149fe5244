/*
 * ws_client.h - a small blocking WebSocket client (RFC 6455) for tests and
 * the load generator: raw sockets and hand-written framing, so it can also
 * send what a correct client never would (unmasked, binary, invalid UTF-8,
 * oversized frames).
 *
 * One struct ws_client per connection, one thread at a time. Every wait is
 * bounded by a timeout in milliseconds.
 */
#ifndef CHAT_WS_CLIENT_H
#define CHAT_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xA

/* Flags of ws_frame_encode / ws_send_frame. */
#define WS_FRAME_UNMASKED 1   /* send without a mask (a protocol error from a client) */
#define WS_FRAME_NO_FIN   2   /* first fragment of a message */

struct ws_frame {
    int fin;
    uint8_t opcode;
    uint8_t *payload;     /* malloc'd, NUL-terminated for convenience; ws_frame_free */
    size_t len;
    uint16_t close_code;  /* WS_OP_CLOSE with a code, else 0 */
};

struct ws_client {
    int fd;
    uint8_t *buf;         /* received, not yet decoded */
    size_t len, cap;
    int closed;           /* a close frame was received, or the socket ended */
    uint16_t close_code;  /* from the peer's close frame (1005 when it had none) */
};

/* ws_frame_encode: write one frame into out (cap bytes): header, mask key
 * (random unless WS_FRAME_UNMASKED) and masked payload. Returns the frame
 * length, or 0 when cap is too small. */
size_t ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, int flags, const void *payload,
                       size_t len);

/* ws_frame_decode: decode one server frame at the start of buf. Returns
 * the bytes it used (> 0) and fills *f (payload malloc'd), 0 when more
 * bytes are needed, -1 for a frame a server must not send (masked) or that
 * is larger than max_payload. */
long ws_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, struct ws_frame *f);

void ws_frame_free(struct ws_frame *f);

/* ws_connect: TCP connect to host:port, send an upgrade request for
 * `target` (path and query) with Origin when origin != NULL, read the
 * answer. Returns 0 on 101 with a correct Sec-WebSocket-Accept; otherwise
 * -1 with *status set to the HTTP status (0: no HTTP answer) and, when
 * body != NULL, up to cap-1 bytes of the answer's body copied there.
 * Always leaves c safe to ws_close. */
int ws_connect(struct ws_client *c, const char *host, int port, const char *target,
               const char *origin, int timeout_ms, int *status, char *body, size_t cap);

/* ws_connect_early: ws_connect that sends early_len bytes (e.g. a frame)
 * together with the request, before the answer, as an impatient client
 * may. early_len must be small (the request and it share a 4 KiB buffer). */
int ws_connect_early(struct ws_client *c, const char *host, int port, const char *target,
                     const char *origin, const void *early, size_t early_len, int timeout_ms,
                     int *status, char *body, size_t cap);

/* ws_send_frame: encode and send one frame. Returns 0 or -1. */
int ws_send_frame(struct ws_client *c, uint8_t opcode, int flags, const void *payload, size_t len);

/* ws_send_text: one masked text frame. Returns 0 or -1. */
int ws_send_text(struct ws_client *c, const char *text);

/* ws_send_raw: bytes as they are (for hand-made frames). Returns 0 or -1. */
int ws_send_raw(struct ws_client *c, const void *data, size_t len);

/* ws_recv_frame: the next frame of any kind within timeout_ms. Returns 0,
 * -1 on time-out, -2 when the connection ended (c->closed). */
int ws_recv_frame(struct ws_client *c, int timeout_ms, struct ws_frame *f);

/* ws_recv_text: the next text message within timeout_ms, answering pings
 * and skipping pongs. *text is malloc'd (caller frees). Returns 0; -1 on
 * time-out; -2 when the server closed (c->close_code tells the code). */
int ws_recv_text(struct ws_client *c, int timeout_ms, char **text);

/* ws_close: send a close frame (when still open) and close the socket. */
void ws_close(struct ws_client *c);

/* http_get_raw: one plain HTTP/1.1 request (`request` sent verbatim) and
 * the status of the answer, or 0 when none came within timeout_ms. The
 * answer (headers and body) goes to out when not NULL. */
int http_raw(const char *host, int port, const char *request, size_t len, int timeout_ms,
             char *out, size_t cap);

#endif
