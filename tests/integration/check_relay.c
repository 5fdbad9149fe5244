/*
 * check_relay.c - the relay's WebSocket protocol against the running stack:
 * the frames and ERROR codes of docs/protocol.md, the guarantees (idempotent
 * retries, order, `since` replay without gap or duplicate), identity and
 * membership refusals, and the handshake answers.
 */
#include "api_helpers.h"
#include "relay_helpers.h"
#include "sqldb.h"
#include "testenv.h"
#include "ws_client.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_relay_text_exchange)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());

    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"hi bob\","
             "\"clientMsgId\":\"c-1\"}",
             (long long) p.room);
    cJSON *ack = rh_expect(&p.ca, "ACK");
    ck_assert_str_eq(rh_str(ack, "clientMsgId"), "c-1");
    ck_assert_int_eq(strlen(rh_str(ack, "id")), 24);
    ck_assert_int_eq(rh_int(ack, "seq"), 1);
    ck_assert_int_eq(strlen(rh_str(ack, "createdAt")), 24);

    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "id"), rh_str(ack, "id"));
    ck_assert_int_eq(rh_int(cm, "chatRoomId"), p.room);
    ck_assert_int_eq(rh_int(cm, "seq"), 1);
    ck_assert_int_eq(rh_int(cm, "senderId"), p.a.id);
    ck_assert_str_eq(rh_str(cm, "chatType"), "TEXT");
    ck_assert_str_eq(rh_str(cm, "message"), "hi bob");
    ck_assert_str_eq(rh_str(cm, "clientMsgId"), "c-1");
    ck_assert_str_eq(rh_str(cm, "createdAt"), rh_str(ack, "createdAt"));
    cJSON_Delete(ack);
    cJSON_Delete(msg);

    /* The sender gets an ACK, never its own MESSAGE. */
    ck_assert_int_eq(rh_text(&p.cb, p.room, "c-2", "hi alice"), 2);
    msg = rh_expect(&p.ca, "MESSAGE");
    cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "message"), "hi alice");
    ck_assert_int_eq(rh_int(cm, "senderId"), p.b.id);
    cJSON_Delete(msg);
    rh_no_frame(&p.cb, 300);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_image_exchange)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    rh_sendf(&p.ca,
             "{\"chatType\":\"IMAGE\",\"chatRoomId\":%lld,\"imageUrl\":"
             "\"https://img.example/a.png\",\"imageName\":\"a.png\",\"clientMsgId\":\"i-1\"}",
             (long long) p.room);
    cJSON *ack = rh_expect(&p.ca, "ACK");
    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "chatType"), "IMAGE");
    ck_assert_str_eq(rh_str(cm, "imageUrl"), "https://img.example/a.png");
    ck_assert_str_eq(rh_str(cm, "imageName"), "a.png");
    ck_assert_int_eq(rh_int(cm, "seq"), rh_int(ack, "seq"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cm, "message"));
    cJSON_Delete(ack);
    cJSON_Delete(msg);

    /* Only absolute http(s) URLs. */
    const char *bad[] = {"javascript:alert(1)", "/relative.png", "ftp://x/a.png", "https://",
                         "data:image/png;base64,AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rh_sendf(&p.ca,
                 "{\"chatType\":\"IMAGE\",\"chatRoomId\":%lld,\"imageUrl\":\"%s\","
                 "\"clientMsgId\":\"bad-%zu\"}",
                 (long long) p.room, bad[i], i);
        cJSON *e = rh_expect_error(&p.ca, "bad_request");
        ck_assert_int_eq(rh_int(e, "chatRoomId"), p.room);
        cJSON_Delete(e);
    }
    rh_no_frame(&p.cb, 300);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_retry_is_idempotent)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
#define DUP_FRAME                                                                                  \
    "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"once\",\"clientMsgId\":\"dup-1\"}"
    rh_sendf(&p.ca, DUP_FRAME, (long long) p.room);
    cJSON *first = rh_expect(&p.ca, "ACK");
    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    cJSON_Delete(msg);

    /* The same clientMsgId again, on the same and on a new connection. */
    rh_sendf(&p.ca, DUP_FRAME, (long long) p.room);
    cJSON *second = rh_expect(&p.ca, "ACK");
    ck_assert_str_eq(rh_str(second, "id"), rh_str(first, "id"));
    ck_assert_int_eq(rh_int(second, "seq"), rh_int(first, "seq"));
    struct ws_client again;
    rh_connect(&again, &p.a);
    rh_sendf(&again, DUP_FRAME, (long long) p.room);
    cJSON *third = rh_expect(&again, "ACK");
    ck_assert_str_eq(rh_str(third, "id"), rh_str(first, "id"));
    ck_assert_int_eq(rh_int(third, "seq"), rh_int(first, "seq"));
    rh_no_frame(&p.cb, 500);

    int64_t seqs[8];
    ck_assert_int_eq(rh_history_seqs(&p.a, p.room, 0, seqs, 8), 1);
    cJSON_Delete(first);
    cJSON_Delete(second);
    cJSON_Delete(third);
    ws_close(&again);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_fifty_in_order)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    for (int i = 0; i < 50; i++)
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"n%d\","
                 "\"clientMsgId\":\"o-%d\"}",
                 (long long) p.room, i, i);
    int64_t prev = 0;
    for (int i = 0; i < 50; i++) {
        cJSON *ack = rh_expect(&p.ca, "ACK");
        char want[16];
        snprintf(want, sizeof want, "o-%d", i);
        ck_assert_str_eq(rh_str(ack, "clientMsgId"), want);
        ck_assert_int_gt(rh_int(ack, "seq"), prev);
        prev = rh_int(ack, "seq");
        cJSON_Delete(ack);
    }
    prev = 0;
    for (int i = 0; i < 50; i++) {
        cJSON *msg = rh_expect(&p.cb, "MESSAGE");
        const cJSON *cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
        char want[16];
        snprintf(want, sizeof want, "n%d", i);
        ck_assert_str_eq(rh_str(cm, "message"), want);
        ck_assert_int_eq(rh_int(cm, "seq"), prev + 1);
        prev = rh_int(cm, "seq");
        cJSON_Delete(msg);
    }
    int64_t seqs[64];
    ck_assert_int_eq(rh_history_seqs(&p.b, p.room, 0, seqs, 64), 50);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(seqs[i], i + 1);
    rh_pair_close(&p);
}
END_TEST

/* A member who was away ENTERs with `since` and gets exactly what it missed,
 * oldest first, then live messages. */
START_TEST(test_relay_since_replays_missed)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    int64_t seen = rh_text(&p.ca, p.room, "s-0", "before");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    ws_close(&p.cb);
    for (int i = 1; i <= 5; i++) {
        char cmid[16];
        snprintf(cmid, sizeof cmid, "s-%d", i);
        rh_text(&p.ca, p.room, cmid, "missed");
    }
    rh_connect(&p.cb, &p.b);
    ck_assert_int_eq(rh_enter(&p.cb, p.room, seen), seen + 5);
    for (int i = 1; i <= 5; i++) {
        cJSON *msg = rh_expect(&p.cb, "MESSAGE");
        ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(msg, "chatMessage"), "seq"),
                         seen + i);
        cJSON_Delete(msg);
    }
    int64_t live = rh_text(&p.ca, p.room, "s-live", "live");
    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(msg, "chatMessage"), "seq"), live);
    cJSON_Delete(msg);
    rh_no_frame(&p.cb, 300);
    rh_pair_close(&p);
}
END_TEST

/* Messages sent while the replay runs: each seq after the cursor exactly
 * once, in order, whether it came through the replay or live. */
START_TEST(test_relay_since_with_live_traffic)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    ws_close(&p.cb);
    for (int i = 0; i < 30; i++)
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\","
                 "\"clientMsgId\":\"l-%d\"}",
                 (long long) p.room, i);
    int64_t last = 0;
    for (int i = 0; i < 15; i++) { /* half of them stored before the replay */
        cJSON *ack = rh_expect(&p.ca, "ACK");
        last = rh_int(ack, "seq");
        cJSON_Delete(ack);
    }
    rh_connect(&p.cb, &p.b);
    rh_sendf(&p.cb, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld,\"since\":0}", (long long) p.room);
    for (int i = 30; i < 60; i++) /* and more while it runs */
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\","
                 "\"clientMsgId\":\"l-%d\"}",
                 (long long) p.room, i);
    for (int i = 15; i < 60; i++) {
        cJSON *ack = rh_expect(&p.ca, "ACK");
        last = rh_int(ack, "seq");
        cJSON_Delete(ack);
    }
    ck_assert_int_eq(last, 60);
    cJSON *entered = rh_expect(&p.cb, "ENTERED");
    cJSON_Delete(entered);
    for (int64_t want = 1; want <= 60; want++) {
        cJSON *msg = rh_expect(&p.cb, "MESSAGE");
        ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(msg, "chatMessage"), "seq"), want);
        cJSON_Delete(msg);
    }
    rh_no_frame(&p.cb, 300);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_leave_stops_delivery)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    rh_sendf(&p.cb, "{\"chatType\":\"LEAVE\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON *left = rh_expect(&p.cb, "LEFT");
    ck_assert_int_eq(rh_int(left, "chatRoomId"), p.room);
    cJSON_Delete(left);
    rh_text(&p.ca, p.room, "after-leave", "unseen");
    rh_no_frame(&p.cb, 500);
    /* Sending needs membership, not ENTER: B can still send after LEAVE. */
    rh_text(&p.cb, p.room, "from-b", "still a member");
    cJSON_Delete(rh_expect(&p.ca, "MESSAGE"));
    rh_pair_close(&p);
}
END_TEST

/* The sender's other devices get MESSAGE too. */
START_TEST(test_relay_other_devices_get_message)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    struct ws_client a2;
    rh_connect(&a2, &p.a);
    rh_enter(&a2, p.room, -1);
    int64_t seq = rh_text(&p.ca, p.room, "dev-1", "to all devices");
    cJSON *m1 = rh_expect(&a2, "MESSAGE");
    cJSON *m2 = rh_expect(&p.cb, "MESSAGE");
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(m1, "chatMessage"), "seq"), seq);
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(m2, "chatMessage"), "seq"), seq);
    cJSON_Delete(m1);
    cJSON_Delete(m2);
    rh_no_frame(&p.ca, 300);
    ws_close(&a2);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_non_member_refused)
{
    struct rh_pair p;
    struct rh_user eve;
    struct ws_client ce;
    rh_pair_open(&p, "r", rh_port());
    rh_user_new(&eve, "reve");
    rh_connect(&ce, &eve);
    rh_sendf(&ce, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON *e = rh_expect_error(&ce, "not_member");
    ck_assert_int_eq(rh_int(e, "chatRoomId"), p.room);
    cJSON_Delete(e);
    rh_sendf(
        &ce,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"x\",\"clientMsgId\":\"e-1\"}",
        (long long) p.room);
    e = rh_expect_error(&ce, "not_member");
    ck_assert_str_eq(rh_str(e, "clientMsgId"), "e-1");
    cJSON_Delete(e);
    /* A room that does not exist is refused the same way. */
    rh_sendf(&ce, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", 9000000000000LL);
    cJSON_Delete(rh_expect_error(&ce, "not_member"));
    rh_no_frame(&p.ca, 300);
    rh_no_frame(&p.cb, 100);
    ws_close(&ce);
    rh_user_free(&eve);
    rh_pair_close(&p);
}
END_TEST

START_TEST(test_relay_spoofed_user_id_refused)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"userId\":%lld,\"message\":\"x\","
             "\"clientMsgId\":\"sp-1\"}",
             (long long) p.room, (long long) p.b.id);
    cJSON *e = rh_expect_error(&p.ca, "forbidden");
    ck_assert_str_eq(rh_str(e, "clientMsgId"), "sp-1");
    cJSON_Delete(e);
    rh_no_frame(&p.cb, 300);
    /* The true id is accepted. */
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"userId\":%lld,\"message\":\"x\","
             "\"clientMsgId\":\"sp-2\"}",
             (long long) p.room, (long long) p.a.id);
    cJSON *ack = rh_expect(&p.ca, "ACK");
    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(msg, "chatMessage"), "senderId"),
                     p.a.id);
    cJSON_Delete(ack);
    cJSON_Delete(msg);
    rh_pair_close(&p);
}
END_TEST

/* Bad JSON, unknown chatType and invalid fields are ERRORs, and the
 * connection stays usable. */
START_TEST(test_relay_bad_frames_are_errors)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    const char *frames[] = {
        "not json",
        "[1,2]",
        "{\"chatType\":\"DANCE\",\"chatRoomId\":1}",
        "{\"chatRoomId\":1}",
        "{\"chatType\":\"ENTER\",\"chatRoomId\":\"7\"}",
        "{\"chatType\":\"ENTER\",\"chatRoomId\":-3}",
        "{\"chatType\":\"ENTER\",\"chatRoomId\":1.5}",
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        ck_assert_int_eq(ws_send_text(&p.ca, frames[i]), 0);
        cJSON_Delete(rh_expect_error(&p.ca, "bad_request"));
    }
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"a\\u0000b\","
             "\"clientMsgId\":\"nul\"}",
             (long long) p.room);
    cJSON_Delete(rh_expect_error(&p.ca, "bad_request"));
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"\",\"clientMsgId\":\"e\"}",
             (long long) p.room);
    cJSON_Delete(rh_expect_error(&p.ca, "bad_request"));
    rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"no id\"}",
             (long long) p.room);
    cJSON_Delete(rh_expect_error(&p.ca, "bad_request"));
    rh_text(&p.ca, p.room, "ok-after", "still works");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    rh_pair_close(&p);
}
END_TEST

/* At most max_text_chars characters (code points, not bytes). */
START_TEST(test_relay_text_length_limit)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    int max = testenv_config()->max_text_chars;
    /* "é" is two bytes: max characters pass although they are 2*max bytes. */
    size_t cap = (size_t) max * 2 + 256;
    char *frame = malloc(cap + 64), *text = malloc(cap);
    size_t o = 0;
    for (int i = 0; i < max; i++) {
        text[o++] = (char) 0xc3;
        text[o++] = (char) 0xa9;
    }
    text[o] = '\0';
    snprintf(
        frame, cap + 64,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\",\"clientMsgId\":\"max\"}",
        (long long) p.room, text);
    ck_assert_int_eq(ws_send_text(&p.ca, frame), 0);
    cJSON_Delete(rh_expect(&p.ca, "ACK"));
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    text[o++] = 'x';
    text[o] = '\0';
    snprintf(
        frame, cap + 64,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\",\"clientMsgId\":\"over\"}",
        (long long) p.room, text);
    ck_assert_int_eq(ws_send_text(&p.ca, frame), 0);
    cJSON *e = rh_expect_error(&p.ca, "too_large");
    ck_assert_str_eq(rh_str(e, "clientMsgId"), "over");
    cJSON_Delete(e);
    rh_no_frame(&p.cb, 300);
    free(frame);
    free(text);
    rh_pair_close(&p);
}
END_TEST

/* Over rate_burst messages at once: the excess gets rate_limited and is
 * not stored; what was ACKed is exactly what history holds. */
START_TEST(test_relay_rate_limit)
{
    struct rh_pair p;
    rh_pair_open(&p, "r", rh_port());
    int n = testenv_config()->rate_burst + 20;
    for (int i = 0; i < n; i++)
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"r\","
                 "\"clientMsgId\":\"rl-%d\"}",
                 (long long) p.room, i);
    int acks = 0, limited = 0;
    for (int i = 0; i < n; i++) {
        cJSON *j = rh_next(&p.ca, RH_TIMEOUT_MS);
        ck_assert_msg(j != NULL, "answer %d of %d missing", i, n);
        const char *type = rh_str(j, "type");
        if (strcmp(type, "ACK") == 0)
            acks++;
        else if (strcmp(type, "ERROR") == 0 && strcmp(rh_str(j, "code"), "rate_limited") == 0)
            limited++;
        else
            ck_abort_msg("unexpected %s", type);
        cJSON_Delete(j);
    }
    ck_assert_int_gt(limited, 0);
    ck_assert_int_ge(acks, testenv_config()->rate_burst);
    int64_t seqs[512];
    ck_assert_int_eq((int) rh_history_seqs(&p.a, p.room, 0, seqs, 512), acks);
    rh_pair_close(&p);
}
END_TEST

/* ------------------------------------------------------------ handshake */

static void expect_close_code(struct ws_client *c, uint16_t code)
{
    for (;;) {
        struct ws_frame f;
        int rc = ws_recv_frame(c, RH_TIMEOUT_MS, &f);
        ck_assert_msg(rc == 0, "expected close %u, connection %s", code,
                      rc == -1 ? "timed out" : "ended without a close frame");
        int is_close = f.opcode == WS_OP_CLOSE;
        uint16_t got = f.close_code;
        ws_frame_free(&f);
        if (is_close) {
            ck_assert_int_eq(got, code);
            return;
        }
    }
}

START_TEST(test_relay_protocol_violations_close)
{
    struct rh_user u;
    struct ws_client c;
    rh_user_new(&u, "rviol");

    rh_connect(&c, &u);
    ck_assert_int_eq(ws_send_frame(&c, WS_OP_BINARY, 0, "\x01\x02", 2), 0);
    expect_close_code(&c, 1003);
    ws_close(&c);

    rh_connect(&c, &u);
    ck_assert_int_eq(ws_send_frame(&c, WS_OP_TEXT, 0, "{\"a\":\"\xff\xfe\"}", 10), 0);
    expect_close_code(&c, 1007);
    ws_close(&c);

    rh_connect(&c, &u);
    ck_assert_int_eq(ws_send_frame(&c, WS_OP_TEXT, WS_FRAME_UNMASKED, "{}", 2), 0);
    expect_close_code(&c, 1002);
    ws_close(&c);

    rh_connect(&c, &u);
    size_t big = (size_t) testenv_config()->max_message_bytes + 1;
    char *payload = malloc(big);
    memset(payload, ' ', big);
    ck_assert_int_eq(ws_send_frame(&c, WS_OP_TEXT, 0, payload, big), 0);
    free(payload);
    expect_close_code(&c, 1009);
    ws_close(&c);

    /* A ping is answered with a pong carrying the same payload. */
    rh_connect(&c, &u);
    ck_assert_int_eq(ws_send_frame(&c, WS_OP_PING, 0, "hello", 5), 0);
    struct ws_frame f;
    ck_assert_int_eq(ws_recv_frame(&c, RH_TIMEOUT_MS, &f), 0);
    ck_assert_int_eq(f.opcode, WS_OP_PONG);
    ck_assert_str_eq((char *) f.payload, "hello");
    ws_frame_free(&f);
    ws_close(&c);
    rh_user_free(&u);
}
END_TEST

/* A client that sends its first frame right behind the upgrade request,
 * before the 101, is understood. */
START_TEST(test_relay_frame_sent_with_handshake)
{
    struct rh_user a, b;
    rh_user_new(&a, "rearly");
    rh_user_new(&b, "rearly");
    int64_t room = rh_room(&a, &b);
    char *tok = rh_token(&a), target[128], enter[96];
    uint8_t frame[128];
    snprintf(target, sizeof target, "/ws?token=%s", tok);
    int n = snprintf(enter, sizeof enter, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}",
                     (long long) room);
    size_t flen = ws_frame_encode(frame, sizeof frame, WS_OP_TEXT, 0, enter, (size_t) n);
    struct ws_client c;
    int status;
    ck_assert_int_eq(ws_connect_early(&c, "127.0.0.1", rh_port(), target, NULL, frame, flen,
                                      RH_TIMEOUT_MS, &status, NULL, 0),
                     0);
    cJSON *j = rh_expect(&c, "ENTERED");
    ck_assert_int_eq(rh_int(j, "chatRoomId"), room);
    cJSON_Delete(j);
    ws_close(&c);
    free(tok);
    rh_user_free(&a);
    rh_user_free(&b);
}
END_TEST

START_TEST(test_relay_token_single_use)
{
    struct rh_user u;
    struct ws_client c1, c2;
    rh_user_new(&u, "rtok");
    char *tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&c1, rh_port(), tok, NULL, NULL, 0), 101);
    char body[128];
    ck_assert_int_eq(rh_try_connect(&c2, rh_port(), tok, NULL, body, sizeof body), 401);
    ws_close(&c2);
    ck_assert_int_eq(rh_try_connect(&c2, rh_port(), "not-a-token", NULL, NULL, 0), 401);
    ws_close(&c2);
    ck_assert_int_eq(rh_try_connect(&c2, rh_port(), NULL, NULL, NULL, 0), 401);
    ws_close(&c2);
    free(tok);
    ws_close(&c1);
    rh_user_free(&u);
}
END_TEST

/* A token past its lifetime (made old in MySQL rather than by waiting 30 s). */
START_TEST(test_relay_token_expired)
{
    struct rh_user u;
    struct ws_client c;
    rh_user_new(&u, "rexp");
    char *tok = rh_token(&u);
    struct sqldb_arg arg = SQLDB_ARG_I64(u.id);
    ck_assert_int_eq(
        sqldb_stmt_exec(api_db(),
                        "UPDATE socket_tokens SET expires_at = NOW(3) - INTERVAL 1 SECOND, "
                        "created_at = NOW(3) - INTERVAL 31 SECOND WHERE user_id = ?",
                        &arg, 1, NULL, NULL),
        0);
    ck_assert_int_eq(rh_try_connect(&c, rh_port(), tok, NULL, NULL, 0), 401);
    ws_close(&c);
    free(tok);
    rh_user_free(&u);
}
END_TEST

START_TEST(test_relay_origin_allow_list)
{
    struct rh_user u;
    struct ws_client c;
    rh_user_new(&u, "rorig");
    char *tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&c, rh_port(), tok, "http://evil.example", NULL, 0), 403);
    ws_close(&c);
    free(tok);
    /* The refused attempt did not consume the token... but use a new one anyway. */
    char allowed[256];
    const char *list = testenv_config()->allowed_origins;
    size_t n = strcspn(list, ",");
    ck_assert_msg(n > 0 && n < sizeof allowed, "allowed_origins is empty in the stack config");
    memcpy(allowed, list, n);
    allowed[n] = '\0';
    tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&c, rh_port(), tok, allowed, NULL, 0), 101);
    ws_close(&c);
    free(tok);
    rh_user_free(&u);
}
END_TEST

START_TEST(test_relay_http_answers)
{
    char out[8192];
    int port = rh_port();
    const char *plain = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, plain, strlen(plain), RH_TIMEOUT_MS, out, sizeof out), 426);
    const char *nope = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, nope, strlen(nope), RH_TIMEOUT_MS, out, sizeof out), 404);
    const char *nokey = "GET /ws?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, nokey, strlen(nokey), RH_TIMEOUT_MS, out, sizeof out), 400);
    const char *post = "POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, post, strlen(post), RH_TIMEOUT_MS, out, sizeof out), 405);
    const char *health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, health, strlen(health), RH_TIMEOUT_MS, out, sizeof out), 200);
    const char *metrics = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(
        http_raw("127.0.0.1", port, metrics, strlen(metrics), RH_TIMEOUT_MS, out, sizeof out), 200);
    ck_assert_msg(strstr(out, "chat_relay_connections ") != NULL, "no connections gauge in %s",
                  out);
    ck_assert_msg(strstr(out, "chat_relay_refusals_total{reason=\"capacity\"}") != NULL,
                  "no refusal counters in metrics");
    ck_assert_msg(strstr(out, "chat_relay_write_latency_seconds_bucket") != NULL,
                  "no write latency histogram in metrics");
}
END_TEST

Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("protocol");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_relay_text_exchange);
    tcase_add_test(tc, test_relay_image_exchange);
    tcase_add_test(tc, test_relay_retry_is_idempotent);
    tcase_add_test(tc, test_relay_fifty_in_order);
    tcase_add_test(tc, test_relay_since_replays_missed);
    tcase_add_test(tc, test_relay_since_with_live_traffic);
    tcase_add_test(tc, test_relay_leave_stops_delivery);
    tcase_add_test(tc, test_relay_other_devices_get_message);
    tcase_add_test(tc, test_relay_non_member_refused);
    tcase_add_test(tc, test_relay_spoofed_user_id_refused);
    tcase_add_test(tc, test_relay_bad_frames_are_errors);
    tcase_add_test(tc, test_relay_text_length_limit);
    tcase_add_test(tc, test_relay_rate_limit);
    tcase_add_test(tc, test_relay_protocol_violations_close);
    tcase_add_test(tc, test_relay_frame_sent_with_handshake);
    tcase_add_test(tc, test_relay_token_single_use);
    tcase_add_test(tc, test_relay_token_expired);
    tcase_add_test(tc, test_relay_origin_allow_list);
    tcase_add_test(tc, test_relay_http_answers);
    suite_add_tcase(s, tc);
    return s;
}
