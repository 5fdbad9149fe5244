/* relay_helpers.c - see relay_helpers.h. */
#include "relay_helpers.h"
#include "api_helpers.h"
#include "http_client.h"
#include "testenv.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void rh_user_new(struct rh_user *u, const char *prefix)
{
    u->jwt = api_login(prefix, &u->id);
}

void rh_user_free(struct rh_user *u)
{
    free(u->jwt);
    u->jwt = NULL;
}

int64_t rh_room(const struct rh_user *a, const struct rh_user *b)
{
    return api_room(a->jwt, b->id, NULL);
}

char *rh_token(const struct rh_user *u)
{
    struct http_resp r;
    ck_assert_int_eq(http_json("POST", "/api/v1/socket-token", u->jwt, "{}", &r), 0);
    ck_assert_msg(r.status == 201, "POST /socket-token: %ld %s", r.status, r.body);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r.json, "token");
    ck_assert_msg(cJSON_IsString(t), "no token in %s", r.body);
    char *tok = strdup(t->valuestring);
    http_resp_free(&r);
    return tok;
}

int rh_port(void)
{
    return testenv_config()->relay_port;
}

static void side_forget(const struct ws_client *c);

int rh_try_connect(struct ws_client *c, int port, const char *token, const char *origin, char *body,
                   size_t cap)
{
    char target[256];
    int status = 0;
    side_forget(c);
    if (token)
        snprintf(target, sizeof target, "/ws?token=%s", token);
    else
        snprintf(target, sizeof target, "/ws");
    if (ws_connect(c, "127.0.0.1", port, target, origin, RH_TIMEOUT_MS, &status, body, cap) == 0)
        return 101;
    return status;
}

void rh_connect_port(struct ws_client *c, const struct rh_user *u, int port)
{
    char *tok = rh_token(u);
    char body[256];
    int status = rh_try_connect(c, port, tok, NULL, body, sizeof body);
    free(tok);
    ck_assert_msg(status == 101, "relay handshake: expected 101, got %d (%s)", status, body);
}

void rh_connect(struct ws_client *c, const struct rh_user *u)
{
    rh_connect_port(c, u, rh_port());
}

void rh_pair_open(struct rh_pair *p, const char *prefix, int port)
{
    rh_user_new(&p->a, prefix);
    rh_user_new(&p->b, prefix);
    p->room = rh_room(&p->a, &p->b);
    rh_connect_port(&p->ca, &p->a, port);
    rh_connect_port(&p->cb, &p->b, port);
    ck_assert_int_eq(rh_enter(&p->ca, p->room, -1), 0);
    ck_assert_int_eq(rh_enter(&p->cb, p->room, -1), 0);
}

void rh_pair_close(struct rh_pair *p)
{
    ws_close(&p->ca);
    ws_close(&p->cb);
    rh_user_free(&p->a);
    rh_user_free(&p->b);
}

void rh_sendf(struct ws_client *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ck_assert_msg(n > 0 && (size_t) n < sizeof buf, "frame too long for rh_sendf");
    ck_assert_msg(ws_send_text(c, buf) == 0, "sending %s failed", buf);
}

/* next_any: the next text frame as JSON, whatever its type. */
static cJSON *next_any(struct ws_client *c, int timeout_ms)
{
    char *text;
    if (ws_recv_text(c, timeout_ms, &text) != 0)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "relay sent non-JSON text: %s", text);
    free(text);
    return j;
}

/* is_side_frame: PRESENCE and ROOM come whenever people connect or write
 * elsewhere; tests that do not ask for them never see them. */
static int is_side_frame(const cJSON *j, const char *wanted)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) && (!wanted || strcmp(t->valuestring, wanted) != 0) &&
           (strcmp(t->valuestring, "PRESENCE") == 0 || strcmp(t->valuestring, "ROOM") == 0);
}

/* Side frames passed over while a test waited for something else, kept
 * (per client, oldest first) for a later rh_expect of their type. */
#define SIDE_KEPT_MAX 64
static struct {
    const struct ws_client *c;
    cJSON *j;
} side_kept[SIDE_KEPT_MAX];

static void side_keep(const struct ws_client *c, cJSON *j)
{
    for (size_t i = 0; i < SIDE_KEPT_MAX; i++)
        if (!side_kept[i].j) {
            side_kept[i].c = c;
            side_kept[i].j = j;
            return;
        }
    cJSON_Delete(j); /* more than a test ever waits for: dropped */
}

/* side_take: the oldest kept frame of c with this type, or NULL. */
static cJSON *side_take(const struct ws_client *c, const char *type)
{
    for (size_t i = 0; i < SIDE_KEPT_MAX; i++) {
        if (!side_kept[i].j || side_kept[i].c != c)
            continue;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(side_kept[i].j, "type");
        if (t && t->valuestring && strcmp(t->valuestring, type) == 0) {
            cJSON *j = side_kept[i].j;
            memmove(&side_kept[i], &side_kept[i + 1],
                    (SIDE_KEPT_MAX - i - 1) * sizeof side_kept[0]);
            side_kept[SIDE_KEPT_MAX - 1].j = NULL;
            return j;
        }
    }
    return NULL;
}

/* side_forget: c is a new connection: nothing kept for the old one counts. */
static void side_forget(const struct ws_client *c)
{
    size_t keep = 0;
    for (size_t i = 0; i < SIDE_KEPT_MAX; i++) {
        if (side_kept[i].j && side_kept[i].c == c) {
            cJSON_Delete(side_kept[i].j);
            continue;
        }
        side_kept[keep++] = side_kept[i];
    }
    for (; keep < SIDE_KEPT_MAX; keep++)
        side_kept[keep].j = NULL;
}

cJSON *rh_next(struct ws_client *c, int timeout_ms)
{
    cJSON *j;
    while ((j = next_any(c, timeout_ms)) != NULL && is_side_frame(j, NULL))
        side_keep(c, j);
    return j;
}

cJSON *rh_expect(struct ws_client *c, const char *type)
{
    cJSON *j = side_take(c, type);
    if (!j)
        while ((j = next_any(c, RH_TIMEOUT_MS)) != NULL && is_side_frame(j, type))
            side_keep(c, j);
    ck_assert_msg(j != NULL, "expected a %s frame, got nothing (closed=%d code=%u)", type,
                  c->closed, c->close_code);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, type) != 0) {
        char *s = cJSON_PrintUnformatted(j);
        ck_abort_msg("expected a %s frame, got %s", type, s);
    }
    return j;
}

cJSON *rh_expect_error(struct ws_client *c, const char *code)
{
    cJSON *j = rh_expect(c, "ERROR");
    const char *got = rh_str(j, "code");
    ck_assert_msg(strcmp(got, code) == 0, "expected ERROR %s, got ERROR %s (%s)", code, got,
                  rh_str(j, "message"));
    return j;
}

int64_t rh_enter(struct ws_client *c, int64_t room, int64_t since)
{
    if (since >= 0)
        rh_sendf(c, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld,\"since\":%lld}", (long long) room,
                 (long long) since);
    else
        rh_sendf(c, "{\"chatType\":\"ENTER\",\"chatRoomId\":%lld}", (long long) room);
    cJSON *j = rh_expect(c, "ENTERED");
    ck_assert_int_eq(rh_int(j, "chatRoomId"), room);
    int64_t last = rh_int(j, "lastSeq");
    cJSON_Delete(j);
    return last;
}

int64_t rh_text(struct ws_client *c, int64_t room, const char *cmid, const char *message)
{
    rh_sendf(
        c, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\",\"clientMsgId\":\"%s\"}",
        (long long) room, message, cmid);
    cJSON *j = rh_expect(c, "ACK");
    ck_assert_str_eq(rh_str(j, "clientMsgId"), cmid);
    int64_t seq = rh_int(j, "seq");
    cJSON_Delete(j);
    return seq;
}

void rh_no_frame(struct ws_client *c, int ms)
{
    cJSON *j = rh_next(c, ms);
    if (j) {
        char *s = cJSON_PrintUnformatted(j);
        ck_abort_msg("expected no frame, got %s", s);
    }
}

int64_t rh_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsNumber(v), "field %s missing or not a number", name);
    return (int64_t) v->valuedouble;
}

const char *rh_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsString(v), "field %s missing or not a string", name);
    return v->valuestring;
}

size_t rh_history_seqs(const struct rh_user *u, int64_t room, int64_t after, int64_t *out,
                       size_t cap)
{
    size_t n = 0;
    for (;;) {
        char path[128];
        struct http_resp r;
        snprintf(path, sizeof path, "/api/v1/chat/%lld?after=%lld&limit=100", (long long) room,
                 (long long) after);
        api_get(path, u->jwt, &r);
        ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r.json, "messages");
        const cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            ck_assert_msg(n < cap, "more history than expected");
            out[n++] = rh_int(m, "seq");
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "nextAfter");
        int more = cJSON_IsNumber(next);
        if (more)
            after = (int64_t) next->valuedouble;
        http_resp_free(&r);
        if (!more)
            break;
    }
    return n;
}

/* spawn_relay: fork and exec a relay on port with env; its log path goes
 * to log (cap bytes). Returns the child's pid. */
static pid_t spawn_relay(int port, const char *const *env, char *log, size_t cap)
{
    const char *bin_dir = getenv("CHAT_BIN_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/chat-relay", bin_dir && *bin_dir ? bin_dir : "build/san/bin");
    snprintf(log, cap, "%s/log/relay-%d.log", testenv_var_dir(), port);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Gone with the test: a relay outliving a killed run would hold
         * its port and the run's dropped databases for the next run. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(125);
        char portv[32], asan[600];
        snprintf(portv, sizeof portv, "%d", port);
        setenv("CHAT_RELAY_PORT", portv, 1);
        /* Like the stack: sanitizer reports go to var/log for the report check. */
        snprintf(asan, sizeof asan, "log_path=%s/log/asan:detect_leaks=0", testenv_var_dir());
        setenv("ASAN_OPTIONS", asan, 0);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *) env[i]);
        if (!freopen(log, "a", stderr) || !freopen("/dev/null", "r", stdin))
            _exit(126);
        execl(bin, "chat-relay", (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* port_listening: 1 when something accepts connections on 127.0.0.1:port. */
static int port_listening(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int up = fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return up;
}

/* spawn_checked: start the relay, wait until the port accepts, and make
 * sure the relay started is alive (not one that lost the bind). */
static pid_t spawn_checked(int port, const char *const *env)
{
    char log[512];
    pid_t pid = spawn_relay(port, env, log, sizeof log);
    int status;
    if (testenv_wait_port(port, 20000) != 0 || waitpid(pid, &status, WNOHANG) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_abort_msg("relay on port %d did not start (see %s)", port, log);
    }
    return pid;
}

pid_t rh_spawn(int port, const char *const *env)
{
    /* A relay of a test that failed dies with that test's process (its
     * death signal), but not always before the next test starts: wait for
     * the port, or the new relay would lose the bind and the test would
     * talk to the dying one. */
    for (int waited = 0; waited < 10000 && port_listening(port); waited += 50)
        usleep(50 * 1000);
    return spawn_checked(port, env);
}

pid_t rh_spawn_sharing(int port, const char *const *env)
{
    return spawn_checked(port, env);
}

int rh_spawn_exit(int port, const char *const *env, int wait_ms)
{
    char log[512];
    pid_t pid = spawn_relay(port, env, log, sizeof log);
    int status;
    for (int waited = 0; waited <= wait_ms; waited += 20) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int rh_stop(pid_t pid, int wait_ms)
{
    int status;
    kill(pid, SIGTERM);
    for (int waited = 0; waited <= wait_ms; waited += 20) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

long long rh_metric(int port, const char *name)
{
    static char out[65536];
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    if (http_raw("127.0.0.1", port, req, strlen(req), RH_TIMEOUT_MS, out, sizeof out) != 200)
        return -1;
    size_t n = strlen(name);
    for (const char *p = out; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == out || p[-1] == '\n') && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
    }
    return -1;
}

int rh_healthz(int port)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    return http_raw("127.0.0.1", port, req, strlen(req), RH_TIMEOUT_MS, NULL, 0);
}

int rh_idle_socket(const char *from, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, from, &src.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &src, sizeof src), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    return fd;
}

int rh_wait_closed(int fd, int ms)
{
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    int waited = 0;
    do {
        int step = ms - waited < 100 ? ms - waited : 100;
        if (poll(&p, 1, step) == 1) {
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                return 1;
        }
        waited += step;
    } while (waited < ms);
    return 0;
}

long rh_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    ck_assert_int_gt(kib, 0);
    return kib;
}

int rh_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long rh_bystander(struct rh_pair *p, const char *cmid)
{
    long t0 = now_ms();
    rh_sendf(&p->ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"%s\","
             "\"clientMsgId\":\"%s\"}",
             (long long) p->room, cmid, cmid);
    cJSON *ack = rh_next(&p->ca, RH_TIMEOUT_MS);
    ck_assert_msg(ack != NULL, "bystander %s: no ACK", cmid);
    ck_assert_msg(strcmp(rh_str(ack, "type"), "ACK") == 0, "bystander %s: %s instead of ACK", cmid,
                  rh_str(ack, "type"));
    ck_assert_str_eq(rh_str(ack, "clientMsgId"), cmid);
    cJSON_Delete(ack);
    cJSON *m = rh_next(&p->cb, RH_TIMEOUT_MS);
    ck_assert_msg(m != NULL, "bystander %s: no MESSAGE for the peer", cmid);
    ck_assert_str_eq(rh_str(m, "type"), "MESSAGE");
    ck_assert_str_eq(rh_str(cJSON_GetObjectItemCaseSensitive(m, "chatMessage"), "message"), cmid);
    cJSON_Delete(m);
    return now_ms() - t0;
}
