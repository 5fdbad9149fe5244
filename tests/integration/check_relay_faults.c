/*
 * check_relay_faults.c - the relay of the running stack across faults:
 * SIGKILL in the middle of a burst (every ACKed message survives), FerretDB
 * paused with SIGSTOP (senders told `unavailable`, the loop keeps
 * answering, sends work after SIGCONT), MariaDB down (new handshakes 503,
 * open connections keep chatting), and as many connections as the relay
 * admits held at once (the next one 503).
 *
 * Every test puts back what it stopped before asserting; the unchecked
 * teardown does it once more in the parent in case a test died midway.
 */
#include "api_helpers.h"
#include "relay_helpers.h"
#include "testenv.h"
#include "ws_client.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void restore_stack(void)
{
    pid_t f = testenv_pid("ferretdb");
    if (f > 0)
        kill(f, SIGCONT);
    testenv_stack("start mariadb");
    testenv_stack("start ferretdb");
    testenv_stack("start relay");
}

/* Several senders burst; the relay is SIGKILLed after the first ACKs.
 * Afterwards every ACKed (clientMsgId, id, seq) is in history. */
START_TEST(test_relay_sigkill_mid_burst_keeps_acked)
{
    enum { SENDERS = 4 };
    struct rh_user peer, u[SENDERS];
    struct ws_client c[SENDERS];
    int64_t room[SENDERS];
    int per = testenv_config()->rate_burst;
    rh_user_new(&peer, "rkpeer");
    for (int i = 0; i < SENDERS; i++) {
        rh_user_new(&u[i], "rkill");
        room[i] = rh_room(&u[i], &peer);
        rh_connect(&c[i], &u[i]);
    }
    for (int k = 0; k < per; k++)
        for (int i = 0; i < SENDERS; i++)
            rh_sendf(&c[i], "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"k\","
                            "\"clientMsgId\":\"k-%d\"}", (long long) room[i], k);

    /* Wait for a first ACK, then kill. */
    int64_t acked[SENDERS][256];
    int nacked[SENDERS] = {0};
    cJSON *first = rh_expect(&c[0], "ACK");
    acked[0][nacked[0]++] = rh_int(first, "seq");
    cJSON_Delete(first);
    pid_t relay = testenv_pid("relay");
    ck_assert_int_gt(relay, 0);
    kill(relay, SIGKILL);

    int total = 0;
    for (int i = 0; i < SENDERS; i++) {
        cJSON *j;
        while ((j = rh_next(&c[i], 2000)) != NULL) {
            if (strcmp(rh_str(j, "type"), "ACK") == 0)
                acked[i][nacked[i]++] = rh_int(j, "seq");
            cJSON_Delete(j);
        }
        total += nacked[i];
    }
    ck_assert_int_eq(testenv_stack("start relay"), 0);
    ck_assert_int_gt(total, 0);
    for (int i = 0; i < SENDERS; i++) {
        int64_t stored[512];
        size_t n = rh_history_seqs(&u[i], room[i], 0, stored, 512);
        for (int k = 0; k < nacked[i]; k++) {
            int found = 0;
            for (size_t m = 0; m < n && !found; m++)
                found = stored[m] == acked[i][k];
            ck_assert_msg(found, "ACKed seq %lld of room %lld is not in history",
                          (long long) acked[i][k], (long long) room[i]);
        }
        ws_close(&c[i]);
        rh_user_free(&u[i]);
    }
    rh_user_free(&peer);
}
END_TEST

/* FerretDB paused: a send gets ERROR unavailable (with its clientMsgId)
 * while the loop keeps serving (pings, handshakes, ENTER of a room this
 * relay knows); after SIGCONT the retry succeeds and is delivered once. */
START_TEST(test_relay_ferretdb_paused)
{
    struct rh_pair p;
    rh_pair_open(&p, "rpause", rh_port());
    int64_t before = rh_text(&p.ca, p.room, "p-0", "before");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    struct rh_user c;
    rh_user_new(&c, "rpause3");
    char *tok = rh_token(&c);

    pid_t ferret = testenv_pid("ferretdb");
    ck_assert_int_gt(ferret, 0);
    kill(ferret, SIGSTOP);
    rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"paused\","
                    "\"clientMsgId\":\"p-1\"}", (long long) p.room);
    /* Meanwhile: a ping is answered, a new connection opens, and a second
     * device of B ENTERs the room (its newest seq is known to the relay). */
    ck_assert_int_eq(ws_send_frame(&p.cb, WS_OP_PING, 0, "alive", 5), 0);
    struct ws_frame f;
    int pong = 0;
    /* Text frames (a PRESENCE) may come first. */
    while (!pong && ws_recv_frame(&p.cb, RH_TIMEOUT_MS, &f) == 0) {
        pong = f.opcode == WS_OP_PONG;
        ws_frame_free(&f);
    }
    struct ws_client cc, b2;
    int status = rh_try_connect(&cc, rh_port(), tok, NULL, NULL, 0);
    rh_connect(&b2, &p.b);
    rh_sendf(&b2, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON *entered = rh_next(&b2, 15000);
    cJSON *err = rh_next(&p.ca, 15000);
    kill(ferret, SIGCONT);

    ck_assert_msg(pong, "no pong while MongoDB was paused");
    ck_assert_int_eq(status, 101);
    ck_assert_msg(entered != NULL, "no answer to ENTER while MongoDB was paused");
    ck_assert_str_eq(rh_str(entered, "type"), "ENTERED");
    ck_assert_int_eq(rh_int(entered, "lastSeq"), before);
    ck_assert_msg(err != NULL, "no answer to a send while MongoDB was paused");
    ck_assert_str_eq(rh_str(err, "type"), "ERROR");
    ck_assert_str_eq(rh_str(err, "code"), "unavailable");
    ck_assert_str_eq(rh_str(err, "clientMsgId"), "p-1");
    cJSON_Delete(entered);
    cJSON_Delete(err);

    /* After SIGCONT: the same clientMsgId goes through (a retry or two may
     * still meet the reconnecting driver) and B sees it exactly once. */
    int64_t seq = -1;
    for (int attempt = 0; attempt < 20 && seq < 0; attempt++) {
        rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"paused\","
                        "\"clientMsgId\":\"p-1\"}", (long long) p.room);
        cJSON *j = rh_next(&p.ca, 15000);
        ck_assert_ptr_nonnull(j);
        if (strcmp(rh_str(j, "type"), "ACK") == 0)
            seq = rh_int(j, "seq");
        else
            usleep(500 * 1000);
        cJSON_Delete(j);
    }
    ck_assert_msg(seq > before, "sends did not recover after SIGCONT");
    cJSON *m = rh_expect(&p.cb, "MESSAGE");
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(m, "chatMessage"), "seq"), seq);
    cJSON_Delete(m);
    rh_no_frame(&p.cb, 500);
    ws_close(&cc);
    ws_close(&b2);
    free(tok);
    rh_user_free(&c);
    rh_pair_close(&p);
}
END_TEST

/* FerretDB paused with one message being written and more queued behind
 * it: the sender gets its ERRORs in the order it sent the messages. */
START_TEST(test_relay_outage_errors_in_send_order)
{
    enum { N = 5 };
    struct rh_pair p;
    rh_pair_open(&p, "rorder", rh_port());
    rh_text(&p.ca, p.room, "o-0", "before");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));

    pid_t ferret = testenv_pid("ferretdb");
    ck_assert_int_gt(ferret, 0);
    kill(ferret, SIGSTOP);
    rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\","
                    "\"clientMsgId\":\"o-1\"}", (long long) p.room);
    /* o-1 is with the writer (stuck) before the rest are sent, so they
     * wait in the queue and the outage answers both groups. */
    long long in_flight = 0;
    for (int i = 0; i < 500 && in_flight < 1; i++) {
        in_flight = rh_metric(rh_port(), "chat_relay_writes_in_flight");
        if (in_flight < 1)
            usleep(10 * 1000);
    }
    for (int i = 2; i <= N; i++)
        rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\","
                        "\"clientMsgId\":\"o-%d\"}", (long long) p.room, i);
    cJSON *got[N] = {0};
    for (int i = 0; i < N; i++)
        if (!(got[i] = rh_next(&p.ca, 15000)))
            break;
    kill(ferret, SIGCONT);

    ck_assert_int_eq(in_flight, 1);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "o-%d", i + 1);
        ck_assert_msg(got[i] != NULL, "no answer %d while MongoDB was paused", i + 1);
        ck_assert_str_eq(rh_str(got[i], "type"), "ERROR");
        ck_assert_str_eq(rh_str(got[i], "code"), "unavailable");
        ck_assert_str_eq(rh_str(got[i], "clientMsgId"), want);
        cJSON_Delete(got[i]);
    }
    rh_no_frame(&p.cb, 200);
    rh_pair_close(&p);
}
END_TEST

/* MariaDB down: a new handshake gets 503; connections that are open (and
 * whose membership the relay already checked) keep chatting. */
START_TEST(test_relay_mariadb_down)
{
    struct rh_pair p;
    rh_pair_open(&p, "rmdb", rh_port());
    rh_text(&p.ca, p.room, "m-0", "warm");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    char *tok = rh_token(&p.a); /* issued while MySQL is up */

    int stopped = testenv_stack("stop mariadb");
    struct ws_client c;
    int status = rh_try_connect(&c, rh_port(), tok, NULL, NULL, 0);
    ws_close(&c);
    rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"db down\","
                    "\"clientMsgId\":\"m-1\"}", (long long) p.room);
    cJSON *ack = rh_next(&p.ca, RH_TIMEOUT_MS);
    cJSON *msg = rh_next(&p.cb, RH_TIMEOUT_MS);
    int started = testenv_stack("start mariadb");

    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(started, 0);
    ck_assert_int_eq(status, 503);
    ck_assert_msg(ack && strcmp(rh_str(ack, "type"), "ACK") == 0, "no ACK while MySQL was down");
    ck_assert_msg(msg && strcmp(rh_str(msg, "type"), "MESSAGE") == 0,
                  "no MESSAGE while MySQL was down");
    cJSON_Delete(ack);
    cJSON_Delete(msg);

    /* Back up: handshakes work again. */
    struct ws_client again;
    rh_connect(&again, &p.b);
    ws_close(&again);
    free(tok);
    rh_pair_close(&p);
}
END_TEST

/* As many connections as a relay admits (a private one with
 * max_connections 1000; ten thousand are in check_relay_10k.c), held at
 * once; the next handshake gets 503 and the relay stays healthy. They
 * belong to as many users as max_connections_per_user requires. */
START_TEST(test_relay_holds_max_connections)
{
    const char *env[] = {"CHAT_MAX_CONNECTIONS=1000", NULL};
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    int port = 18094;
    pid_t pid = rh_spawn(port, env);
    long long max = rh_metric(port, "chat_relay_connections_max");
    ck_assert_int_eq(max, 1000);
    size_t per_user = (size_t) testenv_config()->max_connections_per_user;
    if (per_user == 0)
        per_user = (size_t) max + 64;
    size_t cap = (size_t) max + 64, nusers = 0;
    struct rh_user *u = calloc(cap / per_user + 1, sizeof *u);
    struct ws_client *c = calloc(cap, sizeof *c);
    size_t open = 0;
    int refused = 0;
    while (open < cap && !refused) {
        if (open / per_user >= nusers)
            rh_user_new(&u[nusers++], "rmany");
        char *tok = rh_token(&u[open / per_user]);
        char body[128];
        int status = rh_try_connect(&c[open], port, tok, NULL, body, sizeof body);
        free(tok);
        if (status == 101) {
            open++;
            continue;
        }
        ws_close(&c[open]);
        ck_assert_msg(status == 503, "connection %zu: expected 101 or 503, got %d (%s)", open,
                      status, body);
        refused = 1;
    }
    long long gauge = rh_metric(port, "chat_relay_connections");
    ck_assert_msg(refused, "%zu connections and none refused", open);
    ck_assert_msg(gauge <= max && (long long) open <= max, "open %zu, gauge %lld, max %lld", open,
                  gauge, max);
    ck_assert_msg((long long) open >= max - 10, "only %zu of %lld admitted", open, max);
    /* Every held connection still works. */
    for (size_t i = 0; i < open; i += open / 10 + 1) {
        ck_assert_int_eq(ws_send_frame(&c[i], WS_OP_PING, 0, "x", 1), 0);
        struct ws_frame f;
        ck_assert_int_eq(ws_recv_frame(&c[i], RH_TIMEOUT_MS, &f), 0);
        ck_assert_int_eq(f.opcode, WS_OP_PONG);
        ws_frame_free(&f);
    }
    for (size_t i = 0; i < open; i++)
        ws_close(&c[i]);
    free(c);
    for (size_t i = 0; i < nusers; i++)
        rh_user_free(&u[i]);
    free(u);
    const char *health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(http_raw("127.0.0.1", port, health, strlen(health), RH_TIMEOUT_MS, NULL, 0), 200);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
}
END_TEST

Suite *relay_faults_suite(void)
{
    Suite *s = suite_create("relay_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, NULL, restore_stack);
    tcase_add_test(tc, test_relay_sigkill_mid_burst_keeps_acked);
    tcase_add_test(tc, test_relay_ferretdb_paused);
    tcase_add_test(tc, test_relay_outage_errors_in_send_order);
    tcase_add_test(tc, test_relay_mariadb_down);
    tcase_add_test(tc, test_relay_holds_max_connections);
    suite_add_tcase(s, tc);
    return s;
}
