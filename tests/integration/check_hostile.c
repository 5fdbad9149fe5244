/*
 * check_hostile.c - one test per way a hostile client could hurt others.
 * Each test first mounts the attack against a running relay (a private one
 * from rh_spawn, with the stack's MySQL and MongoDB behind it) or against
 * the stack's web server, then proves that a bystander is unaffected: a
 * pair of other users whose TEXT is ACKed and delivered while the attack is
 * still on (rh_bystander), and that what the relay holds stays bounded
 * (its descriptors and resident memory, read from /proc).
 *
 * The waits are deadlines for something that must happen, never a measure
 * of speed: the latency each bystander saw is printed, not asserted.
 */
#include "api_helpers.h"
#include "http_client.h"
#include "relay_helpers.h"
#include "testenv.h"
#include "web_limits.h"
#include "ws_client.h"

#include "jwt.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PORT 18093

/* What the relay held before the attack, to bound what it holds after. */
struct footprint {
    pid_t pid;
    long rss_kib;
    int fds;
};

static struct footprint footprint_of(pid_t pid, int port)
{
    /* /healthz opens the health workers' database connections, which would
     * otherwise count as growth. */
    ck_assert_int_eq(rh_healthz(port), 200);
    struct footprint f = {pid, rh_rss_kib(pid), rh_fd_count(pid)};
    return f;
}

/* assert_bounded: the relay grew by at most max_kib of resident memory and
 * holds at most max_fds more descriptors than before the attack. */
static void assert_bounded(const struct footprint *before, long max_kib, int max_fds,
                           const char *attack)
{
    long rss = rh_rss_kib(before->pid);
    int fds = rh_fd_count(before->pid);
    ck_assert_msg(rss - before->rss_kib <= max_kib, "%s: relay RSS grew from %ld to %ld KiB",
                  attack, before->rss_kib, rss);
    ck_assert_msg(fds - before->fds <= max_fds, "%s: relay descriptors went from %d to %d", attack,
                  before->fds, fds);
}

/* spawn_with_bystander: a private relay with env on PORT and a bystander
 * pair (named after prefix) chatting on it. */
static pid_t spawn_with_bystander(const char *const *env, struct rh_pair *victim,
                                  const char *prefix)
{
    pid_t pid = rh_spawn(PORT, env);
    rh_pair_open(victim, prefix, PORT);
    return pid;
}

static void bystander(struct rh_pair *p, const char *cmid)
{
    long ms = rh_bystander(p, cmid);
    fprintf(stderr, "hostile: bystander %s delivered in %ld ms\n", cmid, ms);
}

/* raise_nofile: at least n descriptors for this process. */
static void raise_nofile(rlim_t n)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < n) {
        rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ck_assert_int_ge((long long) rl.rlim_cur, (long long) n);
}

/* expect_close_code: read c up to its close frame and assert its code. */
static void expect_close_code(struct ws_client *c, uint16_t code, const char *what)
{
    for (;;) {
        struct ws_frame f;
        int rc = ws_recv_frame(c, RH_TIMEOUT_MS, &f);
        ck_assert_msg(rc == 0, "%s: expected close %u, connection %s", what, code,
                      rc == -1 ? "timed out" : "ended without a close frame");
        int is_close = f.opcode == WS_OP_CLOSE;
        uint16_t got = f.close_code;
        ws_frame_free(&f);
        if (is_close) {
            ck_assert_msg(got == code, "%s: close code %u, expected %u", what, got, code);
            return;
        }
    }
}

/* poll_metric: poll port's metric every 50 ms until it equals want (or,
 * with at_least, reaches it) or ms pass; returns the last value read. */
static long long poll_metric(int port, const char *name, long long want, int at_least, int ms)
{
    long long v = rh_metric(port, name);
    for (int waited = 0; (at_least ? v < want : v != want) && waited < ms; waited += 50) {
        usleep(50 * 1000);
        v = rh_metric(port, name);
    }
    return v;
}

static long long wait_metric(int port, const char *name, long long want, int ms)
{
    return poll_metric(port, name, want, 0, ms);
}

static long long wait_metric_at_least(int port, const char *name, long long want, int ms)
{
    return poll_metric(port, name, want, 1, ms);
}

/* ------------------------------------------------ 1. ping flood */

/* A logged-in client sends masked 125-byte pings as fast as it can and
 * never reads. Each ping asks for a pong; unread pongs count against
 * max_outbuf_bytes like any output, and pings past their rate limit close
 * the connection with 1008 (ping_flood). */
START_TEST(test_hostile_ping_flood)
{
    enum { PINGS = 40000 };
    const char *env[] = {"CHAT_MAX_OUTBUF_BYTES=65536", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_pair attacker, victim;
    rh_pair_open(&attacker, "hping", PORT);
    rh_pair_open(&victim, "hpingv", PORT);
    int small = 4096;
    setsockopt(attacker.ca.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct timeval tv = {5, 0}; /* a send the relay no longer reads fails, not hangs */
    setsockopt(attacker.ca.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct footprint before = footprint_of(pid, PORT);

    static uint8_t frame[125 + 14];
    static char payload[125];
    memset(payload, 'p', sizeof payload);
    size_t flen = ws_frame_encode(frame, sizeof frame, WS_OP_PING, 0, payload, sizeof payload);
    ck_assert_uint_gt(flen, 0);
    int sent = 0;
    while (sent < PINGS && ws_send_raw(&attacker.ca, frame, flen) == 0)
        sent++;
    /* The kernel may have taken every ping before the relay read one. */
    long long floods =
        wait_metric(PORT, "chat_relay_refusals_total{reason=\"ping_flood\"}", 1, 10000);
    ck_assert_msg(floods == 1, "no ping_flood refusal after %d pings", sent);
    /* Without the limit 30,000 pongs took 3.4 MiB more (ASan build); cut off, 0.1. */
    assert_bounded(&before, 1024, 0, "ping flood");
    bystander(&victim, "h-ping");

    /* What the attacker's socket still holds is pongs and then the 1008
     * close, unless the relay's close of a socket with unread pings reset
     * the connection first (the ping_flood count above says which close
     * it was). */
    for (;;) {
        struct ws_frame f;
        int rc = ws_recv_frame(&attacker.ca, RH_TIMEOUT_MS, &f);
        ck_assert_msg(rc != -1, "the attacker's connection is still open");
        if (rc == -2)
            break;
        int is_close = f.opcode == WS_OP_CLOSE;
        /* Pongs, a PRESENCE the pair's set-up caused, then the close. */
        ck_assert(is_close || f.opcode == WS_OP_PONG || f.opcode == WS_OP_TEXT);
        if (is_close)
            ck_assert_int_eq(f.close_code, 1008);
        ws_frame_free(&f);
        if (is_close)
            break;
    }
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&attacker);
    rh_pair_close(&victim);
}
END_TEST

/* ------------------------------------------------ 2. unauthenticated slots */

/* newcomer_gets_in: a fresh user gets a WebSocket on the private relay. */
static void newcomer_gets_in(const char *prefix)
{
    struct rh_user u;
    rh_user_new(&u, prefix);
    struct ws_client c;
    char *tok = rh_token(&u);
    ck_assert_int_eq(rh_try_connect(&c, PORT, tok, NULL, NULL, 0), 101);
    free(tok);
    ws_close(&c);
    rh_user_free(&u);
}

/* More idle TCP connections than the relay has client descriptors (its
 * max_connections set to 1000 here, so the test stays small), and the attacker
 * reconnects what the relay sheds: the relay keeps a free descriptor for
 * every accept, sheds the oldest socket still in the HTTP stage, and
 * /healthz, a new client and a user already chatting all get through. */
START_TEST(test_hostile_idle_sockets_cannot_fill_select)
{
    enum { N = 1100 };
    raise_nofile(4096);
    /* No share below the descriptor budget: only that budget sheds here. */
    const char *env[] = {"CHAT_MAX_CONNECTIONS=1000", "CHAT_MAX_HANDSHAKES=1000000",
                         "CHAT_HANDSHAKE_TIMEOUT=300", NULL};
    struct rh_pair victim;
    pid_t pid = spawn_with_bystander(env, &victim, "hidlev");
    struct footprint before = footprint_of(pid, PORT);
    long long max = rh_metric(PORT, "chat_relay_connections_max");
    ck_assert_int_eq(max, 1000);

    int *fd = malloc(N * sizeof *fd);
    for (int i = 0; i < N; i++)
        fd[i] = rh_idle_socket("127.0.0.1", PORT);
    /* The relay sheds the oldest beyond its budget; the attacker
     * reconnects every socket it lost, once. */
    long long shed = wait_metric_at_least(
        PORT, "chat_relay_refusals_total{reason=\"handshake_shed\"}", N - max - 16, 10000);
    int reopened = 0;
    for (int i = 0; i < N; i++)
        if (rh_wait_closed(fd[i], 0)) {
            close(fd[i]);
            fd[i] = rh_idle_socket("127.0.0.1", PORT);
            reopened++;
        }
    ck_assert_int_ge(reopened, N - max - 16);
    int st = rh_healthz(PORT);
    ck_assert_msg(st == 200 || st == 503, "/healthz behind %d idle sockets: status %d", N, st);
    newcomer_gets_in("hidle");
    bystander(&victim, "h-idle");
    /* The relay holds no more client descriptors than its budget:
     * max_connections and the 16 above it. */
    assert_bounded(&before, 16 * 1024, (int) max + 16, "idle sockets");
    ck_assert_int_ge(rh_metric(PORT, "chat_relay_refusals_total{reason=\"handshake_shed\"}"),
                     shed + reopened);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"fd_limit\"}"), 0);
    for (int i = 0; i < N; i++)
        close(fd[i]);
    free(fd);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&victim);
}
END_TEST

/* max_handshakes and max_handshakes_per_address: an address at its limit
 * gives up its own oldest socket; a full share gives up the oldest of all,
 * so /healthz and a new client get in. */
START_TEST(test_hostile_handshake_share_sheds_oldest)
{
    const char *env[] = {"CHAT_MAX_HANDSHAKES=8", "CHAT_MAX_HANDSHAKES_PER_ADDRESS=4",
                         "CHAT_HANDSHAKE_LIMIT_LOOPBACK=1", "CHAT_HANDSHAKE_TIMEOUT=300", NULL};
    struct rh_pair victim;
    pid_t pid = spawn_with_bystander(env, &victim, "hsharev");
    int s[6], t[4];
    for (int i = 0; i < 6; i++)
        s[i] = rh_idle_socket("127.0.0.2", PORT);
    /* 127.0.0.2 holds at most 4: its two oldest went. */
    ck_assert_msg(rh_wait_closed(s[0], 10000), "over its per-address limit, s[0] stayed");
    ck_assert_msg(rh_wait_closed(s[1], 10000), "over its per-address limit, s[1] stayed");
    for (int i = 0; i < 4; i++)
        t[i] = rh_idle_socket("127.0.0.3", PORT);
    /* The share (8) is full: /healthz makes room by closing the oldest, s[2]. */
    int st = rh_healthz(PORT);
    ck_assert_msg(st == 200 || st == 503, "/healthz with a full share: status %d", st);
    ck_assert_msg(rh_wait_closed(s[2], 10000), "the oldest of a full share stayed");
    /* Exactly those three: 127.0.0.3's sockets and the newer ones of
     * 127.0.0.2 were never victims. */
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"handshake_shed\"}"), 3);
    newcomer_gets_in("hshare");
    bystander(&victim, "h-share");
    for (int i = 0; i < 6; i++)
        close(s[i]);
    for (int i = 0; i < 4; i++)
        close(t[i]);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&victim);
}
END_TEST

/* By default the per-address limit does not apply to loopback peers: behind
 * a local reverse proxy every client comes from 127.0.0.1, and one busy
 * proxy must not shed its own users. */
START_TEST(test_hostile_loopback_not_limited_per_address)
{
    const char *env[] = {"CHAT_MAX_HANDSHAKES_PER_ADDRESS=2", "CHAT_HANDSHAKE_TIMEOUT=300", NULL};
    pid_t pid = rh_spawn(PORT, env);
    int s[5];
    for (int i = 0; i < 5; i++)
        s[i] = rh_idle_socket("127.0.0.1", PORT);
    ck_assert_int_eq(rh_healthz(PORT), 200);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"handshake_shed\"}"), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(!rh_wait_closed(s[i], 0), "loopback socket %d was shed", i);
    for (int i = 0; i < 5; i++)
        close(s[i]);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
}
END_TEST

/* ------------------------------------------------ 3. ENTER amplification */

/* 400 ENTERs of one room in one burst, then the attacker leaves: repeats
 * are folded into the lookup already queued, the excess is refused with
 * rate_limited, and another user's ENTER, TEXT and /healthz are answered
 * while the flood is still being read. */
START_TEST(test_hostile_enter_flood)
{
    enum { FLOOD = 400 };
    pid_t pid = rh_spawn(PORT, NULL);
    struct rh_pair attacker, victim;
    rh_pair_open(&attacker, "hflood", PORT);
    struct footprint before = footprint_of(pid, PORT);
    long long lookups_before = rh_metric(PORT, "chat_relay_enter_lookups_total");
    for (int i = 0; i < FLOOD; i++)
        rh_sendf(&attacker.ca, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}",
                 (long long) attacker.room);
    rh_pair_open(&victim, "hvictim", PORT); /* two ENTERs, each answered */
    ck_assert_int_eq(rh_healthz(PORT), 200);
    bystander(&victim, "h-enter");

    int entered = 0, limited = 0;
    cJSON *j;
    while ((j = rh_next(&attacker.ca, 1000)) != NULL) {
        const char *type = rh_str(j, "type");
        if (strcmp(type, "ENTERED") == 0)
            entered++;
        else if (strcmp(type, "ERROR") == 0 && strcmp(rh_str(j, "code"), "rate_limited") == 0)
            limited++;
        cJSON_Delete(j);
    }
    long long lookups = rh_metric(PORT, "chat_relay_enter_lookups_total") - lookups_before;
    ck_assert_int_gt(limited, 0);
    ck_assert_int_ge(entered, 1); /* the last ENTER is answered */
    /* The victim's pair looked up two ENTERs of its own. */
    ck_assert_msg(lookups - 2 < FLOOD - limited,
                  "%lld lookups for %d accepted ENTERs of one room: repeats were not folded",
                  lookups - 2, FLOOD - limited);
    /* The attacker floods again and leaves at once: what it queued is
     * dropped, and the victim's next ENTER does not wait behind it. */
    for (int i = 0; i < FLOOD; i++)
        rh_sendf(&attacker.ca, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}",
                 (long long) attacker.room);
    ws_close(&attacker.ca);
    rh_enter(&victim.cb, victim.room, -1);
    bystander(&victim, "h-enter-after");
    assert_bounded(&before, 16 * 1024, 8, "ENTER flood");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&attacker);
    rh_pair_close(&victim);
}
END_TEST

/* A connection ENTERs four rooms while MySQL hangs (paused), so at most
 * two lookups hold the two SQL workers and the others wait in the queue,
 * and then it closes: the waiting ones are dropped unrun (counted), not
 * left to delay the next user's lookups once MySQL answers again. */
START_TEST(test_hostile_closed_connection_work_dropped)
{
    enum { ROOMS = 4 };
    const char *env[] = {"CHAT_RELAY_WORKERS=2", "CHAT_MYSQL_TIMEOUT=30", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_user a, peer[ROOMS];
    rh_user_new(&a, "hdrop");
    int64_t room[ROOMS];
    struct ws_client c;
    rh_connect_port(&c, &a, PORT);
    for (int i = 0; i < ROOMS; i++) {
        rh_user_new(&peer[i], "hdropp");
        room[i] = rh_room(&a, &peer[i]);
        rh_enter(&c, room[i], -1); /* membership now cached */
    }
    pid_t mysqld = testenv_pid("mariadb");
    ck_assert_int_gt(mysqld, 0);
    kill(mysqld, SIGSTOP);
    for (int i = 0; i < ROOMS; i++)
        rh_sendf(&c, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) room[i]);
    long long lookups = wait_metric(PORT, "chat_relay_enter_lookups_total", 2 * ROOMS, 5000);
    ws_close(&c);
    long long dropped =
        wait_metric_at_least(PORT, "chat_relay_jobs_dropped_total", ROOMS - 2, 5000);
    kill(mysqld, SIGCONT);
    ck_assert_int_eq(lookups, 2 * ROOMS);
    ck_assert_msg(dropped >= ROOMS - 2 && dropped <= ROOMS, "%lld of %d queued lookups dropped",
                  dropped, ROOMS);
    struct rh_pair victim;
    rh_pair_open(&victim, "hdropv", PORT);
    bystander(&victim, "h-drop");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&victim);
    rh_user_free(&a);
    for (int i = 0; i < ROOMS; i++)
        rh_user_free(&peer[i]);
}
END_TEST

/* resume_stores: in the parent after the test case, in case a test died
 * while FerretDB or MariaDB was paused. */
static void resume_stores(void)
{
    pid_t f = testenv_pid("ferretdb"), m = testenv_pid("mariadb");
    if (f > 0)
        kill(f, SIGCONT);
    if (m > 0)
        kill(m, SIGCONT);
}

/* count_errors: ERROR frames with this message text among what arrives on c
 * until nothing comes for ms. */
static int count_errors(struct ws_client *c, const char *text, int ms)
{
    int n = 0;
    cJSON *j;
    while ((j = rh_next(c, ms)) != NULL) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        n += strcmp(rh_str(j, "type"), "ERROR") == 0 && cJSON_IsString(msg) &&
             strcmp(msg->valuestring, text) == 0;
        cJSON_Delete(j);
    }
    return n;
}

/* Overload with nothing draining (FerretDB paused, one write in flight):
 * a connection with many messages waiting is refused "relay overloaded"
 * once three quarters of max_pending_messages are queued, so the queue
 * still has room for another user's message, which is not refused. */
START_TEST(test_hostile_heavy_sender_refused_first)
{
    /* The paused write must outlast the test's steps, not time out. */
    const char *env[] = {"CHAT_MAX_PENDING_MESSAGES=16", "CHAT_RATE_PER_SEC=1000",
                         "CHAT_RATE_BURST=1000", "CHAT_MONGO_TIMEOUT_MS=15000", NULL};
    static const char overloaded[] = "relay overloaded, retry later";
    pid_t pid = rh_spawn(PORT, env);
    struct rh_pair heavy, light;
    rh_pair_open(&heavy, "hheavy", PORT);
    rh_pair_open(&light, "hlight", PORT);
    pid_t ferret = testenv_pid("ferretdb");
    ck_assert_int_gt(ferret, 0);
    kill(ferret, SIGSTOP);

    rh_sendf(&heavy.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"h\","
             "\"clientMsgId\":\"h-first\"}",
             (long long) heavy.room);
    long long in_flight = wait_metric(PORT, "chat_relay_writes_in_flight", 1, 2000);
    for (int i = 0; i < 20; i++)
        rh_sendf(&heavy.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"h\","
                 "\"clientMsgId\":\"h-%d\"}",
                 (long long) heavy.room, i);
    /* 12 of the 20 queue (three quarters of 16), the other 8 are refused. */
    int refused = count_errors(&heavy.ca, overloaded, 1000);
    long long heavy_queued = rh_metric(PORT, "chat_relay_queue_depth");

    rh_sendf(&light.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"l\","
             "\"clientMsgId\":\"l-1\"}",
             (long long) light.room);
    int light_refused = count_errors(&light.ca, overloaded, 1000);
    long long queued = rh_metric(PORT, "chat_relay_queue_depth");
    kill(ferret, SIGCONT); /* before any assertion can end the test */
    ck_assert_int_eq(in_flight, 1);
    ck_assert_int_eq(refused, 8);
    ck_assert_int_eq(heavy_queued, 12);
    ck_assert_int_eq(light_refused, 0);
    ck_assert_int_eq(queued, 13); /* the light message got in */

    /* Once the store answers again, everything queued is answered. */
    count_errors(&heavy.ca, overloaded, 4000);
    count_errors(&light.ca, overloaded, 4000);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_queue_depth"), 0);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&heavy);
    rh_pair_close(&light);
}
END_TEST

/* ------------------------------------------------ 4. one user, every slot */

/* One user opens connections as fast as it can: past
 * max_connections_per_user the handshake is 429 and names the reason,
 * socket tokens stop at socket_tokens_per_minute (429, Retry-After), and
 * another user still gets a token, connects and chats. A connection the
 * attacker closes gives its place back at once. */
START_TEST(test_hostile_one_user_every_slot)
{
    enum { CAP = 20, CONNS = 40 };
    const char *env[] = {"CHAT_MAX_CONNECTIONS=40", NULL};
    struct rh_pair victim;
    pid_t pid = spawn_with_bystander(env, &victim, "hslotv");
    struct rh_user a;
    rh_user_new(&a, "hslot");
    ck_assert_int_eq(testenv_config()->max_connections_per_user, CAP);
    struct ws_client c[CONNS];
    int open = 0, refused = 0;
    for (int i = 0; i < CONNS; i++) {
        char *tok = rh_token(&a);
        char body[256] = "";
        int st = rh_try_connect(&c[open], PORT, tok, NULL, body, sizeof body);
        free(tok);
        if (st == 101) {
            open++;
            continue;
        }
        ck_assert_msg(st == 429 && strstr(body, "too many connections for this user"),
                      "connection %d of one user: %d %s", i, st, body);
        ws_close(&c[open]);
        refused++;
    }
    ck_assert_int_eq(open, CAP);
    ck_assert_int_eq(refused, CONNS - CAP);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"user_limit\"}"),
                     CONNS - CAP);
    /* Tokens: CONNS taken already; the attacker asks until refused. */
    int limit = testenv_config()->socket_tokens_per_minute, got = CONNS;
    struct http_resp r;
    for (;;) {
        ck_assert_int_eq(http_json("POST", "/api/v1/socket-token", a.jwt, "{}", &r), 0);
        if (r.status != 201)
            break;
        http_resp_free(&r);
        got++;
        ck_assert_msg(got <= limit, "%d socket tokens in a minute for one user", got);
    }
    char retry[32];
    ck_assert_int_eq(r.status, 429);
    ck_assert_str_eq(http_error_code(&r), "rate_limited");
    ck_assert_ptr_nonnull(http_header(&r, "Retry-After", retry, sizeof retry));
    http_resp_free(&r);
    ck_assert_int_eq(got, limit);

    /* Everyone else: a token, a connection, a conversation. */
    bystander(&victim, "h-slot");
    struct ws_client other;
    rh_connect_port(&other, &victim.b, PORT);
    ws_close(&other);
    /* One of the attacker's closes: the place can be used again. */
    ws_close(&c[0]);
    ck_assert_int_eq(wait_metric(PORT, "chat_relay_connections", 2 + CAP - 1, 5000), 2 + CAP - 1);
    for (int i = 1; i < open; i++)
        ws_close(&c[i]);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&a);
    rh_pair_close(&victim);
}
END_TEST

/* ------------------------------------------------ 5. unbounded bodies */

/* web_port: the port of the stack's web server (http://127.0.0.1:PORT). */
static int web_port(void)
{
    const char *base = testenv_web_base(), *colon = strrchr(base, ':');
    int port = colon ? (int) strtol(colon + 1, NULL, 10) : 0;
    ck_assert_msg(strncmp(base, "http://127.0.0.1:", 17) == 0 && port > 0,
                  "the web server checks need http://127.0.0.1:PORT, not %s", base);
    return port;
}

/* The stack's lighttpd refuses bodies over its cap itself, at once, for a
 * declared length it will never receive too; sockets that declared 95 MiB
 * are answered, not held, and the API and the relay serve others
 * meanwhile. The same checks run for every shipped config in the deploy
 * suites (web_check_body_cap). */
START_TEST(test_hostile_unbounded_bodies)
{
    enum { HOLDERS = 8 };
    int port = web_port();
    struct rh_pair victim;
    rh_pair_open(&victim, "hbody", rh_port());
    web_check_body_cap(port, testenv_config()->max_body_bytes, "the dev lighttpd");

    static const char req[] = "POST /api/v1/dev/login HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 99999999\r\n\r\n{\"";
    int held[HOLDERS];
    for (int i = 0; i < HOLDERS; i++) {
        held[i] = rh_idle_socket("127.0.0.1", port);
        ck_assert_int_eq(send(held[i], req, sizeof req - 1, 0), (ssize_t) sizeof req - 1);
    }
    for (int i = 0; i < HOLDERS; i++) {
        char buf[256] = "";
        struct timeval tv = {RH_TIMEOUT_MS / 1000, 0};
        setsockopt(held[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(held[i], buf, sizeof buf - 1, 0);
        ck_assert_msg(n > 12 && strncmp(buf, "HTTP/1.1 413", 12) == 0,
                      "a 95 MiB declaration got: %.40s", n > 0 ? buf : "(nothing)");
    }
    /* With the attackers' sockets still open: */
    int64_t id = 0;
    char *jwt = test_login(testenv_unique("hbodyok"), &id);
    ck_assert_msg(jwt != NULL, "dev login failed while bodies were refused");
    free(jwt);
    bystander(&victim, "h-body");
    for (int i = 0; i < HOLDERS; i++)
        close(held[i]);
    rh_pair_close(&victim);
}
END_TEST

/* ------------------------------------------------ 6. bare CR */

/* raw_handshake: status of a request sent as is to the relay on port. */
static int raw_handshake(int port, const char *req)
{
    return http_raw("127.0.0.1", port, req, strlen(req), RH_TIMEOUT_MS, NULL, 0);
}

/* A bare CR is not a line end: a header hidden behind one is not read as a
 * header (an Origin the relay refuses, a Sec-WebSocket-Key the request
 * lacks), and the request is a 400 instead. */
START_TEST(test_hostile_bare_cr)
{
    const char *env[] = {"CHAT_ALLOWED_ORIGINS=http://good.example", NULL};
    struct rh_pair victim;
    pid_t pid = spawn_with_bystander(env, &victim, "hcr");
    struct rh_user u;
    rh_user_new(&u, "hcra");
    char *tok = rh_token(&u);
    char req[1024];
    /* An evil Origin after a bare CR. */
    snprintf(req, sizeof req,
             "GET /ws?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "X-Note: a\rOrigin: http://evil.example\r\n\r\n",
             tok);
    ck_assert_int_eq(raw_handshake(PORT, req), 400);
    /* The only Sec-WebSocket-Key behind a bare CR. */
    snprintf(req, sizeof req,
             "GET /ws?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "X-Note: a\rSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
             tok);
    ck_assert_int_eq(raw_handshake(PORT, req), 400);
    /* A bare LF and a CR at the end of the request: 400 too. */
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\nHost: x\r\n\r\n");
    ck_assert_int_eq(raw_handshake(PORT, req), 400);
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\r\n");
    ck_assert_int_eq(raw_handshake(PORT, req), 400);
    /* The refusals spent no token: it still opens a socket. */
    struct ws_client c;
    ck_assert_int_eq(rh_try_connect(&c, PORT, tok, "http://good.example", NULL, 0), 101);
    ws_close(&c);
    free(tok);
    bystander(&victim, "h-cr");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&u);
    rh_pair_close(&victim);
}
END_TEST

/* ------------------------------------------------ 7. close codes */

/* Frames that break the framing rules each close the connection with 1002
 * (not an empty close), and the connection is closing from that moment:
 * it leaves the connection count at once (not at pong_timeout, which is
 * left at its default, far beyond the waits here) and a message to its
 * room is not counted as delivered to it. */
START_TEST(test_hostile_bad_frames_close_1002)
{
    static const uint8_t big_ping_head[] = {0x89, 0x80 | 126, 0x00, 126, 0, 0, 0, 0};
    static const uint8_t fragmented_ping[] = {0x09, 0x80 | 1, 0, 0, 0, 0, 'x'};
    static const uint8_t huge_length[] = {0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    static const uint8_t short_close[] = {0x88, 0x80 | 1, 0, 0, 0, 0, 0x03};
    struct {
        const char *what;
        const uint8_t *bytes;
        size_t len;
    } bad[] = {
        {"a 126-byte ping", NULL, 0},
        {"a fragmented ping", fragmented_ping, sizeof fragmented_ping},
        {"a 64-bit length with the top bit set", huge_length, sizeof huge_length},
        {"a close with a 1-byte payload", short_close, sizeof short_close},
    };
    static uint8_t big_ping[sizeof big_ping_head + 126];
    memcpy(big_ping, big_ping_head, sizeof big_ping_head);
    memset(big_ping + sizeof big_ping_head, 'p', 126);
    bad[0].bytes = big_ping;
    bad[0].len = sizeof big_ping;

    struct rh_pair victim;
    pid_t pid = spawn_with_bystander(NULL, &victim, "hframe");
    struct footprint before = footprint_of(pid, PORT);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ws_client c;
        rh_connect_port(&c, &victim.b, PORT);
        rh_enter(&c, victim.room, -1);
        ck_assert_int_eq(wait_metric(PORT, "chat_relay_connections", 3, 5000), 3);
        ck_assert_int_eq(ws_send_raw(&c, bad[i].bytes, bad[i].len), 0);
        expect_close_code(&c, 1002, bad[i].what);
        ck_assert_msg(wait_metric(PORT, "chat_relay_connections", 2, 5000) == 2,
                      "after %s the connection was still counted", bad[i].what);
        long long out = rh_metric(PORT, "chat_relay_messages_out_total");
        char cmid[32];
        snprintf(cmid, sizeof cmid, "h-frame-%zu", i);
        bystander(&victim, cmid);
        /* One receiver: victim.b's live connection, not the closed one. */
        ck_assert_int_eq(rh_metric(PORT, "chat_relay_messages_out_total") - out, 1);
        ws_close(&c);
    }
    assert_bounded(&before, 4096, 8, "bad frames");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&victim);
}
END_TEST

/* ------------------------------------------------ 8. browser hardening */

/* What a page needs so an injected script cannot run or a frame cannot
 * hold it: the stack's lighttpd sends the same CSP and headers as every
 * shipped config (the deploy suites check those), and the page works under
 * them (the browser suite runs with them). A message carrying markup is
 * stored and delivered as text. */
START_TEST(test_hostile_browser_hardening)
{
    web_check_security_headers(web_port(), "the dev lighttpd");
    struct rh_pair p;
    rh_pair_open(&p, "hxss", rh_port());
    static const char markup[] = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\","
             "\"clientMsgId\":\"h-xss\"}",
             (long long) p.room, markup);
    cJSON_Delete(rh_expect(&p.ca, "ACK"));
    cJSON *m = rh_expect(&p.cb, "MESSAGE");
    ck_assert_str_eq(rh_str(cJSON_GetObjectItemCaseSensitive(m, "chatMessage"), "message"), markup);
    cJSON_Delete(m);
    struct http_resp r;
    char path[96], ct[128], nosniff[64];
    snprintf(path, sizeof path, "/api/v1/chat/%lld", (long long) p.room);
    api_get(path, p.a.jwt, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(http_header(&r, "Content-Type", ct, sizeof ct));
    ck_assert_msg(strstr(ct, "application/json"), "history served as %s", ct);
    ck_assert_ptr_nonnull(http_header(&r, "X-Content-Type-Options", nosniff, sizeof nosniff));
    ck_assert_str_eq(nosniff, "nosniff");
    http_resp_free(&r);
    rh_pair_close(&p);
}
END_TEST

/* ------------------------------------------------ 9. looser ends */

/* Bytes after the JSON of a frame: the frame is refused (bad_request), the
 * message is not stored, and the connection goes on. */
START_TEST(test_hostile_trailing_bytes_refused)
{
    struct rh_pair p;
    rh_pair_open(&p, "htrail", rh_port());
    const char *tails[] = {"x", " {}", "\\u0000", "]"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        rh_sendf(&p.ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"t\","
                 "\"clientMsgId\":\"h-trail-%zu\"}%s",
                 (long long) p.room, i, tails[i]);
        cJSON_Delete(rh_expect_error(&p.ca, "bad_request"));
    }
    rh_no_frame(&p.cb, 200);
    int64_t seqs[8];
    ck_assert_int_eq((int) rh_history_seqs(&p.a, p.room, 0, seqs, 8), 0);
    bystander(&p, "h-trail-ok");
    rh_pair_close(&p);
}
END_TEST

/* A JWT that is valid but lives longer than jwt_max_lifetime is refused,
 * so a token leaked from a careless issuer cannot be used for a year. */
START_TEST(test_hostile_jwt_lifetime_capped)
{
    struct config cfg = *testenv_config();
    ck_assert_int_gt(cfg.jwt_max_lifetime, 0);
    int64_t id = 0;
    char *jwt = api_login("hlife", &id);
    free(jwt);
    char tok[1024];
    /* Issued now, expiring a day and an hour later: over the cap. */
    cfg.jwt_ttl = cfg.jwt_max_lifetime + 3600;
    ck_assert_int_eq(jwt_sign(&cfg, id, (int64_t) time(NULL), tok, sizeof tok), 0);
    struct http_resp r;
    ck_assert_int_eq(http_json("POST", "/api/v1/socket-token", tok, "{}", &r), 0);
    ck_assert_int_eq(r.status, 401);
    http_resp_free(&r);
    /* The same user with a token inside the cap is served. */
    cfg.jwt_ttl = testenv_config()->jwt_ttl;
    ck_assert_int_eq(jwt_sign(&cfg, id, (int64_t) time(NULL), tok, sizeof tok), 0);
    ck_assert_int_eq(http_json("POST", "/api/v1/socket-token", tok, "{}", &r), 0);
    ck_assert_int_eq(r.status, 201);
    http_resp_free(&r);
}
END_TEST

/* Nobody can register a name that differs from another's only in case:
 * signing in as the other spelling is the same user. */
START_TEST(test_hostile_username_case_is_one_user)
{
    char lower[96], upper[96];
    snprintf(lower, sizeof lower, "%s", testenv_unique("hcase"));
    for (size_t i = 0; i <= strlen(lower); i++)
        upper[i] = (char) toupper((unsigned char) lower[i]);
    int64_t id = 0, again = 0;
    char *a = test_login(lower, &id), *b = test_login(upper, &again);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(again, id);
    free(a);
    free(b);
}
END_TEST

/* Without Redis a relay is alone: it does not share its port, so a second
 * one started by mistake fails ("address in use") instead of taking half
 * of the new connections; the first keeps serving. */
START_TEST(test_hostile_stray_relay_cannot_split_port)
{
    const char *env[] = {"CHAT_REDIS_URL=", NULL};
    pid_t pid = rh_spawn(PORT, env);
    ck_assert_int_eq(rh_spawn_exit(PORT, env, 20000), 1);
    struct rh_pair p;
    rh_pair_open(&p, "hstray", PORT);
    bystander(&p, "h-stray");
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_pair_close(&p);
}
END_TEST

/* A start failure's reason carries text from libraries and the config
 * (here getaddrinfo's answer about a relay_host with a quote in it): it is
 * logged escaped, so it cannot end the value and forge other fields. */
START_TEST(test_hostile_library_text_logged_escaped)
{
    char host[64], env_host[96], log[512], line[1024];
    snprintf(host, sizeof host, "no\"such%d level=fake", (int) getpid());
    snprintf(env_host, sizeof env_host, "CHAT_RELAY_HOST=%s", host);
    const char *env[] = {env_host, NULL};
    ck_assert_int_eq(rh_spawn_exit(PORT, env, 20000), 1);
    snprintf(log, sizeof log, "%s/log/relay-%d.log", testenv_var_dir(), PORT);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char want[128], mark[64];
    snprintf(mark, sizeof mark, "such%d", (int) getpid());
    snprintf(want, sizeof want, "reason=\"relay_host no\\\"such%d level=fake", (int) getpid());
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "event=start_failed") && strstr(line, mark)) {
            found = 1;
            ck_assert_msg(strstr(line, want) != NULL, "not escaped: %s", line);
        }
    fclose(f);
    ck_assert_msg(found, "no start_failed line naming the host in %s", log);
}
END_TEST

/* FerretDB paused while one batch holds messages of two rooms whose seqs
 * interleave the other way round (the first room is further along): the
 * sender still gets its ERRORs in the order it sent. */
START_TEST(test_hostile_outage_errors_in_send_order_across_rooms)
{
    enum { N = 5 };
    const char *env[] = {"CHAT_MONGO_TIMEOUT_MS=2000", NULL};
    pid_t pid = rh_spawn(PORT, env);
    struct rh_pair p;
    rh_pair_open(&p, "horder", PORT);
    struct rh_user peer;
    rh_user_new(&peer, "horder2");
    int64_t room2 = rh_room(&p.a, &peer);
    rh_enter(&p.ca, room2, -1);
    for (int i = 0; i < 4; i++) { /* room 1 ahead: seqs 1-4, room 2 at 0 */
        char cmid[16];
        snprintf(cmid, sizeof cmid, "pre-%d", i);
        rh_text(&p.ca, p.room, cmid, "ahead");
    }
    rh_no_frame(&p.ca, 100);

    /* One write: all five frames reach the relay in one read, so one
     * batch holds them. */
    static uint8_t buf[N * 256];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        char text[160];
        int n = snprintf(text, sizeof text,
                         "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m\","
                         "\"clientMsgId\":\"o-%d\"}",
                         (long long) (i % 2 ? room2 : p.room), i);
        len += ws_frame_encode(buf + len, sizeof buf - len, WS_OP_TEXT, 0, text, (size_t) n);
    }
    pid_t ferret = testenv_pid("ferretdb");
    ck_assert_int_gt(ferret, 0);
    kill(ferret, SIGSTOP);
    int sent = ws_send_raw(&p.ca, buf, len);
    cJSON *got[N] = {0};
    for (int i = 0; i < N; i++)
        if (!(got[i] = rh_next(&p.ca, 15000)))
            break;
    kill(ferret, SIGCONT);

    ck_assert_int_eq(sent, 0);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "o-%d", i);
        ck_assert_msg(got[i] != NULL, "no answer %d while MongoDB was paused", i);
        ck_assert_str_eq(rh_str(got[i], "type"), "ERROR");
        ck_assert_str_eq(rh_str(got[i], "code"), "unavailable");
        ck_assert_str_eq(rh_str(got[i], "clientMsgId"), want);
        cJSON_Delete(got[i]);
    }
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    rh_user_free(&peer);
    rh_pair_close(&p);
}
END_TEST

Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("attacks");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, NULL, resume_stores);
    tcase_add_test(tc, test_hostile_ping_flood);
    tcase_add_test(tc, test_hostile_idle_sockets_cannot_fill_select);
    tcase_add_test(tc, test_hostile_handshake_share_sheds_oldest);
    tcase_add_test(tc, test_hostile_loopback_not_limited_per_address);
    tcase_add_test(tc, test_hostile_enter_flood);
    tcase_add_test(tc, test_hostile_closed_connection_work_dropped);
    tcase_add_test(tc, test_hostile_heavy_sender_refused_first);
    tcase_add_test(tc, test_hostile_one_user_every_slot);
    tcase_add_test(tc, test_hostile_unbounded_bodies);
    tcase_add_test(tc, test_hostile_bare_cr);
    tcase_add_test(tc, test_hostile_bad_frames_close_1002);
    tcase_add_test(tc, test_hostile_browser_hardening);
    tcase_add_test(tc, test_hostile_trailing_bytes_refused);
    tcase_add_test(tc, test_hostile_jwt_lifetime_capped);
    tcase_add_test(tc, test_hostile_username_case_is_one_user);
    tcase_add_test(tc, test_hostile_stray_relay_cannot_split_port);
    tcase_add_test(tc, test_hostile_library_text_logged_escaped);
    tcase_add_test(tc, test_hostile_outage_errors_in_send_order_across_rooms);
    suite_add_tcase(s, tc);
    return s;
}
