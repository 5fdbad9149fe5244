/*
 * check_relay_limits.c - limits and lifecycle of the relay, each on a
 * private relay process (rh_spawn) with small settings so the test stays
 * cheap: the connection cap (503), rooms per connection, handshake and
 * pong time-outs, slow consumers (1008), and SIGTERM (pending writes
 * finished, clients closed with 1001, exit status 0). What a hostile client
 * tries against these limits is in check_hostile.c.
 */
#include "api_helpers.h"
#include "relay_helpers.h"
#include "testenv.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORT 18091

START_TEST(test_relay_capacity_503)
{
    const char *env[] = {"CHAT_MAX_CONNECTIONS=5", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_user u;
    struct ws_client c[6];
    rh_user_new(&u, "rcap");
    for (int i = 0; i < 5; i++) {
        char *tok = rh_token(&u);
        ck_assert_int_eq(rh_try_connect(&c[i], PORT, tok, NULL, NULL, 0), 101);
        free(tok);
    }
    char *tok = rh_token(&u);
    char body[128];
    ck_assert_int_eq(rh_try_connect(&c[5], PORT, tok, NULL, body, sizeof body), 503);
    ws_close(&c[5]);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"capacity\"}"), 1);
    /* The refused handshake did not use the token; a freed place takes it. */
    ws_close(&c[0]);
    int status = 0;
    for (int i = 0; i < 100 && status != 101; i++) {
        usleep(20 * 1000);
        status = rh_try_connect(&c[0], PORT, tok, NULL, NULL, 0);
        if (status != 101)
            ws_close(&c[0]);
    }
    ck_assert_int_eq(status, 101);
    free(tok);
    for (int i = 0; i < 5; i++)
        ws_close(&c[i]);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&u);
}
END_TEST

START_TEST(test_relay_rooms_per_connection)
{
    const char *env[] = {"CHAT_MAX_ROOMS_PER_CONN=2", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_user a, b[3];
    struct ws_client c;
    int64_t room[3];
    rh_user_new(&a, "rrooms");
    for (int i = 0; i < 3; i++) {
        rh_user_new(&b[i], "rpeer");
        room[i] = rh_room(&a, &b[i]);
    }
    char *tok = rh_token(&a);
    ck_assert_int_eq(rh_try_connect(&c, PORT, tok, NULL, NULL, 0), 101);
    free(tok);
    rh_enter(&c, room[0], -1);
    rh_enter(&c, room[1], -1);
    rh_sendf(&c, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) room[2]);
    cJSON *e = rh_expect_error(&c, "too_many_rooms");
    ck_assert_int_eq(rh_int(e, "chatRoomId"), room[2]);
    cJSON_Delete(e);
    rh_enter(&c, room[1], -1); /* re-ENTER of an entered room is no new room */
    rh_sendf(&c, "{\"chatType\":\"LEAVE\",\"chatRoomId\":%lld}", (long long) room[0]);
    cJSON_Delete(rh_expect(&c, "LEFT"));
    rh_enter(&c, room[2], -1);
    ws_close(&c);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&a);
    for (int i = 0; i < 3; i++)
        rh_user_free(&b[i]);
}
END_TEST

/* A client that never finishes its request is dropped; so is a WebSocket
 * that does not answer pings, while one that does stays. */
START_TEST(test_relay_handshake_and_pong_timeouts)
{
    const char *env[] = {"CHAT_HANDSHAKE_TIMEOUT=1", "CHAT_PING_INTERVAL=1", "CHAT_PONG_TIMEOUT=2",
                         NULL};
    pid_t pid = rh_spawn(PORT, env);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(send(fd, "GET /ws HTTP/1.1\r\nHost: x\r\n", 27, 0), 27);
    ck_assert_msg(rh_wait_closed(fd, 10000), "an unfinished handshake was not dropped");
    close(fd);

    struct rh_user u;
    struct ws_client live, silent;
    rh_user_new(&u, "rpong");
    char *tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&live, PORT, tok, NULL, NULL, 0), 101);
    free(tok);
    tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&silent, PORT, tok, NULL, NULL, 0), 101);
    free(tok);
    /* silent reads but never answers; live answers pings (ws_recv_text does). */
    int pings = 0, ended = 0;
    for (int i = 0; i < 100 && !ended; i++) {
        struct ws_frame f;
        int rc = ws_recv_frame(&silent, 100, &f);
        if (rc == 0) {
            pings += f.opcode == WS_OP_PING;
            ws_frame_free(&f);
        } else if (rc == -2) {
            ended = 1;
        }
        char *text;
        ck_assert_int_eq(ws_recv_text(&live, 1, &text), -1); /* answers pings, no text */
    }
    ck_assert_msg(ended, "a client that never answered %d pings was not dropped", pings);
    ck_assert_int_gt(pings, 0);
    ck_assert_int_eq(live.closed, 0);
    ck_assert_int_ge(rh_metric(PORT, "chat_relay_refusals_total{reason=\"pong_timeout\"}"), 1);
    ck_assert_int_ge(rh_metric(PORT, "chat_relay_refusals_total{reason=\"handshake_timeout\"}"), 1);
    ws_close(&live);
    ws_close(&silent);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&u);
}
END_TEST

/* A receiver that stops reading is closed with 1008 once its unsent
 * output passes max_outbuf_bytes; the sender is unaffected. */
START_TEST(test_relay_slow_consumer_1008)
{
    const char *env[] = {"CHAT_MAX_OUTBUF_BYTES=65536", "CHAT_RATE_PER_SEC=100000",
                         "CHAT_RATE_BURST=100000", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_pair p;
    rh_pair_open(&p, "rslow", PORT);
    int64_t room = p.room;
    int small = 4096;
    setsockopt(p.cb.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

    static char text[3801];
    memset(text, 'x', sizeof text - 1);
    int sent = 0;
    long long slow = 0;
    /* Send in rounds (each ACKed) until the relay reports the slow consumer. */
    for (int round = 0; round < 40 && slow < 1; round++) {
        for (int i = 0; i < 100; i++, sent++)
            rh_sendf(&p.ca,
                     "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\","
                     "\"clientMsgId\":\"slow-%d\"}",
                     (long long) room, text, sent);
        for (int i = 0; i < 100; i++)
            cJSON_Delete(rh_expect(&p.ca, "ACK"));
        slow = rh_metric(PORT, "chat_relay_refusals_total{reason=\"slow_consumer\"}");
    }
    ck_assert_msg(slow == 1, "no slow consumer after %d messages of %zu bytes", sent, sizeof text);
    /* B now reads what was sent before the close, then the 1008 close. */
    uint16_t code = 0;
    for (;;) {
        struct ws_frame f;
        int rc = ws_recv_frame(&p.cb, RH_TIMEOUT_MS, &f);
        ck_assert_msg(rc == 0, "slow consumer: connection ended without a close frame");
        int is_close = f.opcode == WS_OP_CLOSE;
        code = f.close_code;
        ws_frame_free(&f);
        if (is_close)
            break;
    }
    ck_assert_int_eq(code, 1008);
    rh_text(&p.ca, room, "after-slow", "sender still fine");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&p);
}
END_TEST

/* SIGTERM while messages are in flight: every message is answered (ACK or
 * ERROR unavailable), every ACKed one is in history, clients get 1001 and
 * the process exits 0 within 10 s. */
START_TEST(test_relay_sigterm_drains_and_exits_0)
{
    pid_t pid = rh_spawn(PORT, NULL);
    struct rh_pair p;
    rh_pair_open(&p, "rterm", PORT);
    int64_t room = p.room;
    int n = testenv_config()->rate_burst;
    for (int i = 0; i < n; i++)
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"t\","
                 "\"clientMsgId\":\"term-%d\"}",
                 (long long) room, i);
    /* Stop once the first is stored, so the rest are queued or in flight. */
    cJSON_Delete(rh_expect(&p.ca, "ACK"));
    kill(pid, SIGTERM);

    int acks = 1, errors = 0;
    uint16_t code = 0;
    for (;;) {
        struct ws_frame f;
        int rc = ws_recv_frame(&p.ca, 10000, &f);
        ck_assert_msg(rc == 0, "connection ended without a close frame (%d)", rc);
        if (f.opcode == WS_OP_CLOSE) {
            code = f.close_code;
            ws_frame_free(&f);
            break;
        }
        if (f.opcode == WS_OP_TEXT) {
            acks += strstr((char *) f.payload, "\"ACK\"") != NULL;
            errors += strstr((char *) f.payload, "\"unavailable\"") != NULL;
        }
        ws_frame_free(&f);
    }
    ck_assert_int_eq(code, 1001);
    ck_assert_int_eq(acks + errors, n);
    int status = -2;
    for (int waited = 0; waited < 10000; waited += 20) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        usleep(20 * 1000);
    }
    if (status == -2) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    ck_assert_msg(status == 0, "relay did not exit 0 within 10 s of SIGTERM (%d)", status);
    int64_t seqs[512];
    ck_assert_int_eq((int) rh_history_seqs(&p.a, room, 0, seqs, 512), acks);
    rh_pair_close(&p);
}
END_TEST

Suite *relay_limits_suite(void)
{
    Suite *s = suite_create("relay_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_relay_capacity_503);
    tcase_add_test(tc, test_relay_rooms_per_connection);
    tcase_add_test(tc, test_relay_handshake_and_pong_timeouts);
    tcase_add_test(tc, test_relay_slow_consumer_1008);
    tcase_add_test(tc, test_relay_sigterm_drains_and_exits_0);
    suite_add_tcase(s, tc);
    return s;
}
