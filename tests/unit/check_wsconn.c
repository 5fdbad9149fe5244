/*
 * check_wsconn.c - the relay's WebSocket layer with scripted bytes in and
 * captured bytes out, no sockets (the way wslay's own tests drive it):
 * text delivery across split reads and fragments, the frame policy
 * (binary 1003, unmasked 1002, invalid UTF-8 1007, too big 1009, the
 * frame-layer errors wslay itself would close without a code: 1002),
 * pings and their rate limit (1008), closes, and writes that hit EAGAIN;
 * and that an idle connection holds no wslay context, made again for the
 * next frame in or out with nothing lost in between.
 */
#include "errors.h"
#include "ws_client.h"
#include "wsconn.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct script {
    uint8_t in[1 << 17];
    size_t in_len, in_off;
    size_t limit; /* bytes of `in` the peer has sent so far (0: all) */
    size_t chunk; /* bytes per recv call (0: all available) */
    int eof;      /* after the input: end of stream instead of EAGAIN */
    uint8_t out[1 << 17];
    size_t out_len;
    size_t send_budget; /* bytes send() accepts before EAGAIN (SIZE_MAX: all) */
    char texts[8][512];
    size_t lens[8]; /* their whole lengths */
    size_t ntexts;
    int alive;
    int64_t now_ms; /* the fake clock */
};

static ssize_t fake_recv(void *arg, uint8_t *buf, size_t len)
{
    struct script *s = arg;
    size_t end = s->limit ? s->limit : s->in_len;
    if (s->in_off == end) {
        if (s->eof && end == s->in_len)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    size_t n = end - s->in_off;
    if (s->chunk && n > s->chunk)
        n = s->chunk;
    if (n > len)
        n = len;
    memcpy(buf, s->in + s->in_off, n);
    s->in_off += n;
    return (ssize_t) n;
}

static ssize_t fake_send(void *arg, const uint8_t *buf, size_t len, int more)
{
    (void) more;
    struct script *s = arg;
    if (s->send_budget == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t n = len < s->send_budget ? len : s->send_budget;
    ck_assert_uint_le(s->out_len + n, sizeof s->out);
    memcpy(s->out + s->out_len, buf, n);
    s->out_len += n;
    s->send_budget -= n;
    return (ssize_t) n;
}

static void on_text(void *arg, const char *text, size_t len)
{
    struct script *s = arg;
    ck_assert_uint_lt(s->ntexts, 8);
    s->lens[s->ntexts] = len;
    if (len >= sizeof s->texts[0])
        len = sizeof s->texts[0] - 1; /* long ones are only counted */
    memcpy(s->texts[s->ntexts], text, len);
    s->texts[s->ntexts++][len] = '\0';
}

static void on_alive(void *arg)
{
    ((struct script *) arg)->alive++;
}

static int64_t fake_now(void *arg)
{
    return ((struct script *) arg)->now_ms;
}

static const struct wsconn_io io = {fake_recv, fake_send, fake_now};
static const struct wsconn_events events = {on_text, on_alive};

static struct script *script_new(void)
{
    struct script *s = calloc(1, sizeof *s);
    s->send_budget = SIZE_MAX;
    return s;
}

/* add_frame: a client frame (masked unless flags say otherwise). */
static void add_frame(struct script *s, uint8_t opcode, int flags, const void *p, size_t len)
{
    size_t n = ws_frame_encode(s->in + s->in_len, sizeof s->in - s->in_len, opcode, flags, p, len);
    ck_assert_uint_gt(n, 0);
    s->in_len += n;
}

/* out_frame: decode the i-th frame the server wrote. */
static void out_frame(struct script *s, int index, struct ws_frame *f)
{
    size_t off = 0;
    for (int i = 0;; i++) {
        long n = ws_frame_decode(s->out + off, s->out_len - off, 1 << 20, f);
        ck_assert_msg(n > 0, "server frame %d missing (wrote %zu bytes)", index, s->out_len);
        if (i == index)
            return;
        ws_frame_free(f);
        off += (size_t) n;
    }
}

static void expect_close(struct script *s, struct wsconn *wc, uint16_t code)
{
    ck_assert_int_eq(wsconn_write(wc), 0);
    struct ws_frame f;
    out_frame(s, 0, &f);
    ck_assert_int_eq(f.opcode, WS_OP_CLOSE);
    ck_assert_int_eq(f.close_code, code);
    ws_frame_free(&f);
    ck_assert_int_eq(wsconn_close_code(wc), code);
    ck_assert_int_eq(wsconn_finished(wc), 1);
}

/* expect_out: the index-th frame the server wrote has this opcode and,
 * unless NULL, this payload. */
static void expect_out(struct script *s, int index, uint8_t opcode, const char *payload)
{
    struct ws_frame f;
    out_frame(s, index, &f);
    ck_assert_int_eq(f.opcode, opcode);
    if (payload)
        ck_assert_str_eq((char *) f.payload, payload);
    ws_frame_free(&f);
}

/* expect_out_close: the index-th frame the server wrote is a close with code. */
static void expect_out_close(struct script *s, int index, uint16_t code)
{
    struct ws_frame f;
    out_frame(s, index, &f);
    ck_assert_int_eq(f.opcode, WS_OP_CLOSE);
    ck_assert_int_eq(f.close_code, code);
    ws_frame_free(&f);
}

START_TEST(test_wsconn_text_across_split_reads)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, WS_OP_TEXT, 0, "{\"a\":1}", 7);
    add_frame(s, WS_OP_TEXT, 0, "second", 6);
    s->chunk = 1; /* one byte per read; each read then hits EAGAIN */
    for (int i = 0; i < 200 && s->in_off < s->in_len; i++)
        ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 2);
    ck_assert_str_eq(s->texts[0], "{\"a\":1}");
    ck_assert_str_eq(s->texts[1], "second");
    ck_assert_int_eq(wsconn_read_wanted(wc), 1);
    wsconn_free(wc);
    free(s);
}
END_TEST

START_TEST(test_wsconn_fragments_make_one_message)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, WS_OP_TEXT, WS_FRAME_NO_FIN, "hel", 3);
    add_frame(s, WS_OP_PING, 0, "p", 1); /* a control frame between fragments */
    add_frame(s, WS_OP_CONT, 0, "lo", 2);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 1);
    ck_assert_str_eq(s->texts[0], "hello");
    ck_assert_int_eq(wsconn_write(wc), 0);
    expect_out(s, 0, WS_OP_PONG, "p");
    wsconn_free(wc);
    free(s);
}
END_TEST

/* expect_violation: one bad client frame (then a good one that must not
 * be read) makes the server close with `code`. */
static void expect_violation(uint8_t opcode, int flags, const char *payload, size_t len,
                             uint16_t code)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, opcode, flags, payload, len);
    add_frame(s, WS_OP_TEXT, 0, "after", 5);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 0);
    expect_close(s, wc, code);
    wsconn_free(wc);
    free(s);
}

START_TEST(test_wsconn_binary_closes_1003)
{
    expect_violation(WS_OP_BINARY, 0, "\x00\x01", 2, 1003);
}
END_TEST

START_TEST(test_wsconn_unmasked_closes_1002)
{
    expect_violation(WS_OP_TEXT, WS_FRAME_UNMASKED, "{}", 2, 1002);
}
END_TEST

START_TEST(test_wsconn_invalid_utf8_closes_1007)
{
    expect_violation(WS_OP_TEXT, 0, "a\xc3(", 3, 1007);
    expect_violation(WS_OP_TEXT, 0, "\xed\xa0\x80", 3, 1007); /* a UTF-16 surrogate */
}
END_TEST

START_TEST(test_wsconn_bad_opcode_closes_1002)
{
    expect_violation(0x3, 0, "x", 1, 1002);        /* reserved opcode */
    expect_violation(WS_OP_CONT, 0, "x", 1, 1002); /* continuation of nothing */
}
END_TEST

/* add_raw: bytes as they are (a hand-made header), then a 4-byte mask key. */
static void add_raw(struct script *s, const void *bytes, size_t n)
{
    ck_assert_uint_le(s->in_len + n + 4, sizeof s->in);
    memcpy(s->in + s->in_len, bytes, n);
    memcpy(s->in + s->in_len + n, "\x11\x22\x33\x44", 4);
    s->in_len += n + 4;
}

/* expect_scripted_violation: a text before the bad frame is delivered, the
 * one after it is not, and the close carries `code`, read in one go and
 * again one byte per read. */
static void expect_scripted_violation(const uint8_t *bad, size_t n, uint16_t code)
{
    for (int split = 0; split < 2; split++) {
        struct script *s = script_new();
        struct wsconn *wc = wsconn_new(&io, s, &events, s, 1 << 20);
        add_frame(s, WS_OP_TEXT, 0, "before", 6);
        add_raw(s, bad, n);
        add_frame(s, WS_OP_TEXT, 0, "after", 5);
        s->chunk = split ? 1 : 0;
        for (int i = 0; i < 200 && s->in_off < s->in_len && !wsconn_closing(wc); i++)
            ck_assert_int_eq(wsconn_read(wc), 0);
        ck_assert_int_eq(wsconn_closing(wc), 1);
        ck_assert_uint_eq(s->ntexts, 1);
        ck_assert_str_eq(s->texts[0], "before");
        ck_assert_int_eq(wsconn_read_wanted(wc), 0);
        expect_close(s, wc, code);
        wsconn_free(wc);
        free(s);
    }
}

/* Errors wslay's frame layer would answer with a close without a code
 * (the peer would see 1005): each is a 1002 here. */
START_TEST(test_wsconn_frame_errors_close_1002)
{
    /* A fragmented ping, a ping of 126 bytes, a close of 126 bytes. */
    expect_scripted_violation((const uint8_t *) "\x09\x81", 2, 1002);
    expect_scripted_violation((const uint8_t *) "\x89\xfe\x00\x7e", 4, 1002);
    expect_scripted_violation((const uint8_t *) "\x88\xfe\x00\x7e", 4, 1002);
    /* A 64-bit length with the top bit set, and a non-minimal 16- and 64-bit length. */
    expect_scripted_violation((const uint8_t *) "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05", 10,
                              1002);
    expect_scripted_violation((const uint8_t *) "\x81\xfe\x00\x05", 4, 1002);
    expect_scripted_violation((const uint8_t *) "\x81\xff\x00\x00\x00\x00\x00\x00\x00\x05", 10,
                              1002);
    /* A close frame with a 1-byte payload (half a status code). */
    expect_scripted_violation((const uint8_t *) "\x88\x81", 2, 1002);
    /* The same through the ordinary path: a fragmented ping and a 1-byte close. */
    expect_violation(WS_OP_PING, WS_FRAME_NO_FIN, "x", 1, 1002);
    expect_violation(WS_OP_CLOSE, 0, "\x03", 1, 1002);
    char big[126];
    memset(big, 'p', sizeof big);
    expect_violation(WS_OP_PING, 0, big, sizeof big, 1002);
}
END_TEST

/* Legal headers the scanner must pass untouched: 16- and 64-bit lengths at
 * their smallest, a 125-byte ping, an empty close. */
START_TEST(test_wsconn_scanner_passes_good_frames)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1 << 20);
    static char payload[70000];
    memset(payload, 'a', sizeof payload);
    add_frame(s, WS_OP_TEXT, 0, payload, 126);
    add_frame(s, WS_OP_PING, 0, payload, 125);
    add_frame(s, WS_OP_TEXT, 0, payload, 65536);
    s->chunk = 1000;
    for (int i = 0; i < 200 && s->in_off < s->in_len; i++)
        ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 2);
    ck_assert_int_eq(s->alive, 3);
    ck_assert_int_eq(wsconn_closing(wc), 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
    struct ws_frame f;
    out_frame(s, 0, &f);
    ck_assert_int_eq(f.opcode, WS_OP_PONG);
    ck_assert_uint_eq(f.len, 125);
    ws_frame_free(&f);
    add_frame(s, WS_OP_CLOSE, 0, "", 0);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1); /* the peer's close, echoed without a code */
    ck_assert_int_eq(wsconn_write(wc), 0);
    out_frame(s, 1, &f);
    ck_assert_int_eq(f.opcode, WS_OP_CLOSE);
    ck_assert(f.close_code == 0 || f.close_code == 1005);
    ws_frame_free(&f);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* Pings: WSCONN_PING_BURST at once are answered, then one per second; one
 * more closes with 1008 (the close goes first; pongs still queued are
 * never sent). */
START_TEST(test_wsconn_ping_flood_closes_1008)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    for (int i = 0; i < WSCONN_PING_BURST; i++)
        add_frame(s, WS_OP_PING, 0, "", 0);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 0);
    ck_assert_int_eq(s->alive, WSCONN_PING_BURST);
    /* An empty pong still costs memory and counts. */
    ck_assert_uint_eq(wsconn_queued_bytes(wc), (size_t) WSCONN_PING_BURST * WSCONN_FRAME_COST);
    s->now_ms += 1000 / WSCONN_PING_RATE;
    add_frame(s, WS_OP_PING, 0, "k", 1);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 0);
    add_frame(s, WS_OP_PING, 0, "x", 1);
    add_frame(s, WS_OP_TEXT, 0, "after", 5);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_int_eq(s->alive, WSCONN_PING_BURST + 1);
    ck_assert_uint_eq(s->ntexts, 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
    expect_out_close(s, 0, 1008);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    wsconn_free(wc);
    free(s);
}
END_TEST

START_TEST(test_wsconn_too_big_closes_1009)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 100);
    char payload[101];
    memset(payload, 'x', sizeof payload);
    add_frame(s, WS_OP_TEXT, 0, payload, 100); /* exactly the limit: fine */
    add_frame(s, WS_OP_TEXT, 0, payload, 101);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 1);
    expect_close(s, wc, 1009);
    wsconn_free(wc);
    free(s);
}
END_TEST

START_TEST(test_wsconn_peer_close_is_echoed)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, WS_OP_CLOSE, 0, "\x03\xe8", 2);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_read_wanted(wc), 0);
    expect_close(s, wc, 1000);
    wsconn_free(wc);
    free(s);
}
END_TEST

START_TEST(test_wsconn_end_of_stream_is_an_error)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    s->eof = 1;
    ck_assert_int_eq(wsconn_read(wc), ERR_IO);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* A socket that takes 3 bytes at a time: the frames still arrive whole. */
START_TEST(test_wsconn_write_resumes_after_eagain)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    ck_assert_int_eq(wsconn_send_text(wc, "{\"type\":\"ACK\"}", 14), 0);
    ck_assert_int_eq(wsconn_ping(wc), 0);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 14 + 2 * WSCONN_FRAME_COST);
    int rounds = 0;
    while (wsconn_write_wanted(wc)) {
        s->send_budget = 3;
        ck_assert_int_eq(wsconn_write(wc), 0);
        ck_assert_int_lt(++rounds, 100);
    }
    ck_assert_int_gt(rounds, 3);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 0);
    expect_out(s, 0, WS_OP_PING, NULL); /* control frames go first */
    expect_out(s, 1, WS_OP_TEXT, "{\"type\":\"ACK\"}");
    wsconn_free(wc);
    free(s);
}
END_TEST

START_TEST(test_wsconn_close_stops_sending_and_reading)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    ck_assert_int_eq(wsconn_close(wc, 1008, "slow consumer"), 0);
    ck_assert_int_eq(wsconn_send_text(wc, "late", 4), ERR_IO);
    ck_assert_int_eq(wsconn_read_wanted(wc), 0);
    expect_close(s, wc, 1008);
    /* A pong counts as a sign of life. */
    struct script *t = script_new();
    struct wsconn *wt = wsconn_new(&io, t, &events, t, 1024);
    add_frame(t, WS_OP_PONG, 0, "", 0);
    ck_assert_int_eq(wsconn_read(wt), 0);
    ck_assert_int_eq(t->alive, 1);
    wsconn_free(wt);
    free(t);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* ------------------------------------------------ idle: no wslay context */

/* read_and_flush: what the relay does when the socket is readable: read,
 * then write what that queued (pongs). */
static void read_and_flush(struct wsconn *wc)
{
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
}

START_TEST(test_wsconn_idle_holds_no_context)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_read_wanted(wc), 1);
    ck_assert_int_eq(wsconn_write_wanted(wc), 0);
    ck_assert_int_eq(wsconn_finished(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 0);
    ck_assert_int_eq(wsconn_close_code(wc), 0);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_read(wc), 0); /* a wake-up with nothing to read */
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    add_frame(s, WS_OP_TEXT, 0, "one", 3);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 1);
    ck_assert_str_eq(s->texts[0], "one");
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_send_text(wc, "ack", 3), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    ck_assert_int_eq(wsconn_write_wanted(wc), 1);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_read_wanted(wc), 1);
    ck_assert_int_eq(wsconn_write_wanted(wc), 0);
    /* Half a frame header holds it; the rest of the frame gives it back. */
    add_frame(s, WS_OP_TEXT, 0, "two", 3);
    s->limit = s->in_len - 8;
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    s->limit = 0;
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 2);
    ck_assert_str_eq(s->texts[1], "two");
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    expect_out(s, 0, WS_OP_TEXT, "ack");
    wsconn_free(wc);
    free(s);
}
END_TEST

/* split_stream: three texts (one with a 16-bit length), a ping and a pong;
 * ends[] gets where each frame ends. Returns the number of frames. */
static size_t split_stream(struct script *s, size_t ends[5], char big[300])
{
    memset(big, 'b', 300);
    big[0] = '<';
    big[299] = '>';
    add_frame(s, WS_OP_TEXT, 0, "{\"type\":\"TEXT\"}", 15);
    ends[0] = s->in_len;
    add_frame(s, WS_OP_PING, 0, "p", 1);
    ends[1] = s->in_len;
    add_frame(s, WS_OP_TEXT, 0, big, 300);
    ends[2] = s->in_len;
    add_frame(s, WS_OP_PONG, 0, "", 0);
    ends[3] = s->in_len;
    add_frame(s, WS_OP_TEXT, 0, "end", 3);
    ends[4] = s->in_len;
    return 5;
}

static int at_frame_end(const size_t *ends, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++)
        if (ends[i] == k)
            return 1;
    return 0;
}

static void check_split_result(struct script *s, struct wsconn *wc, const char *big)
{
    ck_assert_uint_eq(s->ntexts, 3);
    ck_assert_str_eq(s->texts[0], "{\"type\":\"TEXT\"}");
    ck_assert_uint_eq(s->lens[1], 300);
    ck_assert_int_eq(memcmp(s->texts[1], big, 300), 0);
    ck_assert_str_eq(s->texts[2], "end");
    ck_assert_int_eq(s->alive, 5);
    expect_out(s, 0, WS_OP_PONG, "p");
    ck_assert_int_eq(wsconn_closing(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
}

/* The bytes cut at every point, the connection idle in between: the
 * context is held exactly while a frame is cut, and every message and the
 * pong come out whole. */
START_TEST(test_wsconn_split_at_every_byte_with_release)
{
    char big[300];
    size_t ends[5], total;
    {
        struct script *s = script_new();
        total = (split_stream(s, ends, big), s->in_len);
        free(s);
    }
    for (size_t k = 1; k < total; k++) {
        struct script *s = script_new();
        struct wsconn *wc = wsconn_new(&io, s, &events, s, 1 << 20);
        split_stream(s, ends, big);
        s->limit = k;
        read_and_flush(wc);
        ck_assert_msg(wsconn_has_context(wc) == !at_frame_end(ends, 5, k), "cut at %zu: context %d",
                      k, wsconn_has_context(wc));
        s->limit = 0;
        read_and_flush(wc);
        check_split_result(s, wc, big);
        wsconn_free(wc);
        free(s);
    }
    /* And one byte at a time on one connection. */
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1 << 20);
    split_stream(s, ends, big);
    for (size_t k = 1; k <= total; k++) {
        s->limit = k;
        read_and_flush(wc);
        ck_assert_msg(wsconn_has_context(wc) == !at_frame_end(ends, 5, k), "byte %zu: context %d",
                      k, wsconn_has_context(wc));
    }
    check_split_result(s, wc, big);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* A fragmented message keeps the context across idle gaps (wslay holds
 * its first part), control frames between its fragments included; a
 * character cut between fragments still decodes. */
START_TEST(test_wsconn_fragments_across_idle_gaps)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, WS_OP_TEXT, WS_FRAME_NO_FIN, "caf\xc3", 4);
    read_and_flush(wc);
    ck_assert_uint_eq(s->ntexts, 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    add_frame(s, WS_OP_PING, 0, "x", 1);
    read_and_flush(wc);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    expect_out(s, 0, WS_OP_PONG, "x");
    add_frame(s, WS_OP_CONT, WS_FRAME_NO_FIN, "\xa9 ", 2);
    read_and_flush(wc);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    add_frame(s, WS_OP_CONT, 0, "ok", 2);
    read_and_flush(wc);
    ck_assert_uint_eq(s->ntexts, 1);
    ck_assert_str_eq(s->texts[0], "caf\xc3\xa9 ok");
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    /* The next fragmented message, after the release, with an invalid
     * sequence cut between its fragments: 1007. */
    add_frame(s, WS_OP_TEXT, WS_FRAME_NO_FIN, "a\xc3", 2);
    read_and_flush(wc);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    add_frame(s, WS_OP_CONT, 0, "(", 1);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_int_eq(wsconn_write(wc), 0);
    expect_out_close(s, 1, 1007);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    ck_assert_uint_eq(s->ntexts, 1);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* After a release: a ping is answered, a pong is a sign of life, the
 * peer's close is echoed; and a close of ours keeps the context to the end. */
START_TEST(test_wsconn_ping_and_close_after_release)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    add_frame(s, WS_OP_TEXT, 0, "hi", 2);
    read_and_flush(wc);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    add_frame(s, WS_OP_PING, 0, "k", 1);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1); /* the pong is queued */
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 1 + WSCONN_FRAME_COST);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    add_frame(s, WS_OP_PONG, 0, "", 0);
    read_and_flush(wc);
    ck_assert_int_eq(s->alive, 3);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    add_frame(s, WS_OP_CLOSE, 0, "\x03\xe8", 2);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_int_eq(wsconn_read_wanted(wc), 0);
    ck_assert_int_eq(wsconn_send_text(wc, "late", 4), ERR_IO);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    ck_assert_int_eq(wsconn_close_code(wc), 1000);
    expect_out(s, 0, WS_OP_PONG, NULL);
    expect_out_close(s, 1, 1000);
    wsconn_free(wc);
    free(s);

    /* Our close on an idle connection, the server's keepalive ping first. */
    s = script_new();
    wc = wsconn_new(&io, s, &events, s, 1024);
    ck_assert_int_eq(wsconn_ping(wc), 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_close(wc, 1001, "going away"), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_int_eq(wsconn_read_wanted(wc), 0);
    ck_assert_int_eq(wsconn_close(wc, 1011, "again"), 0); /* a no-op */
    ck_assert_int_eq(wsconn_ping(wc), ERR_IO);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    ck_assert_int_eq(wsconn_has_context(wc), 1); /* closed: kept to the end */
    ck_assert_int_eq(wsconn_close_code(wc), 1001);
    expect_out(s, 0, WS_OP_PING, NULL);
    expect_out_close(s, 1, 1001);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* Output queued on an idle connection to a socket that is full: the
 * context stays until the last byte is out; reading meanwhile is fine. */
START_TEST(test_wsconn_output_queued_while_idle)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    s->send_budget = 0;
    ck_assert_int_eq(wsconn_send_text(wc, "{\"type\":\"MESSAGE\"}", 18), 0);
    ck_assert_int_eq(wsconn_ping(wc), 0);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 18 + 2 * WSCONN_FRAME_COST);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    ck_assert_int_eq(wsconn_write_wanted(wc), 1);
    add_frame(s, WS_OP_TEXT, 0, "in", 2);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_uint_eq(s->ntexts, 1);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    int rounds = 0;
    while (wsconn_write_wanted(wc)) {
        s->send_budget = 5;
        ck_assert_int_eq(wsconn_write(wc), 0);
        ck_assert_int_eq(wsconn_has_context(wc), wsconn_write_wanted(wc));
        ck_assert_int_lt(++rounds, 100);
    }
    ck_assert_int_gt(rounds, 3);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 0);
    expect_out(s, 0, WS_OP_PING, NULL);
    expect_out(s, 1, WS_OP_TEXT, "{\"type\":\"MESSAGE\"}");
    wsconn_free(wc);
    free(s);
}
END_TEST

/* Messages bigger than wslay's 4 KiB input buffer, in and out, a piece
 * per read or write, with idle before and after. */
START_TEST(test_wsconn_large_message_across_reads)
{
    enum { BIG = 10000 };
    static char big[BIG];
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char) ('a' + i % 26);
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1 << 20);
    add_frame(s, WS_OP_TEXT, 0, big, BIG);
    add_frame(s, WS_OP_TEXT, 0, "next", 4);
    size_t total = s->in_len;
    for (size_t k = 1000; k < total; k += 1000) {
        s->limit = k;
        read_and_flush(wc);
        ck_assert_int_eq(wsconn_has_context(wc), 1);
        ck_assert_uint_eq(s->ntexts, 0);
    }
    s->limit = 0;
    read_and_flush(wc);
    ck_assert_uint_eq(s->ntexts, 2);
    ck_assert_uint_eq(s->lens[0], BIG);
    ck_assert_int_eq(memcmp(s->texts[0], big, sizeof s->texts[0] - 1), 0);
    ck_assert_str_eq(s->texts[1], "next");
    ck_assert_int_eq(wsconn_has_context(wc), 0);

    s->send_budget = 0;
    ck_assert_int_eq(wsconn_send_text(wc, big, BIG), 0);
    int rounds = 0;
    while (wsconn_write_wanted(wc)) {
        s->send_budget = 3000;
        ck_assert_int_eq(wsconn_write(wc), 0);
        ck_assert_int_lt(++rounds, 100);
    }
    ck_assert_int_ge(rounds, 4);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    struct ws_frame f;
    out_frame(s, 0, &f);
    ck_assert_int_eq(f.opcode, WS_OP_TEXT);
    ck_assert_uint_eq(f.len, BIG);
    ck_assert_int_eq(memcmp(f.payload, big, BIG), 0);
    ws_frame_free(&f);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* expect_violation_after_idle: a message, the connection idle, then the
 * bad frame (made by add): it closes with `code` and nothing after it is
 * delivered. */
static void expect_violation_after_idle(void (*add)(struct script *), size_t max_msg, uint16_t code)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, max_msg);
    add_frame(s, WS_OP_TEXT, 0, "before", 6);
    read_and_flush(wc);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    add(s);
    add_frame(s, WS_OP_TEXT, 0, "after", 5);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_uint_eq(s->ntexts, 1);
    ck_assert_int_eq(wsconn_read_wanted(wc), 0);
    expect_close(s, wc, code);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    wsconn_free(wc);
    free(s);
}

static void add_binary(struct script *s)
{
    add_frame(s, WS_OP_BINARY, 0, "\x00\x01", 2);
}

static void add_unmasked(struct script *s)
{
    add_frame(s, WS_OP_TEXT, WS_FRAME_UNMASKED, "{}", 2);
}

static void add_too_big(struct script *s)
{
    char payload[101];
    memset(payload, 'x', sizeof payload);
    add_frame(s, WS_OP_TEXT, 0, payload, sizeof payload);
}

static void add_half_close(struct script *s)
{
    add_raw(s, "\x88\x81", 2);
}

static void add_long_ping(struct script *s)
{
    add_raw(s, "\x89\xfe\x00\x7e", 4);
}

static void add_stray_continuation(struct script *s)
{
    add_frame(s, WS_OP_CONT, 0, "x", 1);
}

START_TEST(test_wsconn_violations_after_release)
{
    expect_violation_after_idle(add_binary, 1024, 1003);
    expect_violation_after_idle(add_unmasked, 1024, 1002);
    expect_violation_after_idle(add_too_big, 100, 1009);
    expect_violation_after_idle(add_half_close, 1024, 1002);
    expect_violation_after_idle(add_long_ping, 1024, 1002);
    expect_violation_after_idle(add_stray_continuation, 1024, 1002);
}
END_TEST

/* The ping rate limit is the connection's, not the context's: pings one
 * per read, each answered and the context released, still run out. */
START_TEST(test_wsconn_ping_limit_survives_release)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    for (int i = 0; i < WSCONN_PING_BURST; i++) {
        add_frame(s, WS_OP_PING, 0, "", 0);
        read_and_flush(wc);
        ck_assert_int_eq(wsconn_closing(wc), 0);
        ck_assert_int_eq(wsconn_has_context(wc), 0);
    }
    add_frame(s, WS_OP_PING, 0, "", 0);
    add_frame(s, WS_OP_TEXT, 0, "after", 5);
    ck_assert_int_eq(wsconn_read(wc), 0);
    ck_assert_int_eq(wsconn_closing(wc), 1);
    ck_assert_uint_eq(s->ntexts, 0);
    ck_assert_int_eq(wsconn_write(wc), 0);
    expect_out_close(s, WSCONN_PING_BURST, 1008);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    wsconn_free(wc);
    free(s);
}
END_TEST

/* A context given back is taken by the next connection that needs one: it
 * carries that connection's limit and calls back that connection only;
 * the pool keeps a bounded number. */
START_TEST(test_wsconn_context_reused_by_next_connection)
{
    struct script *sa = script_new(), *sb = script_new();
    struct wsconn *a = wsconn_new(&io, sa, &events, sa, 1 << 20);
    struct wsconn *b = wsconn_new(&io, sb, &events, sb, 100);
    add_frame(sa, WS_OP_TEXT, 0, "from a", 6);
    read_and_flush(a);
    ck_assert_int_eq(wsconn_has_context(a), 0);
    size_t pooled = wsconn_pool_size();
    ck_assert_uint_ge(pooled, 1);
    char payload[101];
    memset(payload, 'x', sizeof payload);
    add_frame(sb, WS_OP_TEXT, 0, payload, sizeof payload);
    ck_assert_int_eq(wsconn_read(b), 0);
    ck_assert_uint_eq(wsconn_pool_size(), pooled - 1);
    ck_assert_uint_eq(sb->ntexts, 0);
    expect_close(sb, b, 1009);
    ck_assert_uint_eq(sa->ntexts, 1);
    ck_assert_uint_eq(sa->out_len, 0);
    add_frame(sa, WS_OP_TEXT, 0, "again", 5);
    add_frame(sa, WS_OP_PING, 0, "q", 1);
    read_and_flush(a);
    ck_assert_uint_eq(sa->ntexts, 2);
    ck_assert_str_eq(sa->texts[1], "again");
    expect_out(sa, 0, WS_OP_PONG, NULL);
    wsconn_free(b); /* closed: its context is freed, not pooled */
    ck_assert_uint_eq(wsconn_pool_size(), pooled);
    wsconn_free(a);
    free(sa);
    free(sb);

    /* Forty connections with output queued at once, then all sent. */
    struct script *s = script_new();
    struct wsconn *many[40];
    s->send_budget = 0;
    for (int i = 0; i < 40; i++) {
        many[i] = wsconn_new(&io, s, &events, s, 1024);
        ck_assert_int_eq(wsconn_send_text(many[i], "x", 1), 0);
    }
    ck_assert_uint_eq(wsconn_pool_size(), 0);
    s->send_budget = SIZE_MAX;
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(wsconn_write(many[i]), 0);
        ck_assert_int_eq(wsconn_has_context(many[i]), 0);
    }
    ck_assert_uint_gt(wsconn_pool_size(), 0);
    ck_assert_uint_le(wsconn_pool_size(), 16);
    for (int i = 0; i < 40; i++)
        wsconn_free(many[i]);
    free(s);
}
END_TEST

/* The keepalive ping of an idle connection takes no context: written a
 * byte at a time into a full socket, it still goes whole and before what
 * was queued after it; a second ping while it is on its way adds nothing. */
START_TEST(test_wsconn_idle_ping_takes_no_context)
{
    struct script *s = script_new();
    struct wsconn *wc = wsconn_new(&io, s, &events, s, 1024);
    s->send_budget = 0;
    ck_assert_int_eq(wsconn_ping(wc), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_int_eq(wsconn_write_wanted(wc), 1);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), WSCONN_FRAME_COST);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_write_wanted(wc), 1);
    s->send_budget = 1;
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_uint_eq(s->out_len, 1);
    ck_assert_int_eq(wsconn_ping(wc), 0); /* the half-written one stands for it */
    ck_assert_int_eq(wsconn_send_text(wc, "after", 5), 0);
    ck_assert_int_eq(wsconn_has_context(wc), 1);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 5 + 2 * WSCONN_FRAME_COST);
    int rounds = 0;
    while (wsconn_write_wanted(wc)) {
        s->send_budget = 1;
        ck_assert_int_eq(wsconn_write(wc), 0);
        ck_assert_int_lt(++rounds, 100);
    }
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    ck_assert_uint_eq(wsconn_queued_bytes(wc), 0);
    expect_out(s, 0, WS_OP_PING, "");
    expect_out(s, 1, WS_OP_TEXT, "after");
    ck_assert_uint_eq(s->out_len, 2 + 2 + 5);
    /* The peer's pong, then our close with a ping still waiting: the ping
     * goes first, the connection is finished only once both are out. */
    add_frame(s, WS_OP_PONG, 0, "", 0);
    read_and_flush(wc);
    ck_assert_int_eq(s->alive, 1);
    ck_assert_int_eq(wsconn_has_context(wc), 0);
    s->send_budget = 0;
    ck_assert_int_eq(wsconn_ping(wc), 0);
    ck_assert_int_eq(wsconn_close(wc, 1001, "going away"), 0);
    ck_assert_int_eq(wsconn_ping(wc), ERR_IO);
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_finished(wc), 0);
    s->send_budget = SIZE_MAX;
    ck_assert_int_eq(wsconn_write(wc), 0);
    ck_assert_int_eq(wsconn_finished(wc), 1);
    expect_out(s, 2, WS_OP_PING, "");
    expect_out_close(s, 3, 1001);
    wsconn_free(wc);
    free(s);
}
END_TEST

Suite *wsconn_suite(void)
{
    Suite *s = suite_create("wsconn");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, test_wsconn_text_across_split_reads);
    tcase_add_test(tc, test_wsconn_fragments_make_one_message);
    tcase_add_test(tc, test_wsconn_binary_closes_1003);
    tcase_add_test(tc, test_wsconn_unmasked_closes_1002);
    tcase_add_test(tc, test_wsconn_invalid_utf8_closes_1007);
    tcase_add_test(tc, test_wsconn_bad_opcode_closes_1002);
    tcase_add_test(tc, test_wsconn_frame_errors_close_1002);
    tcase_add_test(tc, test_wsconn_scanner_passes_good_frames);
    tcase_add_test(tc, test_wsconn_ping_flood_closes_1008);
    tcase_add_test(tc, test_wsconn_too_big_closes_1009);
    tcase_add_test(tc, test_wsconn_peer_close_is_echoed);
    tcase_add_test(tc, test_wsconn_end_of_stream_is_an_error);
    tcase_add_test(tc, test_wsconn_write_resumes_after_eagain);
    tcase_add_test(tc, test_wsconn_close_stops_sending_and_reading);
    suite_add_tcase(s, tc);
    TCase *idle = tcase_create("idle");
    tcase_add_test(idle, test_wsconn_idle_holds_no_context);
    tcase_add_test(idle, test_wsconn_split_at_every_byte_with_release);
    tcase_add_test(idle, test_wsconn_fragments_across_idle_gaps);
    tcase_add_test(idle, test_wsconn_ping_and_close_after_release);
    tcase_add_test(idle, test_wsconn_output_queued_while_idle);
    tcase_add_test(idle, test_wsconn_large_message_across_reads);
    tcase_add_test(idle, test_wsconn_violations_after_release);
    tcase_add_test(idle, test_wsconn_ping_limit_survives_release);
    tcase_add_test(idle, test_wsconn_context_reused_by_next_connection);
    tcase_add_test(idle, test_wsconn_idle_ping_takes_no_context);
    suite_add_tcase(s, idle);
    return s;
}
