/*
 * check_relay_scaleout.c - several relays with Redis pub/sub (issue 8;
 * docs/operations.md, "Scaling out"): two private relays on ports of their
 * own and two sharing one port (SO_REUSEPORT), all against the stack's MariaDB and
 * FerretDB and a private redis-server (stack.sh's, on 6380).
 *
 * Covered: messages both ways between a user on one relay and a user on
 * the other, in increasing seq; a clientMsgId retried through the other
 * relay stored once and ACKed with the original; Redis stopped in the
 * middle (nothing ACKed lost, local delivery goes on, cross-relay
 * delivery resumes and the missed messages arrive in order); SIGKILL of a
 * relay (its users resume on the other with `since`, no gap).
 *
 * Every relay a test starts is stopped before it returns; Redis is left
 * as it was found (the unchecked teardown stops it if the suite started it).
 */
#include "relay_helpers.h"
#include "testenv.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REDIS_URL   "CHAT_REDIS_URL=redis://127.0.0.1:6380"
#define PORT_A      8191
#define PORT_B      8192
#define PORT_SHARED 8193
#define MAX_SEEN    128

static int redis_was_running;

static void start_redis(void)
{
    setenv("CHAT_REDIS_URL", "redis://127.0.0.1:6380", 1);
    ck_assert_int_eq(testenv_stack("start redis"), 0);
}

static void suite_setup(void)
{
    redis_was_running = testenv_pid("redis") > 0;
}

static void suite_teardown(void)
{
    if (!redis_was_running) {
        setenv("CHAT_REDIS_URL", "redis://127.0.0.1:6380", 1);
        testenv_stack("stop redis");
    }
    /* This runs in the runner itself: later suites must not inherit it. */
    unsetenv("CHAT_REDIS_URL");
}

static pid_t spawn_relay(int port)
{
    static const char *const env[] = {REDIS_URL, NULL};
    return rh_spawn_sharing(port, env);
}

/* ---------------------------------------------------- frame bookkeeping */

/* seen: MESSAGE seqs one client received, checked as they arrive. */
struct seen {
    int64_t seq[MAX_SEEN];
    size_t n;
};

static void seen_add(struct seen *s, const cJSON *msg)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_msg(m != NULL, "MESSAGE without chatMessage");
    int64_t seq = rh_int(m, "seq");
    ck_assert_msg(s->n == 0 || seq > s->seq[s->n - 1],
                  "MESSAGE seq not increasing: expected > %lld, got %lld",
                  (long long) (s->n ? s->seq[s->n - 1] : 0), (long long) seq);
    ck_assert_uint_lt(s->n, MAX_SEEN);
    s->seq[s->n++] = seq;
}

/* await_for: frames until one of `type` (MESSAGEs on the way go to s);
 * `what` names the wait in a failure. */
static cJSON *await_for(struct ws_client *c, const char *type, struct seen *s, const char *what)
{
    for (;;) {
        cJSON *j = rh_next(c, RH_TIMEOUT_MS);
        ck_assert_msg(j != NULL, "expected a %s frame (%s), got none within %d ms", type, what,
                      RH_TIMEOUT_MS);
        const char *t = rh_str(j, "type");
        if (strcmp(t, type) == 0)
            return j;
        ck_assert_msg(strcmp(t, "MESSAGE") == 0, "expected %s or MESSAGE (%s), got %s", type, what,
                      t);
        seen_add(s, j);
        cJSON_Delete(j);
    }
}

static cJSON *await(struct ws_client *c, const char *type, struct seen *s)
{
    return await_for(c, type, s, "");
}

/* send_text: TEXT, then its ACK (MESSAGEs meanwhile go to s); returns the
 * ACK (caller cJSON_Delete). */
static cJSON *send_text(struct ws_client *c, int64_t room, const char *cmid, struct seen *s)
{
    rh_sendf(
        c,
        "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"m %s\",\"clientMsgId\":\"%s\"}",
        (long long) room, cmid, cmid);
    cJSON *ack = await_for(c, "ACK", s, cmid);
    ck_assert_str_eq(rh_str(ack, "clientMsgId"), cmid);
    return ack;
}

static int64_t send_seq(struct ws_client *c, int64_t room, const char *cmid, struct seen *s)
{
    cJSON *ack = send_text(c, room, cmid, s);
    int64_t seq = rh_int(ack, "seq");
    cJSON_Delete(ack);
    return seq;
}

/* await_seq: MESSAGEs into s until one with seq >= want arrived. */
static void await_seq(struct ws_client *c, struct seen *s, int64_t want)
{
    while (s->n == 0 || s->seq[s->n - 1] < want) {
        cJSON *j = rh_next(c, RH_TIMEOUT_MS);
        ck_assert_msg(j != NULL, "expected MESSAGE seq %lld, last seen %lld", (long long) want,
                      (long long) (s->n ? s->seq[s->n - 1] : -1));
        if (strcmp(rh_str(j, "type"), "MESSAGE") != 0) {
            char *text = cJSON_PrintUnformatted(j);
            ck_abort_msg("expected MESSAGE seq %lld, got %s", (long long) want, text);
        }
        seen_add(s, j);
        cJSON_Delete(j);
    }
}

static int seen_has(const struct seen *s, int64_t seq)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->seq[i] == seq)
            return 1;
    return 0;
}

static void enter(struct ws_client *c, int64_t room)
{
    rh_enter(c, room, -1);
}

/* wait_metric: poll port's metric until it equals want (up to ms). */
static void wait_metric(int port, const char *name, long long want, int ms)
{
    long long v = -2;
    for (int waited = 0; waited <= ms; waited += 100) {
        if ((v = rh_metric(port, name)) == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("relay %d: %s expected %lld, got %lld", port, name, want, v);
}

/* ------------------------------------------------ which relay owns what */

/* field: the i-th whitespace-separated field of line (0-based), or NULL. */
static const char *field(const char *line, int i)
{
    const char *p = line;
    for (;;) {
        p += strspn(p, " ");
        if (*p == '\0' || *p == '\n')
            return NULL;
        if (i-- == 0)
            return p;
        p += strcspn(p, " \n");
    }
}

/* port_of: the port of an "ADDR:PORT" field of /proc/net/tcp (hex). */
static unsigned long port_of(const char *f)
{
    const char *colon = f ? strchr(f, ':') : NULL;
    return colon ? strtoul(colon + 1, NULL, 16) : 0;
}

/* tcp_inodes: inodes of the sockets local_port <-> remote_port in
 * /proc/net/tcp (remote_port 0: listeners on local_port), into out. */
static size_t tcp_inodes(int local_port, int remote_port, unsigned long *out, size_t cap)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    size_t n = 0;
    ck_assert_msg(f != NULL, "cannot read /proc/net/tcp");
    if (!fgets(line, sizeof line, f)) { /* the header */
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f) && n < cap) {
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        const char *st = field(line, 3), *inode = field(line, 9);
        if (!st || !inode || port_of(field(line, 1)) != (unsigned long) local_port)
            continue;
        int listening = strtoul(st, NULL, 16) == 0x0A;
        if (remote_port == 0 ? listening : port_of(field(line, 2)) == (unsigned long) remote_port)
            out[n++] = strtoul(inode, NULL, 10);
    }
    fclose(f);
    return n;
}

static int pid_has_inode(pid_t pid, const unsigned long *inodes, size_t n)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int) pid);
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        char path[320], target[64];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:[", 8) != 0)
            continue;
        unsigned long ino = strtoul(target + 8, NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (inodes[i] == ino)
                found = 1;
    }
    closedir(d);
    return found;
}

/* owner_is: the relay pid holds the server side of client c's connection. */
static int owner_is(const struct ws_client *c, int port, pid_t pid)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *) &sa, &len), 0);
    unsigned long ino[4] = {0};
    size_t n = tcp_inodes(port, ntohs(sa.sin_port), ino, 4);
    return pid_has_inode(pid, ino, n);
}

/* wait_listening: pid has a listening socket on port (up to 20 s). */
static void wait_listening(pid_t pid, int port)
{
    for (int waited = 0; waited < 20000; waited += 50) {
        unsigned long ino[16] = {0};
        size_t n = tcp_inodes(port, 0, ino, 16);
        if (pid_has_inode(pid, ino, n))
            return;
        usleep(50 * 1000);
    }
    ck_abort_msg("relay pid %d never listened on %d", (int) pid, port);
}

/* connect_to: connect u to the shared port until the connection lands on
 * relay `pid` (the kernel picks among the listeners). */
static void connect_to(struct ws_client *c, const struct rh_user *u, int port, pid_t pid)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        rh_connect_port(c, u, port);
        if (owner_is(c, port, pid))
            return;
        ws_close(c);
    }
    ck_abort_msg("64 connections to port %d and none on relay pid %d", port, (int) pid);
}

/* ---------------------------------------------------------------- tests */

/* exchange: alice and bob, on different relays, each send a burst without
 * waiting, so both relays write the room at once; each must see the
 * other's messages, all of them, in increasing seq. */
static void exchange(struct ws_client *ca, struct ws_client *cb, int64_t room, const char *tag)
{
    enum { N = 8 };
    struct seen sa = {0}, sb = {0};
    int64_t acks_a[N], acks_b[N];
    char cmid[64];
    for (int i = 0; i < N; i++) {
        rh_sendf(ca,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"a\",\"clientMsgId\":\"%"
                 "s-a%d\"}",
                 (long long) room, tag, i);
        rh_sendf(cb,
                 "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"b\",\"clientMsgId\":\"%"
                 "s-b%d\"}",
                 (long long) room, tag, i);
    }
    for (int i = 0; i < N; i++) {
        cJSON *j = await(ca, "ACK", &sa);
        snprintf(cmid, sizeof cmid, "%s-a%d", tag, i);
        ck_assert_str_eq(rh_str(j, "clientMsgId"), cmid);
        acks_a[i] = rh_int(j, "seq");
        cJSON_Delete(j);
        j = await(cb, "ACK", &sb);
        snprintf(cmid, sizeof cmid, "%s-b%d", tag, i);
        ck_assert_str_eq(rh_str(j, "clientMsgId"), cmid);
        acks_b[i] = rh_int(j, "seq");
        cJSON_Delete(j);
    }
    int64_t max_a = 0, max_b = 0;
    for (int i = 0; i < N; i++) {
        if (i > 0) {
            ck_assert_int_gt(acks_a[i], acks_a[i - 1]);
            ck_assert_int_gt(acks_b[i], acks_b[i - 1]);
        }
        for (int k = 0; k < N; k++)
            ck_assert_msg(acks_a[i] != acks_b[k], "seq %lld given to two messages",
                          (long long) acks_a[i]);
        max_a = acks_a[i] > max_a ? acks_a[i] : max_a;
        max_b = acks_b[i] > max_b ? acks_b[i] : max_b;
    }
    await_seq(cb, &sb, max_a);
    await_seq(ca, &sa, max_b);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(seen_has(&sb, acks_a[i]), "bob never got alice's seq %lld",
                      (long long) acks_a[i]);
        ck_assert_msg(seen_has(&sa, acks_b[i]), "alice never got bob's seq %lld",
                      (long long) acks_b[i]);
    }
    ck_assert_uint_eq(sa.n, N); /* nothing twice, none of her own */
    ck_assert_uint_eq(sb.n, N);
}

/* duo: two relays (each with Redis), alice and bob and their room;
 * ca/cb are alice's and bob's first connections, already ENTERed. */
struct duo {
    pid_t a, b;
    int port_a, port_b;
    struct rh_user alice, bob;
    int64_t room;
    struct ws_client ca, cb;
    struct seen sa, sb;
};

/* duo_open: relays on port_a and port_b (equal: one shared port, and
 * alice lands on the first relay, bob on the second). */
static void duo_open(struct duo *d, const char *prefix, int port_a, int port_b)
{
    char name[64];
    memset(d, 0, sizeof *d);
    start_redis();
    d->port_a = port_a;
    d->port_b = port_b;
    d->a = spawn_relay(port_a);
    wait_listening(d->a, port_a);
    d->b = spawn_relay(port_b);
    wait_listening(d->b, port_b);
    snprintf(name, sizeof name, "%sa", prefix);
    rh_user_new(&d->alice, name);
    snprintf(name, sizeof name, "%sb", prefix);
    rh_user_new(&d->bob, name);
    d->room = rh_room(&d->alice, &d->bob);
    if (port_a == port_b) {
        connect_to(&d->ca, &d->alice, port_a, d->a);
        connect_to(&d->cb, &d->bob, port_b, d->b);
        ck_assert(!owner_is(&d->ca, port_a, d->b) && !owner_is(&d->cb, port_b, d->a));
    } else {
        rh_connect_port(&d->ca, &d->alice, port_a);
        rh_connect_port(&d->cb, &d->bob, port_b);
    }
    enter(&d->ca, d->room);
    enter(&d->cb, d->room);
}

/* duo_close: close the clients and stop the relays still running
 * (a < 0: already killed); both must exit cleanly. */
static void duo_close(struct duo *d)
{
    ws_close(&d->ca);
    ws_close(&d->cb);
    rh_user_free(&d->alice);
    rh_user_free(&d->bob);
    if (d->a > 0)
        ck_assert_int_eq(rh_stop(d->a, 10000), 0);
    ck_assert_int_eq(rh_stop(d->b, 10000), 0);
}

/* ping_pong: one message each way, one at a time; seqs consecutive. */
static void ping_pong(struct duo *d, const char *tag)
{
    char cmid[64];
    snprintf(cmid, sizeof cmid, "%s-1", tag);
    int64_t s1 = send_seq(&d->ca, d->room, cmid, &d->sa);
    await_seq(&d->cb, &d->sb, s1);
    snprintf(cmid, sizeof cmid, "%s-2", tag);
    int64_t s2 = send_seq(&d->cb, d->room, cmid, &d->sb);
    await_seq(&d->ca, &d->sa, s2);
    ck_assert_int_eq(s2, s1 + 1);
}

START_TEST(test_scaleout_two_relays_both_ways_in_order)
{
    struct duo d;
    duo_open(&d, "soorder", PORT_A, PORT_B);
    ping_pong(&d, "one");
    exchange(&d.ca, &d.cb, d.room, "burst");
    ck_assert_int_ge(rh_metric(PORT_A, "chat_relay_redis_messages_in_total"), 9);
    duo_close(&d);
}
END_TEST

START_TEST(test_scaleout_two_relays_share_one_port)
{
    struct duo d;
    duo_open(&d, "soport", PORT_SHARED, PORT_SHARED);
    ping_pong(&d, "port");
    exchange(&d.ca, &d.cb, d.room, "port");
    duo_close(&d);
}
END_TEST

/* READ and TYPING cross relays too: bob on B reads and types, alice on A
 * hears both; alice types, bob hears it. */
START_TEST(test_scaleout_read_and_typing_cross_relays)
{
    struct duo d;
    duo_open(&d, "sostate", PORT_A, PORT_B);
    cJSON *ack = send_text(&d.ca, d.room, "st-1", &d.sa);
    int64_t seq = rh_int(ack, "seq");
    cJSON_Delete(ack);
    await_seq(&d.cb, &d.sb, seq);

    rh_sendf(&d.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":%lld}", (long long) d.room,
             (long long) seq);
    cJSON *r = rh_expect(&d.ca, "READ");
    ck_assert_int_eq(rh_int(r, "userId"), d.bob.id);
    ck_assert_int_eq(rh_int(r, "seq"), seq);
    cJSON_Delete(r);
    cJSON_Delete(rh_expect(&d.cb, "READ")); /* the reader's own connection */

    rh_sendf(&d.cb, "{\"chatType\":\"TYPING\",\"chatRoomId\":%lld}", (long long) d.room);
    cJSON *t = rh_expect(&d.ca, "TYPING");
    ck_assert_int_eq(rh_int(t, "userId"), d.bob.id);
    cJSON_Delete(t);
    rh_sendf(&d.ca, "{\"chatType\":\"TYPING\",\"chatRoomId\":%lld}", (long long) d.room);
    t = rh_expect(&d.cb, "TYPING");
    ck_assert_int_eq(rh_int(t, "userId"), d.alice.id);
    cJSON_Delete(t);

    /* Bob's second connection, on A, has not ENTERed: alice's next message
     * reaches it as a ROOM notice. And one on B, not ENTERed either. */
    struct ws_client bob_a, bob_b;
    rh_connect_port(&bob_a, &d.bob, PORT_A);
    rh_connect_port(&bob_b, &d.bob, PORT_B);
    ack = send_text(&d.ca, d.room, "st-2", &d.sa);
    seq = rh_int(ack, "seq");
    cJSON_Delete(ack);
    for (int k = 0; k < 2; k++) {
        cJSON *n = rh_expect(k ? &bob_b : &bob_a, "ROOM");
        ck_assert_int_eq(rh_int(n, "lastSeq"), seq);
        cJSON_Delete(n);
    }
    await_seq(&d.cb, &d.sb, seq);
    ws_close(&bob_a);
    ws_close(&bob_b);
    duo_close(&d);
}
END_TEST

/* Presence counts every relay: bob with one connection on each relay
 * stays online for alice until both are closed; alice hears each change
 * once, from whichever relay made it. */
START_TEST(test_scaleout_presence_counts_all_relays)
{
    struct duo d;
    duo_open(&d, "soprs", PORT_A, PORT_B);
    /* Alice entered with bob connected on B: bob is online. Relay A may
     * have asked Redis before B's count arrived there; then alice hears
     * "offline" first and B's change right after, never the same twice. */
    cJSON *p = rh_expect(&d.ca, "PRESENCE");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "online"))) {
        cJSON_Delete(p);
        p = rh_expect(&d.ca, "PRESENCE");
    }
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "online")));
    cJSON_Delete(p);
    struct ws_client bob_a;
    rh_connect_port(&bob_a, &d.bob, PORT_A);
    /* bob was online already (cb on B); a second connection changes nothing. */
    ws_close(&d.cb); /* one left, on A */
    rh_no_frame(&d.ca, 100);
    struct ws_frame f;
    int changes = 0;
    while (ws_recv_frame(&d.ca, 700, &f) == 0) {
        changes += f.opcode == WS_OP_TEXT && strstr((const char *) f.payload, "\"PRESENCE\"");
        ws_frame_free(&f);
    }
    ck_assert_int_eq(changes, 0);
    ws_close(&bob_a); /* the last: offline, told once */
    p = rh_expect(&d.ca, "PRESENCE");
    ck_assert_int_eq(rh_int(p, "userId"), d.bob.id);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "online")));
    cJSON_Delete(p);
    /* Back on B: online, told to alice on A. */
    rh_connect_port(&d.cb, &d.bob, PORT_B);
    p = rh_expect(&d.ca, "PRESENCE");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "online")));
    cJSON_Delete(p);
    duo_close(&d);
}
END_TEST

START_TEST(test_scaleout_retry_through_other_relay_stored_once)
{
    struct duo d;
    struct ws_client ca2; /* alice's retry comes through the other relay */
    duo_open(&d, "soretry", PORT_A, PORT_B);
    rh_connect_port(&ca2, &d.alice, PORT_B);

    cJSON *first = send_text(&d.ca, d.room, "retry-1", &d.sa);
    int64_t seq = rh_int(first, "seq");
    char id[64];
    snprintf(id, sizeof id, "%s", rh_str(first, "id"));
    cJSON_Delete(first);
    await_seq(&d.cb, &d.sb, seq);

    cJSON *again = send_text(&ca2, d.room, "retry-1", &d.sa);
    ck_assert_int_eq(rh_int(again, "seq"), seq);
    ck_assert_str_eq(rh_str(again, "id"), id);
    cJSON_Delete(again);
    rh_no_frame(&d.cb, 700); /* bob saw it once */
    ck_assert_uint_eq(d.sb.n, 1);

    int64_t stored[16];
    size_t n = rh_history_seqs(&d.alice, d.room, 0, stored, 16);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(stored[0], seq);
    ws_close(&ca2);
    duo_close(&d);
}
END_TEST

START_TEST(test_scaleout_redis_outage_local_continues_then_resumes)
{
    struct duo d;
    struct ws_client cb2; /* bob's second device, on alice's relay */
    struct seen sb2 = {0};
    duo_open(&d, "sored", PORT_A, PORT_B);
    rh_connect_port(&cb2, &d.bob, PORT_A);
    enter(&cb2, d.room);

    int64_t m1 = send_seq(&d.ca, d.room, "red-1", &d.sa);
    await_seq(&d.cb, &d.sb, m1);
    await_seq(&cb2, &sb2, m1);

    ck_assert_int_eq(testenv_stack("stop redis"), 0);
    wait_metric(PORT_A, "chat_relay_redis_up", 0, 5000);
    wait_metric(PORT_B, "chat_relay_redis_up", 0, 5000);

    /* Stored and ACKed without Redis; local members still get it. */
    int64_t m2 = send_seq(&d.ca, d.room, "red-2", &d.sa);
    ck_assert_int_gt(m2, m1);
    await_seq(&cb2, &sb2, m2);
    int64_t m3 = send_seq(&d.cb, d.room, "red-3", &d.sb);
    ck_assert_int_gt(m3, m2); /* B's fallback counter is seeded from MongoDB */
    ck_assert_int_ge(rh_metric(PORT_A, "chat_relay_redis_errors_total"), 1);

    start_redis();
    wait_metric(PORT_A, "chat_relay_redis_up", 1, 15000);
    wait_metric(PORT_B, "chat_relay_redis_up", 1, 15000);

    /* What crossed no relay while Redis was away arrives now, in order,
     * and live delivery across relays works again. */
    await_seq(&d.cb, &d.sb, m2);
    await_seq(&d.ca, &d.sa, m3);
    await_seq(&cb2, &sb2, m3);
    int64_t m4 = send_seq(&d.ca, d.room, "red-4", &d.sa);
    await_seq(&d.cb, &d.sb, m4);
    await_seq(&cb2, &sb2, m4);
    int64_t m5 = send_seq(&d.cb, d.room, "red-5", &d.sb);
    await_seq(&d.ca, &d.sa, m5);
    await_seq(&cb2, &sb2, m5);

    ck_assert_msg(seen_has(&d.sb, m2) && seen_has(&d.sb, m4) && !seen_has(&d.sb, m3),
                  "bob on B: expected m2 and m4 (not his own m3)");
    ck_assert_msg(seen_has(&d.sa, m3) && seen_has(&d.sa, m5), "alice: expected m3 and m5");
    ck_assert_uint_eq(sb2.n, 5); /* m1..m5, increasing (checked on arrival) */

    int64_t stored[16];
    size_t n = rh_history_seqs(&d.alice, d.room, 0, stored, 16);
    int64_t want[] = {m1, m2, m3, m4, m5};
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(stored[i], want[i]);
    ws_close(&cb2);
    duo_close(&d);
}
END_TEST

START_TEST(test_scaleout_sigkill_resume_on_other_relay_with_since)
{
    struct duo d;
    duo_open(&d, "sokill", PORT_A, PORT_B);
    ping_pong(&d, "kill");
    int64_t cursor = d.sa.seq[d.sa.n - 1];

    kill(d.a, SIGKILL);
    waitpid(d.a, NULL, 0);
    d.a = -1;
    int64_t b2 = send_seq(&d.cb, d.room, "kill-b2", &d.sb);
    int64_t b3 = send_seq(&d.cb, d.room, "kill-b3", &d.sb);

    /* alice's page reconnects (to the surviving relay) with since. */
    ws_close(&d.ca);
    rh_connect_port(&d.ca, &d.alice, PORT_B);
    rh_sendf(&d.ca, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld,\"since\":%lld}",
             (long long) d.room, (long long) cursor);
    cJSON *entered = await(&d.ca, "ENTERED", &d.sa);
    ck_assert_int_eq(rh_int(entered, "lastSeq"), b3);
    cJSON_Delete(entered);
    size_t before = d.sa.n;
    await_seq(&d.ca, &d.sa, b3);
    ck_assert_uint_eq(d.sa.n - before, 2);
    ck_assert_int_eq(d.sa.seq[before], b2);
    ck_assert_int_eq(d.sa.seq[before + 1], b3);

    int64_t a2 = send_seq(&d.ca, d.room, "kill-a2", &d.sa);
    await_seq(&d.cb, &d.sb, a2);
    duo_close(&d);
}
END_TEST

Suite *relay_scaleout_suite(void)
{
    Suite *s = suite_create("relay_scaleout");
    TCase *tc = tcase_create("scaleout");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_test(tc, test_scaleout_two_relays_both_ways_in_order);
    tcase_add_test(tc, test_scaleout_retry_through_other_relay_stored_once);
    tcase_add_test(tc, test_scaleout_read_and_typing_cross_relays);
    tcase_add_test(tc, test_scaleout_presence_counts_all_relays);
    tcase_add_test(tc, test_scaleout_redis_outage_local_continues_then_resumes);
    tcase_add_test(tc, test_scaleout_sigkill_resume_on_other_relay_with_since);
    tcase_add_test(tc, test_scaleout_two_relays_share_one_port);
    suite_add_tcase(s, tc);
    return s;
}
