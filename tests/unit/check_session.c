/*
 * check_session.c - the chat protocol of the relay without a database or
 * a network: clients are socketpairs adopted by the real transport, they
 * send scripted WebSocket frames, and the work queues have no thread, so
 * the test runs each job by hand (workq_run_one) against fake membership,
 * lookups and writes. Covered: ENTER and its ENTERED, commands waiting
 * for a membership answer, not_member and unavailable, TEXT and IMAGE
 * stored (ACK to the sender, MESSAGE to the others), a failed batch and a
 * batch cancelled at shutdown (ERROR, never ACK), LEAVE, and a `since`
 * replay merged with a live message in seq order.
 */
#include "admission.h"
#include "errors.h"
#include "ev.h"
#include "fanout.h"
#include "lastseq.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "transport.h"
#include "workq.h"
#include "writer.h"
#include "ws_client.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------- the fakes */

#define ROOM_NOT_MEMBER  9
#define ROOM_UNAVAILABLE 13

static int64_t fake_last;     /* every room's stored messages are 1..fake_last */
static int64_t fake_next_seq; /* the next seq the fake writer gives */
static int fake_write_rc;     /* 0, or the store error of every write */

static int fake_is_member(void *ctx, int64_t room_id, int64_t user_id, int64_t *peer)
{
    (void) ctx;
    (void) user_id;
    *peer = 0;
    if (room_id == ROOM_UNAVAILABLE)
        return ERR_UNAVAILABLE;
    return room_id != ROOM_NOT_MEMBER;
}

static int fake_last_seq(void *ctx, int64_t room_id, int64_t *last)
{
    (void) ctx;
    (void) room_id;
    *last = fake_last;
    return 0;
}

static int fake_page(void *arg, int64_t room_id, int64_t after, size_t limit,
                     struct chat_message **msgs, size_t *n, int *more)
{
    (void) arg;
    *n = 0;
    *more = 0;
    *msgs = calloc(limit, sizeof **msgs);
    if (!*msgs)
        return ERR_NOMEM;
    for (int64_t seq = after + 1; seq <= fake_last && *n < limit; seq++) {
        struct chat_message *m = &(*msgs)[(*n)++];
        snprintf(m->id, sizeof m->id, "%024lld", (long long) seq);
        m->room_id = room_id;
        m->seq = seq;
        m->sender_id = 1;
        m->type = CHAT_TEXT;
        m->message = strdup("old");
        m->client_msg_id = strdup("old");
        m->created_at_ms = 1000;
    }
    return 0;
}

static const struct fanout_source fake_source = {fake_last_seq, fake_last_seq, fake_page};

static int fake_write(void *arg, struct outmsg **batch, size_t n)
{
    (void) arg;
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[i];
        if (fake_write_rc) {
            om->status = fake_write_rc;
            continue;
        }
        om->m.seq = fake_next_seq++;
        snprintf(om->m.id, sizeof om->m.id, "%024lld", (long long) om->m.seq);
        om->m.created_at_ms = 2000;
        om->status = OUTMSG_STORED;
    }
    return fake_write_rc == ERR_UNAVAILABLE ? ERR_UNAVAILABLE : 0;
}

/* ------------------------------------------------------------ the harness */

static struct {
    struct config cfg;
    struct ev_loop *loop;
    struct admission adm;
    struct metrics metrics;
    struct lastseq ls;
    int pfd[2];
    struct workq *sqlq, *mongoq, *writerq;
    struct transport *t;
    struct writer *w;
    struct fanout *fo;
    struct sessions *ss;
} h;

static void on_request(void *arg, struct conn *c, int rc)
{
    (void) arg;
    (void) c;
    (void) rc;
    ck_abort_msg("no HTTP request expected");
}

static void on_text(void *arg, struct conn *c, const char *text, size_t len)
{
    (void) arg;
    session_text(h.ss, c, text, len);
}

static void on_freeing(void *arg, struct conn *c)
{
    (void) arg;
    session_close(h.ss, c);
}

static void on_batch_done(void *arg, struct outmsg **batch, size_t n)
{
    (void) arg;
    session_write_done(h.ss, batch, n);
}

static void on_failed(void *arg, struct outmsg *om, const char *why)
{
    (void) arg;
    session_write_failed(h.ss, om, why);
}

static const struct transport_events tev = {on_request, on_text, on_freeing};
static const struct writer_events wev = {on_batch_done, on_failed};

static void before_sleep(struct ev_loop *loop, void *data)
{
    (void) loop;
    (void) data;
    transport_before_sleep(h.t);
}

static void setup(void)
{
    memset(&h, 0, sizeof h);
    log_init("check_session", "error"); /* ws_end and friends are noise here */
    fake_last = 0;
    fake_next_seq = 1;
    fake_write_rc = 0;
    h.cfg.max_outbuf_bytes = 1 << 20;
    h.cfg.max_message_bytes = 1 << 16;
    h.cfg.max_text_chars = 1000;
    h.cfg.rate_per_sec = 100;
    h.cfg.rate_burst = 100;
    h.cfg.max_rooms_per_conn = 4;
    h.cfg.max_pending_messages = 100;
    h.cfg.write_batch_max = 100;
    h.cfg.handshake_timeout = 10;
    h.cfg.pong_timeout = 60;
    h.cfg.ping_interval = 30;
    ck_assert_ptr_nonnull(h.loop = ev_new());
    ev_set_before_sleep(h.loop, before_sleep, NULL);
    admission_init(&h.adm, 16, 0, 0, 20);
    lastseq_init(&h.ls);
    ck_assert_int_eq(pipe2(h.pfd, O_CLOEXEC | O_NONBLOCK), 0);
    h.sqlq = workq_new(0, NULL, NULL, NULL, h.pfd[1]);
    h.mongoq = workq_new(0, NULL, NULL, NULL, h.pfd[1]);
    h.writerq = workq_new(0, NULL, NULL, NULL, h.pfd[1]);
    h.t = transport_new(&h.cfg, h.loop, &h.adm, &h.metrics, &tev, NULL);
    h.w = writer_new(&h.cfg, h.writerq, NULL, NULL, NULL, &h.ls, &h.metrics, &wev, NULL);
    h.fo = fanout_new(&h.cfg, h.loop, h.t, h.sqlq, h.mongoq, NULL, &h.metrics, &h.ls, NULL);
    h.ss = sessions_new(&h.cfg, h.t, h.w, h.fo, h.sqlq, &h.metrics);
    ck_assert(h.sqlq && h.mongoq && h.writerq && h.t && h.w && h.fo && h.ss);
    writer_set_write(h.w, fake_write, NULL);
    fanout_set_source(h.fo, &fake_source, NULL);
    sessions_set_membership(h.ss, fake_is_member);
}

static void teardown(void)
{
    transport_free(h.t);
    ck_assert_int_eq(workq_free(h.sqlq, 1000), 0);
    ck_assert_int_eq(workq_free(h.mongoq, 1000), 0);
    ck_assert_int_eq(workq_free(h.writerq, 1000), 0);
    writer_free(h.w);
    sessions_free(h.ss);
    fanout_free(h.fo);
    lastseq_deinit(&h.ls);
    admission_deinit(&h.adm);
    ev_free(h.loop);
    close(h.pfd[0]);
    close(h.pfd[1]);
}

/* pump: two loop turns: read what clients sent, then flush the answers. */
static void pump(void)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(ev_run_once(h.loop, 0), 0);
}

/* run_jobs: run every job queued on q (and those their completions queue). */
static void run_jobs(struct workq *q)
{
    while (workq_run_one(q, NULL) == 0) {
    }
    pump();
}

/* write_batch: hand the queue to the writer and complete its batch. */
static void write_batch(void)
{
    writer_kick(h.w);
    ck_assert_int_eq(workq_run_one(h.writerq, NULL), 0);
    pump();
}

struct client {
    int fd;
    struct conn *c;
    uint8_t buf[1 << 16];
    size_t len;
};

static void client_open(struct client *cl, int64_t user_id)
{
    int sv[2];
    memset(cl, 0, sizeof *cl);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    cl->fd = sv[0];
    ck_assert_ptr_nonnull(cl->c = transport_accept(h.t, sv[1], NULL, 0));
    ck_assert_int_eq(transport_upgrade(cl->c, user_id), 0);
    session_open(h.ss, cl->c);
    transport_start(cl->c);
    pump();
    /* The 101 answer comes first. */
    ssize_t n = read(cl->fd, cl->buf, sizeof cl->buf);
    ck_assert_int_gt(n, 0);
    cl->len = (size_t) n;
    uint8_t *end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull(end);
    ck_assert(memcmp(cl->buf, "HTTP/1.1 101 ", 13) == 0);
    size_t head = (size_t) (end + 4 - cl->buf);
    memmove(cl->buf, cl->buf + head, cl->len - head);
    cl->len -= head;
}

static void client_close(struct client *cl)
{
    close(cl->fd);
}

static void say(struct client *cl, const char *json)
{
    uint8_t frame[4096];
    size_t n = ws_frame_encode(frame, sizeof frame, WS_OP_TEXT, 0, json, strlen(json));
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(write(cl->fd, frame, n), (ssize_t) n);
    pump();
}

/* raw_frame: the client's next frame of any kind (ws_frame_free it); 0
 * when one was decoded, -1 when none is complete. */
static int raw_frame(struct client *cl, struct ws_frame *f)
{
    ssize_t n;
    while (cl->len < sizeof cl->buf &&
           (n = read(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len)) > 0)
        cl->len += (size_t) n;
    long used = ws_frame_decode(cl->buf, cl->len, sizeof cl->buf, f);
    ck_assert_int_ge(used, 0);
    if (used == 0)
        return -1;
    memmove(cl->buf, cl->buf + used, cl->len - (size_t) used);
    cl->len -= (size_t) used;
    return 0;
}

/* next: the client's next frame as JSON (cJSON_Delete it), NULL if none. */
static cJSON *next(struct client *cl)
{
    struct ws_frame f;
    if (raw_frame(cl, &f) != 0)
        return NULL;
    ck_assert_int_eq(f.opcode, WS_OP_TEXT);
    cJSON *o = cJSON_Parse((const char *) f.payload);
    ws_frame_free(&f);
    ck_assert_ptr_nonnull(o);
    return o;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* expect: the next frame is of type `type`; returned for more checks. */
static cJSON *expect(struct client *cl, const char *type)
{
    cJSON *o = next(cl);
    ck_assert_msg(o != NULL, "expected %s, got nothing", type);
    ck_assert_str_eq(str_of(o, "type"), type);
    return o;
}

static void expect_error(struct client *cl, const char *code, const char *message)
{
    cJSON *o = expect(cl, "ERROR");
    ck_assert_str_eq(str_of(o, "code"), code);
    if (message)
        ck_assert_str_eq(str_of(o, "message"), message);
    cJSON_Delete(o);
}

static void expect_nothing(struct client *cl)
{
    cJSON *o = next(cl);
    ck_assert_msg(o == NULL, "unexpected frame of type %s", o ? str_of(o, "type") : "");
}

/* enter: ENTER room, membership and lookup answered; ENTERED checked. */
static void enter(struct client *cl, int64_t room, int64_t last)
{
    char json[128];
    snprintf(json, sizeof json, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) room);
    say(cl, json);
    run_jobs(h.sqlq);
    cJSON *o = expect(cl, "ENTERED");
    ck_assert_int_eq((int64_t) num_of(o, "chatRoomId"), room);
    ck_assert_int_eq((int64_t) num_of(o, "lastSeq"), last);
    cJSON_Delete(o);
}

/* pair_open: users 1 (a) and 2 (b) connected, both in room 1. */
static void pair_open(struct client *a, struct client *b)
{
    client_open(a, 1);
    client_open(b, 2);
    enter(a, 1, fake_last);
    enter(b, 1, fake_last);
}

static void pair_close(struct client *a, struct client *b)
{
    client_close(a);
    client_close(b);
}

static const char *text_json(int64_t room, const char *cmid, const char *msg)
{
    static char json[256];
    snprintf(
        json, sizeof json,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"clientMsgId\":\"%s\",\"message\":\"%s\"}",
        (long long) room, cmid, msg);
    return json;
}

/* ----------------------------------------------------------------- tests */

START_TEST(test_session_text_acked_and_delivered)
{
    struct client a, b;
    pair_open(&a, &b);
    say(&a, text_json(1, "c-1", "hello"));
    ck_assert_uint_eq(writer_queued(h.w), 1);
    expect_nothing(&a); /* nothing before the store says so */
    expect_nothing(&b);
    write_batch();
    cJSON *o = expect(&a, "ACK");
    ck_assert_str_eq(str_of(o, "clientMsgId"), "c-1");
    ck_assert_int_eq((int64_t) num_of(o, "seq"), 1);
    cJSON_Delete(o);
    o = expect(&b, "MESSAGE");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "chatMessage");
    ck_assert_str_eq(str_of(m, "message"), "hello");
    ck_assert_int_eq((int64_t) num_of(m, "seq"), 1);
    cJSON_Delete(o);
    expect_nothing(&a); /* the sender gets no MESSAGE of its own */
    ck_assert_uint_eq(h.metrics.acks, 1);
    ck_assert_uint_eq(h.metrics.messages_stored, 1);
    pair_close(&a, &b);
}
END_TEST

START_TEST(test_session_image)
{
    struct client a, b;
    pair_open(&a, &b);
    say(&a, "{\"chatType\":\"IMAGE\",\"chatRoomId\":1,\"clientMsgId\":\"i-1\","
            "\"imageUrl\":\"https://x.example/a.png\",\"imageName\":\"a.png\"}");
    write_batch();
    cJSON *o = expect(&a, "ACK");
    ck_assert_str_eq(str_of(o, "clientMsgId"), "i-1");
    cJSON_Delete(o);
    o = expect(&b, "MESSAGE");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "chatMessage");
    ck_assert_str_eq(str_of(m, "imageUrl"), "https://x.example/a.png");
    ck_assert_str_eq(str_of(m, "imageName"), "a.png");
    cJSON_Delete(o);
    pair_close(&a, &b);
}
END_TEST

START_TEST(test_session_commands_wait_for_membership)
{
    struct client a;
    client_open(&a, 1);
    say(&a, "{\"chatType\":\"ENTER\",\"chatRoomId\":2}");
    say(&a, text_json(2, "c-1", "after enter"));
    /* The TEXT waits behind the ENTER's membership check. */
    ck_assert_uint_eq(writer_queued(h.w), 0);
    expect_nothing(&a);
    run_jobs(h.sqlq);
    cJSON *o = expect(&a, "ENTERED");
    cJSON_Delete(o);
    ck_assert_uint_eq(writer_queued(h.w), 1);
    /* Membership is cached now: no further check. */
    say(&a, text_json(2, "c-2", "cached"));
    ck_assert_uint_eq(writer_queued(h.w), 2);
    ck_assert_int_eq(workq_run_one(h.sqlq, NULL), ERR_NOT_FOUND);
    client_close(&a);
}
END_TEST

START_TEST(test_session_membership_answers)
{
    struct client a;
    client_open(&a, 1);
    say(&a, "{\"chatType\":\"ENTER\",\"chatRoomId\":9}");
    run_jobs(h.sqlq);
    expect_error(&a, "not_member", "you are not a member of this room");
    say(&a, text_json(ROOM_NOT_MEMBER, "c-1", "x"));
    run_jobs(h.sqlq);
    expect_error(&a, "not_member", NULL);
    say(&a, "{\"chatType\":\"ENTER\",\"chatRoomId\":13}");
    run_jobs(h.sqlq);
    expect_error(&a, "unavailable", "membership cannot be checked now, retry later");
    ck_assert_uint_eq(writer_queued(h.w), 0);
    ck_assert_uint_eq(h.metrics.refusals[REFUSE_NOT_MEMBER], 2);
    client_close(&a);
}
END_TEST

START_TEST(test_session_failed_batch)
{
    struct client a, b;
    pair_open(&a, &b);
    fake_write_rc = ERR_UNAVAILABLE;
    say(&a, text_json(1, "c-1", "lost"));
    write_batch();
    cJSON *o = expect(&a, "ERROR");
    ck_assert_str_eq(str_of(o, "code"), "unavailable");
    ck_assert_str_eq(str_of(o, "clientMsgId"), "c-1");
    cJSON_Delete(o);
    expect_nothing(&a);
    expect_nothing(&b); /* nothing stored, nothing delivered */
    ck_assert_uint_eq(h.metrics.acks, 0);
    pair_close(&a, &b);
}
END_TEST

START_TEST(test_session_cancelled_batch_is_error)
{
    struct client a, b;
    pair_open(&a, &b);
    say(&a, text_json(1, "c-1", "never written"));
    writer_kick(h.w); /* the batch is out, and never runs: */
    ck_assert_int_eq(workq_free(h.writerq, 1000), 0);
    h.writerq = NULL;
    pump();
    cJSON *o = expect(&a, "ERROR");
    ck_assert_str_eq(str_of(o, "code"), "unavailable");
    ck_assert_str_eq(str_of(o, "message"), "server shutting down, retry later");
    ck_assert_str_eq(str_of(o, "clientMsgId"), "c-1");
    cJSON_Delete(o);
    expect_nothing(&a);
    expect_nothing(&b);
    ck_assert_uint_eq(h.metrics.acks, 0);
    ck_assert_uint_eq(h.metrics.messages_stored, 0);
    pair_close(&a, &b);
}
END_TEST

START_TEST(test_session_leave)
{
    struct client a, b;
    pair_open(&a, &b);
    say(&a, "{\"chatType\":\"LEAVE\",\"chatRoomId\":1}");
    cJSON *o = expect(&a, "LEFT");
    ck_assert_int_eq((int64_t) num_of(o, "chatRoomId"), 1);
    cJSON_Delete(o);
    say(&b, text_json(1, "c-1", "anyone?"));
    write_batch();
    cJSON_Delete(expect(&b, "ACK"));
    expect_nothing(&a); /* it left */
    pair_close(&a, &b);
}
END_TEST

START_TEST(test_session_replay_merges_live)
{
    struct client a, b;
    fake_last = 3; /* seqs 1..3 are stored */
    fake_next_seq = 4;
    client_open(&a, 1);
    client_open(&b, 2);
    enter(&a, 1, 3);
    say(&b, "{\"chatType\":\"ENTER\",\"chatRoomId\":1,\"since\":0}");
    run_jobs(h.sqlq); /* membership, then the room's last seq; the page waits */
    expect_nothing(&b);
    /* A live message is stored while the replay page is outstanding. */
    say(&a, text_json(1, "c-4", "live"));
    write_batch();
    cJSON_Delete(expect(&a, "ACK"));
    expect_nothing(&b); /* held until the replay caught up */
    run_jobs(h.mongoq);
    cJSON *o = expect(&b, "ENTERED");
    ck_assert_int_eq((int64_t) num_of(o, "lastSeq"), 3);
    cJSON_Delete(o);
    for (int64_t seq = 1; seq <= 4; seq++) {
        o = expect(&b, "MESSAGE");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "chatMessage");
        ck_assert_int_eq((int64_t) num_of(m, "seq"), seq);
        ck_assert_str_eq(str_of(m, "message"), seq == 4 ? "live" : "old");
        cJSON_Delete(o);
    }
    expect_nothing(&b);
    pair_close(&a, &b);
}
END_TEST

/* ------------------------------------------- the connection's output */

/* numbered: a frame {"n":i,"pad":"xx..."} of about size bytes in buf. */
static size_t numbered(char *buf, size_t cap, int i, size_t size)
{
    int head = snprintf(buf, cap, "{\"n\":%d,\"pad\":\"", i);
    size_t pad = size > (size_t) head + 2 ? size - (size_t) head - 2 : 0;
    ck_assert_uint_lt((size_t) head + pad + 3, cap);
    memset(buf + head, 'x', pad);
    memcpy(buf + (size_t) head + pad, "\"}", 3);
    return (size_t) head + pad + 2;
}

/* Frames queued in one pass, of every header size, reach the client whole
 * and in the order they were queued. */
START_TEST(test_transport_frames_of_a_pass_in_order)
{
    static const size_t sizes[] = {20, 125, 126, 127, 300, 65535 - 1000, 4000, 30};
    static char frame[65536];
    struct client a;
    client_open(&a, 1);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t len = numbered(frame, sizeof frame, (int) i, sizes[i]);
            transport_send(a.c, frame, len);
        }
        pump();
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            struct ws_frame f;
            for (int tries = 0; tries < 100 && raw_frame(&a, &f) != 0; tries++)
                pump(); /* the big one may need several sends */
            ck_assert_int_eq(f.opcode, WS_OP_TEXT);
            ck_assert_int_eq(f.fin, 1);
            cJSON *o = cJSON_Parse((const char *) f.payload);
            ck_assert_ptr_nonnull(o);
            ck_assert_int_eq((int) num_of(o, "n"), (int) i);
            ck_assert_uint_eq(f.len, numbered(frame, sizeof frame, (int) i, sizes[i]));
            cJSON_Delete(o);
            ws_frame_free(&f);
        }
        expect_nothing(&a);
    }
    /* A sent buffer is released: an idle connection holds none. */
    ck_assert_ptr_null(a.c->out);
    client_close(&a);
}
END_TEST

/* The header of each payload length: 7 bits, 16 bits, 64 bits. */
START_TEST(test_transport_frame_header_lengths)
{
    uint8_t hdr[TRANSPORT_FRAME_HEADER_MAX];
    ck_assert_uint_eq(transport_frame_header(hdr, 125), 2);
    ck_assert(hdr[0] == 0x81 && hdr[1] == 125);
    ck_assert_uint_eq(transport_frame_header(hdr, 126), 4);
    ck_assert(hdr[1] == 126 && hdr[2] == 0 && hdr[3] == 126);
    ck_assert_uint_eq(transport_frame_header(hdr, 65535), 4);
    ck_assert(hdr[2] == 0xff && hdr[3] == 0xff);
    ck_assert_uint_eq(transport_frame_header(hdr, 65536), 10);
    static const uint8_t want[] = {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    ck_assert(memcmp(hdr, want, sizeof want) == 0);
}
END_TEST

/* A client that does not read is closed with 1008 once its unsent output
 * would pass max_outbuf_bytes; what was queued before still arrives, in
 * order, then the close frame; nothing is queued after it. */
START_TEST(test_transport_slow_consumer_closed_in_order)
{
    h.cfg.max_outbuf_bytes = 16384;
    struct client a;
    client_open(&a, 1);
    int small = 4096;
    setsockopt(a.c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(a.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char frame[1024];
    int sent = 0;
    while (sent < 10000 && h.metrics.refusals[REFUSE_SLOW_CONSUMER] == 0) {
        transport_send(a.c, frame, numbered(frame, sizeof frame, sent, 1000));
        sent++;
        if (sent % 8 == 0)
            pump();
    }
    ck_assert_uint_eq(h.metrics.refusals[REFUSE_SLOW_CONSUMER], 1);
    ck_assert(!transport_usable(a.c));
    transport_send(a.c, "{\"n\":-1}", 8); /* ignored: the connection is closing */
    pump();

    int want = 0, closed = 0;
    for (int tries = 0; tries < 10000 && !closed; tries++) {
        struct ws_frame f;
        if (raw_frame(&a, &f) != 0) {
            pump();
            continue;
        }
        if (f.opcode == WS_OP_CLOSE) {
            ck_assert_int_eq(f.close_code, 1008);
            closed = 1;
        } else {
            ck_assert_int_eq(f.opcode, WS_OP_TEXT);
            cJSON *o = cJSON_Parse((const char *) f.payload);
            ck_assert_int_eq((int) num_of(o, "n"), want);
            want++;
            cJSON_Delete(o);
        }
        ws_frame_free(&f);
    }
    ck_assert_msg(closed, "no close frame after %d of %d frames", want, sent);
    /* Every frame before the one that passed the limit arrived. */
    ck_assert_int_eq(want, sent - 1);
    client_close(&a);
    pump();
}
END_TEST

Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_session_text_acked_and_delivered);
    tcase_add_test(tc, test_session_image);
    tcase_add_test(tc, test_session_commands_wait_for_membership);
    tcase_add_test(tc, test_session_membership_answers);
    tcase_add_test(tc, test_session_failed_batch);
    tcase_add_test(tc, test_session_cancelled_batch_is_error);
    tcase_add_test(tc, test_session_leave);
    tcase_add_test(tc, test_session_replay_merges_live);
    tcase_add_test(tc, test_transport_frames_of_a_pass_in_order);
    tcase_add_test(tc, test_transport_frame_header_lengths);
    tcase_add_test(tc, test_transport_slow_consumer_closed_in_order);
    suite_add_tcase(s, tc);
    return s;
}
