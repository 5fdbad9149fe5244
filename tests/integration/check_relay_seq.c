/*
 * check_relay_seq.c - the per-room sequence state (MySQL chat_rooms) across
 * the faults that used to break in-memory counters: a relay SIGKILLed in
 * the middle of a burst, and two relays writing the same room at once.
 * Each test runs private relays (rh_spawn) on ports of its own, against
 * the stack's MariaDB and MongoDB store.
 */
#include "relay_helpers.h"
#include "testenv.h"
#include "ws_client.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define PORT_A 18191
#define PORT_B 18192
#define BURST  40

static const char *const no_limit[] = {"CHAT_RATE_PER_SEC=1000", "CHAT_RATE_BURST=1000", NULL};

/* send_burst: n TEXTs with clientMsgIds "<tag>-<k>", not waiting. */
static void send_burst(struct ws_client *c, int64_t room, const char *tag, int n)
{
    for (int k = 0; k < n; k++)
        rh_sendf(c,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\",\"clientMsgId\":\"%"
                 "s-%d\"}",
                 (long long) room, tag, k);
}

/* collect_acks: the seqs of the ACKs that arrive until `want` are in or
 * nothing comes for timeout_ms; other frames are skipped. Returns the count. */
static int collect_acks(struct ws_client *c, int64_t *seqs, int want, int timeout_ms)
{
    int n = 0;
    cJSON *j;
    while (n < want && (j = rh_next(c, timeout_ms)) != NULL) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, "ACK") == 0)
            seqs[n++] = rh_int(j, "seq");
        cJSON_Delete(j);
    }
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

/* assert_distinct: no seq appears twice in seqs[0..n-1] (sorts them). */
static void assert_distinct(int64_t *seqs, size_t n, const char *what)
{
    qsort(seqs, n, sizeof *seqs, cmp_i64);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(seqs[i] != seqs[i - 1], "%s: seq %lld was handed out twice", what,
                      (long long) seqs[i]);
}

/* The relay dies (SIGKILL) right after the first ACKs of a burst, with
 * reservations possibly in flight; a new relay continues the room above
 * every seq handed out before, and history never holds one seq twice. */
START_TEST(test_relay_seq_survives_sigkill)
{
    struct rh_pair p;
    int64_t before[BURST], after[BURST], all[2 * BURST], stored[4 * BURST];
    pid_t relay = rh_spawn(PORT_A, no_limit);
    rh_pair_open(&p, "sqkill", PORT_A);
    send_burst(&p.ca, p.room, "a", BURST);
    ck_assert_int_ge(collect_acks(&p.ca, before, 1, RH_TIMEOUT_MS), 1);
    kill(relay, SIGKILL);
    waitpid(relay, NULL, 0);
    int nbefore = 1 + collect_acks(&p.ca, before + 1, BURST - 1, 500);
    ws_close(&p.ca);
    ws_close(&p.cb);

    relay = rh_spawn(PORT_A, no_limit);
    struct ws_client c;
    rh_connect_port(&c, &p.a, PORT_A);
    int64_t last = rh_enter(&c, p.room, -1);
    int64_t max_before = 0;
    for (int i = 0; i < nbefore; i++)
        if (before[i] > max_before)
            max_before = before[i];
    ck_assert_int_ge(last, max_before);
    send_burst(&c, p.room, "b", BURST);
    ck_assert_int_eq(collect_acks(&c, after, BURST, RH_TIMEOUT_MS), BURST);
    for (int i = 0; i < BURST; i++)
        ck_assert_msg(after[i] > max_before, "seq %lld after the restart is not above %lld",
                      (long long) after[i], (long long) max_before);

    memcpy(all, before, (size_t) nbefore * sizeof *all);
    memcpy(all + nbefore, after, BURST * sizeof *all);
    assert_distinct(all, (size_t) nbefore + BURST, "ACKs");
    size_t n = rh_history_seqs(&p.a, p.room, 0, stored, 4 * BURST);
    ck_assert_uint_ge(n, (size_t) nbefore + BURST);
    assert_distinct(stored, n, "history");
    ws_close(&c);
    rh_stop(relay, 5000);
    rh_user_free(&p.a);
    rh_user_free(&p.b);
}
END_TEST

/* Two relays without Redis (so no shared memory of any kind) take sends
 * for the same room at the same time: every ACK carries its own seq, and
 * history holds exactly the ACKed seqs. */
START_TEST(test_relay_seq_two_relays_one_room)
{
    struct rh_user a, b;
    struct ws_client ca, cb;
    int64_t seqs[2 * BURST], stored[4 * BURST];
    pid_t ra = rh_spawn(PORT_A, no_limit), rb = rh_spawn(PORT_B, no_limit);
    rh_user_new(&a, "sqtwoa");
    rh_user_new(&b, "sqtwob");
    int64_t room = rh_room(&a, &b);
    rh_connect_port(&ca, &a, PORT_A);
    rh_connect_port(&cb, &b, PORT_B);
    rh_enter(&ca, room, -1);
    rh_enter(&cb, room, -1);
    for (int k = 0; k < BURST; k++) {
        char tag[16];
        snprintf(tag, sizeof tag, "a%d", k);
        send_burst(&ca, room, tag, 1);
        snprintf(tag, sizeof tag, "b%d", k);
        send_burst(&cb, room, tag, 1);
    }
    ck_assert_int_eq(collect_acks(&ca, seqs, BURST, RH_TIMEOUT_MS), BURST);
    ck_assert_int_eq(collect_acks(&cb, seqs + BURST, BURST, RH_TIMEOUT_MS), BURST);
    assert_distinct(seqs, 2 * BURST, "ACKs of two relays");

    size_t n = rh_history_seqs(&a, room, 0, stored, 4 * BURST);
    ck_assert_uint_eq(n, 2 * BURST);
    qsort(stored, n, sizeof *stored, cmp_i64);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(stored[i] == seqs[i], "history seq %lld where the ACKs said %lld",
                      (long long) stored[i], (long long) seqs[i]);
    ws_close(&ca);
    ws_close(&cb);
    rh_stop(ra, 5000);
    rh_stop(rb, 5000);
    rh_user_free(&a);
    rh_user_free(&b);
}
END_TEST

Suite *relay_seq_suite(void)
{
    Suite *s = suite_create("relay_seq");
    TCase *tc = tcase_create("seq state");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_relay_seq_survives_sigkill);
    tcase_add_test(tc, test_relay_seq_two_relays_one_room);
    suite_add_tcase(s, tc);
    return s;
}
