/*
 * check_relay_10k.c - one relay process holds 10,000 idle WebSockets (past
 * select()'s FD_SETSIZE of 1024, ev.c's own descriptor sets) while two
 * users keep chatting, then lets them all go and still serves.
 *
 * The idle connections are completed upgrades with valid single-use socket
 * tokens, opened by this process' own small poll() loop over non-blocking
 * sockets, at most IN_FLIGHT handshakes at a time; no thread per socket.
 * The tokens are minted in bulk with socket_token_issue (the function
 * behind POST /api/v1/socket-token) on the test's MySQL connection, in one
 * transaction: the API's socket_tokens_per_minute would otherwise take
 * 10,000 / 60 minutes of one user. The private relay is configured for
 * the test:
 *   - max_connections 10100 (room for the idle ones and the pair),
 *   - max_connections_per_user 0 (the idle ones belong to a few users),
 *   - handshake_limit_loopback 0 (the default: every client is 127.0.0.1,
 *     so a per-address limit would count them all together) and the
 *     HTTP-stage share left at its default (a quarter of max_connections,
 *     far above IN_FLIGHT), so no handshake of the test is shed,
 *   - ping_interval and pong_timeout above the test's length: idle means
 *     idle here, the sockets are never read until they are closed.
 */
#include "api_helpers.h"
#include "relay_helpers.h"
#include "socket_tokens.h"
#include "sqldb.h"
#include "testenv.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT 18095

enum {
    N = 10000,      /* idle WebSockets */
    IDLE_USERS = 8, /* they belong to */
    IN_FLIGHT = 128,
    CHAT_EVERY = 1000,    /* a message of the pair every this many opened */
    TOKEN_TTL = 600,      /* s: the whole run fits */
    WAIT_MS = 120 * 1000, /* bound on each phase (not a timing assertion) */
};

enum idle_state { IDLE_NEW, IDLE_CONNECTING, IDLE_READING, IDLE_OPEN };

struct idle {
    int fd;
    enum idle_state state;
    size_t len;
    char head[320]; /* the 101 answer */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* raise_nofile: at least n descriptors for this process (and the relay it
 * spawns, which inherits the limit). A hard limit below n is raised too,
 * which root may do (tests run as root in CI); otherwise the test says why. */
static void raise_nofile(rlim_t n)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= n)
        return;
    rl.rlim_cur = n;
    if (rl.rlim_max < n)
        rl.rlim_max = n;
    ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0,
                  "cannot raise RLIMIT_NOFILE to %llu (hard limit too low, and not root?)",
                  (unsigned long long) n);
}

/* mint_tokens: n tokens of the users (round robin) in one transaction. */
static char (*mint_tokens(const struct rh_user *users, int nusers, int n))[SOCKET_TOKEN_TEXT_LEN]
{
    char(*tok)[SOCKET_TOKEN_TEXT_LEN] = calloc((size_t) n, sizeof *tok);
    ck_assert_ptr_nonnull(tok);
    struct sqldb *db = api_db();
    ck_assert_int_eq(sqldb_begin(db), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(socket_token_issue(db, users[i % nusers].id, TOKEN_TTL, tok[i]), 0);
    ck_assert_int_eq(sqldb_commit(db), 0);
    return tok;
}

/* idle_send_request: the upgrade request with token; the socket is
 * connected and its buffer empty, so it goes out whole. */
static void idle_send_request(struct idle *c, const char *token)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     token, PORT);
    ck_assert_int_eq(send(c->fd, req, (size_t) n, MSG_NOSIGNAL), n);
    c->state = IDLE_READING;
}

/* idle_start: a non-blocking connect; the request follows once connected. */
static void idle_start(struct idle *c, const char *token)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_msg(c->fd >= 0, "socket: %s", strerror(errno));
    c->len = 0;
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) == 0) {
        idle_send_request(c, token);
        return;
    }
    ck_assert_msg(errno == EINPROGRESS, "connect: %s", strerror(errno));
    c->state = IDLE_CONNECTING;
}

/* idle_step: progress after poll() reported revents; asserts a 101. */
static void idle_step(struct idle *c, short revents, const char *token, int i)
{
    if (c->state == IDLE_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        ck_assert_int_eq(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        ck_assert_msg(err == 0, "connection %d: connect: %s", i, strerror(err));
        if (revents & POLLOUT)
            idle_send_request(c, token);
        return;
    }
    ssize_t got = recv(c->fd, c->head + c->len, sizeof c->head - 1 - c->len, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ck_assert_msg(got > 0, "connection %d: closed during the handshake (%zu bytes: %.*s)", i,
                  c->len, (int) c->len, c->head);
    c->len += (size_t) got;
    c->head[c->len] = '\0';
    if (!strstr(c->head, "\r\n\r\n")) {
        ck_assert_msg(c->len < sizeof c->head - 1, "connection %d: answer too long", i);
        return;
    }
    ck_assert_msg(strncmp(c->head, "HTTP/1.1 101 ", 13) == 0, "connection %d: %s", i, c->head);
    /* The relay sends nothing more unasked (no pings in this test). */
    ck_assert_msg(strstr(c->head, "\r\n\r\n") + 4 == c->head + c->len,
                  "connection %d: bytes after the 101", i);
    c->state = IDLE_OPEN;
}

/* chat: A sends one TEXT; A gets its ACK and B the MESSAGE with that seq. */
static void chat(struct rh_pair *p, int k)
{
    char cmid[32];
    snprintf(cmid, sizeof cmid, "tenk-%d", k);
    rh_sendf(
        &p->ca,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m %d\",\"clientMsgId\":\"%s\"}",
        (long long) p->room, k, cmid);
    cJSON *ack = rh_next(&p->ca, WAIT_MS);
    ck_assert_msg(ack != NULL, "no ACK for %s", cmid);
    ck_assert_str_eq(rh_str(ack, "type"), "ACK");
    ck_assert_str_eq(rh_str(ack, "clientMsgId"), cmid);
    cJSON *msg = rh_next(&p->cb, WAIT_MS);
    ck_assert_msg(msg != NULL, "no MESSAGE for %s", cmid);
    ck_assert_str_eq(rh_str(msg, "type"), "MESSAGE");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(m, "clientMsgId"), cmid);
    ck_assert_int_eq(rh_int(m, "seq"), rh_int(ack, "seq"));
    cJSON_Delete(ack);
    cJSON_Delete(msg);
}

/* wait_gauge: poll the relay's metric until it equals want (or WAIT_MS). */
static long long wait_gauge(const char *name, long long want)
{
    long long v = -1;
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; usleep(100 * 1000))
        if ((v = rh_metric(PORT, name)) == want)
            break;
    return v;
}

/* open_idle: open N idle WebSockets with the tokens, IN_FLIGHT handshakes
 * at a time; the pair chats every CHAT_EVERY opened. */
static void open_idle(struct idle *c, char (*tok)[SOCKET_TOKEN_TEXT_LEN], struct rh_pair *p,
                      int *chats)
{
    int started = 0, opened = 0, flight[IN_FLIGHT] = {0}, nflight = 0;
    struct pollfd pfd[IN_FLIGHT];
    int64_t end = now_ms() + 10 * WAIT_MS;
    while (opened < N) {
        ck_assert_msg(now_ms() < end, "only %d of %d connections opened", opened, N);
        while (nflight < IN_FLIGHT && started < N) {
            idle_start(&c[started], tok[started]);
            flight[nflight++] = started++;
        }
        for (int j = 0; j < nflight; j++)
            pfd[j] =
                (struct pollfd){.fd = c[flight[j]].fd,
                                .events = c[flight[j]].state == IDLE_CONNECTING ? POLLOUT : POLLIN};
        int n = poll(pfd, (nfds_t) nflight, 1000);
        ck_assert_int_ge(n, 0);
        for (int j = 0; j < nflight && n > 0; j++) {
            if (!pfd[j].revents)
                continue;
            int i = flight[j];
            idle_step(&c[i], pfd[j].revents, tok[i], i);
            if (c[i].state != IDLE_OPEN)
                continue;
            flight[j] = flight[--nflight];
            pfd[j] = pfd[nflight];
            j--;
            if (++opened % CHAT_EVERY == 0)
                chat(p, (*chats)++);
        }
    }
}

START_TEST(test_relay_holds_10k_idle_while_two_chat)
{
    raise_nofile(N + 1024);
    const char *env[] = {"CHAT_MAX_CONNECTIONS=10100",      "CHAT_MAX_CONNECTIONS_PER_USER=0",
                         "CHAT_HANDSHAKE_LIMIT_LOOPBACK=0", "CHAT_PING_INTERVAL=3600",
                         "CHAT_PONG_TIMEOUT=7200",          NULL};
    pid_t pid = rh_spawn(PORT, env);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_connections_max"), 10100);

    struct rh_pair p;
    rh_pair_open(&p, "tenk", PORT);
    struct rh_user idle_user[IDLE_USERS];
    for (int u = 0; u < IDLE_USERS; u++)
        rh_user_new(&idle_user[u], "tenkidle");
    char(*tok)[SOCKET_TOKEN_TEXT_LEN] = mint_tokens(idle_user, IDLE_USERS, N);
    struct idle *c = calloc(N, sizeof *c);
    ck_assert_ptr_nonnull(c);

    int chats = 0;
    open_idle(c, tok, &p, &chats);
    ck_assert_int_eq(wait_gauge("chat_relay_connections", N + 2), N + 2);
    ck_assert_int_ge(rh_fd_count(pid), N + 2);
    /* All held: the pair still chats, a new connection still gets in. */
    for (int k = 0; k < 20; k++)
        chat(&p, chats++);
    struct ws_client extra;
    rh_connect_port(&extra, &p.b, PORT);
    ws_close(&extra);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"fd_limit\"}"), 0);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"capacity\"}"), 0);
    ck_assert_int_eq(rh_metric(PORT, "chat_relay_refusals_total{reason=\"handshake_shed\"}"), 0);

    /* Let them all go, the pair chatting on meanwhile. */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(c[i].state, IDLE_OPEN);
        close(c[i].fd);
        if ((i + 1) % CHAT_EVERY == 0)
            chat(&p, chats++);
    }
    ck_assert_int_eq(wait_gauge("chat_relay_connections", 2), 2);
    for (int k = 0; k < 5; k++)
        chat(&p, chats++);
    rh_connect_port(&extra, &p.a, PORT);
    ws_close(&extra);
    ck_assert_int_eq(wait_gauge("chat_relay_connections", 2), 2);

    /* Every message the pair sent is in the history, once. */
    int64_t seqs[64];
    ck_assert_int_eq((int) rh_history_seqs(&p.a, p.room, 0, seqs, 64), chats);
    ck_assert_int_eq(rh_stop(pid, 10000), 0);
    free(c);
    free(tok);
    for (int u = 0; u < IDLE_USERS; u++)
        rh_user_free(&idle_user[u]);
    rh_pair_close(&p);
}
END_TEST

Suite *relay_10k_suite(void)
{
    Suite *s = suite_create("relay_10k");
    TCase *tc = tcase_create("10k");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_relay_holds_10k_idle_while_two_chat);
    suite_add_tcase(s, tc);
    return s;
}
