/*
 * ws_client.c - blocking WebSocket client (see ws_client.h). Test and
 * benchmark code: clarity over speed, but no unbounded waits or buffers.
 */
#include "ws_client.h"
#include "ws_accept.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_MAX_PAYLOAD (16u << 20)

size_t ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, int flags, const void *payload,
                       size_t len)
{
    size_t hlen = 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8);
    int masked = !(flags & WS_FRAME_UNMASKED);
    if (masked)
        hlen += 4;
    if (cap < hlen || len > cap - hlen)
        return 0;
    size_t o = 0;
    out[o++] = (uint8_t) ((flags & WS_FRAME_NO_FIN ? 0 : 0x80) | (opcode & 0x0f));
    uint8_t mbit = masked ? 0x80 : 0;
    if (len < 126) {
        out[o++] = (uint8_t) (mbit | len);
    } else if (len <= 0xffff) {
        out[o++] = mbit | 126;
        out[o++] = (uint8_t) (len >> 8);
        out[o++] = (uint8_t) len;
    } else {
        out[o++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t) ((uint64_t) len >> (8 * i));
    }
    uint8_t key[4] = {0, 0, 0, 0};
    if (masked) {
        if (RAND_bytes(key, 4) != 1)
            key[0] = 0x5a;
        memcpy(out + o, key, 4);
        o += 4;
    }
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[o + i] = masked ? (uint8_t) (p[i] ^ key[i & 3]) : p[i];
    return o + len;
}

long ws_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, struct ws_frame *f)
{
    if (len < 2)
        return 0;
    size_t o = 2;
    uint64_t plen = buf[1] & 0x7f;
    if (buf[1] & 0x80)
        return -1; /* servers never mask */
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = ((uint64_t) buf[2] << 8) | buf[3];
        o = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | buf[2 + i];
        o = 10;
    }
    if (plen > max_payload)
        return -1;
    if (len - o < plen)
        return 0;
    memset(f, 0, sizeof *f);
    f->fin = (buf[0] & 0x80) != 0;
    f->opcode = buf[0] & 0x0f;
    f->len = (size_t) plen;
    f->payload = malloc(f->len + 1);
    if (!f->payload)
        return -1;
    memcpy(f->payload, buf + o, f->len);
    f->payload[f->len] = '\0';
    if (f->opcode == WS_OP_CLOSE)
        f->close_code = f->len >= 2 ? (uint16_t) ((f->payload[0] << 8) | f->payload[1]) : 1005;
    return (long) (o + f->len);
}

void ws_frame_free(struct ws_frame *f)
{
    free(f->payload);
    f->payload = NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

/* fill: read more into c->buf, waiting until deadline. 1 read, 0 time-out,
 * -1 end of stream or error. */
static int fill(struct ws_client *c, int64_t deadline)
{
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        if (cap > WS_MAX_PAYLOAD + 64)
            return -1;
        uint8_t *b = realloc(c->buf, cap);
        if (!b)
            return -1;
        c->buf = b;
        c->cap = cap;
    }
    int64_t left = deadline - now_ms();
    if (left < 0)
        left = 0;
    struct pollfd p = {c->fd, POLLIN, 0};
    int n = poll(&p, 1, (int) left);
    if (n == 0)
        return 0;
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r <= 0)
        return -1;
    c->len += (size_t) r;
    return 1;
}

static void consume(struct ws_client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* http_status: the status code of an "HTTP/1.1 NNN ..." line, or 0. */
static int http_status(const char *line)
{
    if (strncmp(line, "HTTP/1.1 ", 9) != 0)
        return 0;
    char *end;
    long v = strtol(line + 9, &end, 10);
    return end == line + 12 && v >= 100 && v <= 599 ? (int) v : 0;
}

int ws_connect(struct ws_client *c, const char *host, int port, const char *target,
               const char *origin, int timeout_ms, int *status, char *body, size_t cap)
{
    return ws_connect_early(c, host, port, target, origin, NULL, 0, timeout_ms, status, body, cap);
}

int ws_connect_early(struct ws_client *c, const char *host, int port, const char *target,
                     const char *origin, const void *early, size_t early_len, int timeout_ms,
                     int *status, char *body, size_t cap)
{
    unsigned char raw[16];
    char key[32], req[4096], want[32];
    memset(c, 0, sizeof *c);
    c->fd = -1;
    *status = 0;
    if (body && cap)
        body[0] = '\0';
    if ((c->fd = tcp_connect(host, port, timeout_ms)) < 0)
        return -1;
    RAND_bytes(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *) key, raw, sizeof raw);
    char ohdr[600] = "";
    if (origin)
        snprintf(ohdr, sizeof ohdr, "Origin: %s\r\n", origin);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     target, host, port, key, ohdr);
    if (n < 0 || (size_t) n >= sizeof req - early_len)
        return -1;
    if (early_len) /* bytes that follow the request in the same segment */
        memcpy(req + n, early, early_len);
    if (send_all(c->fd, req, (size_t) n + early_len) != 0)
        return -1;

    int64_t deadline = now_ms() + timeout_ms;
    uint8_t *end;
    while (!(end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL)) {
        if (fill(c, deadline) <= 0)
            break;
    }
    if (c->len == 0)
        return -1;
    char head[8192];
    size_t hlen = end ? (size_t) (end - c->buf) + 4 : c->len;
    size_t copy = hlen < sizeof head - 1 ? hlen : sizeof head - 1;
    memcpy(head, c->buf, copy);
    head[copy] = '\0';
    *status = http_status(head);
    if (!end)
        return -1;
    if (*status != 101) {
        /* The body: whatever arrives before the server closes or time runs out. */
        while (fill(c, deadline) > 0) {
        }
        if (body && cap) {
            size_t blen = c->len - hlen < cap - 1 ? c->len - hlen : cap - 1;
            memcpy(body, c->buf + hlen, blen);
            body[blen] = '\0';
        }
        return -1;
    }
    ws_accept_key(key, want);
    char *acc = strcasestr(head, "\r\nSec-WebSocket-Accept: ");
    if (!acc || strncmp(acc + 24, want, 28) != 0) {
        *status = 0;
        return -1;
    }
    consume(c, hlen);
    return 0;
}

int ws_send_frame(struct ws_client *c, uint8_t opcode, int flags, const void *payload, size_t len)
{
    size_t cap = len + 14;
    uint8_t *f = malloc(cap);
    if (!f)
        return -1;
    size_t n = ws_frame_encode(f, cap, opcode, flags, payload, len);
    int rc = n ? send_all(c->fd, f, n) : -1;
    free(f);
    return rc;
}

int ws_send_text(struct ws_client *c, const char *text)
{
    return ws_send_frame(c, WS_OP_TEXT, 0, text, strlen(text));
}

int ws_send_raw(struct ws_client *c, const void *data, size_t len)
{
    return send_all(c->fd, data, len);
}

int ws_recv_frame(struct ws_client *c, int timeout_ms, struct ws_frame *f)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        long used = c->len ? ws_frame_decode(c->buf, c->len, WS_MAX_PAYLOAD, f) : 0;
        if (used < 0) {
            c->closed = 1;
            return -2;
        }
        if (used > 0) {
            consume(c, (size_t) used);
            if (f->opcode == WS_OP_CLOSE) {
                c->closed = 1;
                c->close_code = f->close_code;
            }
            return 0;
        }
        if (c->closed)
            return -2;
        int r = fill(c, deadline);
        if (r == 0)
            return -1;
        if (r < 0) {
            c->closed = 1;
            return -2;
        }
    }
}

int ws_recv_text(struct ws_client *c, int timeout_ms, char **text)
{
    int64_t deadline = now_ms() + timeout_ms;
    *text = NULL;
    for (;;) {
        struct ws_frame f;
        int64_t left = deadline - now_ms();
        int rc = ws_recv_frame(c, left > 0 ? (int) left : 0, &f);
        if (rc != 0)
            return rc;
        if (f.opcode == WS_OP_TEXT) {
            *text = (char *) f.payload;
            return 0;
        }
        if (f.opcode == WS_OP_PING)
            ws_send_frame(c, WS_OP_PONG, 0, f.payload, f.len);
        int was_close = f.opcode == WS_OP_CLOSE;
        ws_frame_free(&f);
        if (was_close)
            return -2;
    }
}

void ws_close(struct ws_client *c)
{
    if (c->fd >= 0) {
        if (!c->closed) {
            uint8_t code[2] = {0x03, 0xe8}; /* 1000 */
            ws_send_frame(c, WS_OP_CLOSE, 0, code, 2);
        }
        close(c->fd);
    }
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int http_raw(const char *host, int port, const char *request, size_t len, int timeout_ms, char *out,
             size_t cap)
{
    struct ws_client c;
    memset(&c, 0, sizeof c);
    if ((c.fd = tcp_connect(host, port, timeout_ms)) < 0)
        return 0;
    int status = 0;
    if (send_all(c.fd, request, len) == 0) {
        int64_t deadline = now_ms() + timeout_ms;
        while (fill(&c, deadline) > 0) {
        }
        if (c.len > 0) {
            if (c.len == c.cap)
                c.len--;
            c.buf[c.len] = '\0';
            status = http_status((const char *) c.buf);
            if (out && cap) {
                size_t n = c.len < cap - 1 ? c.len : cap - 1;
                memcpy(out, c.buf, n);
                out[n] = '\0';
            }
        }
    }
    close(c.fd);
    free(c.buf);
    return status;
}
