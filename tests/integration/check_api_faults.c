/*
 * check_api_faults.c - the API programs across database outages, their
 * connection reuse, and plain CGI mode.
 *
 * The outage tests stop a database of the shared stack through stack.sh
 * and always start it again before asserting anything, so a failure never
 * leaves the stack broken for the tests that follow.
 */
#include "api_helpers.h"
#include "http_client.h"
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_CHILDREN 64

/* children_of: the pids whose parent is `parent` (the FastCGI programs
 * lighttpd spawned), sorted ascending as /proc lists them. */
static int children_of(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < max) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = '\0';
        /* after "pid (comm) ": state, then ppid; comm may hold spaces */
        const char *close_paren = strrchr(buf, ')');
        if (!close_paren || strlen(close_paren) < 4)
            continue;
        long ppid = strtol(close_paren + 4, NULL, 10);
        if (ppid == (long) parent)
            out[n++] = (pid_t) strtol(e->d_name, NULL, 10);
    }
    if (d)
        closedir(d);
    return n;
}

/* The endpoints the outage tests probe, each needing MySQL. */
struct probe {
    const char *method, *path;
    int needs_body;
    long expect; /* the status when all is well */
};

static long call(const struct probe *p, const char *jwt, char *code, size_t cap)
{
    struct http_resp r;
    long status = -1;
    if (http_request(p->method, p->path, jwt, NULL, p->needs_body ? "" : NULL, 0, &r) == 0)
        status = r.status;
    snprintf(code, cap, "%s", http_error_code(&r));
    http_resp_free(&r);
    return status;
}

START_TEST(test_api_mariadb_outage_503_then_recovers)
{
    int64_t a, b;
    char *jwt = api_login("outage_a", &a);
    char *jb = api_login("outage_b", &b);
    int64_t room = api_room(jwt, b, NULL);
    char history[64];
    snprintf(history, sizeof history, "/api/v1/chat/%lld", (long long) room);
    const struct probe probes[] = {
        {"GET", "/api/v1/me", 0, 200},
        {"GET", "/api/v1/rooms", 0, 200},
        {"POST", "/api/v1/socket-token", 1, 201},
        {"GET", history, 0, 200},
    };
    enum { NPROBES = sizeof probes / sizeof probes[0], AFTER = 4 };
    char code[64];
    pid_t lighttpd = testenv_pid("lighttpd");
    pid_t before[MAX_CHILDREN], after[MAX_CHILDREN];
    ck_assert_int_gt(lighttpd, 0);
    for (size_t i = 0; i < NPROBES; i++)
        ck_assert_int_lt(call(&probes[i], jwt, code, sizeof code), 300);
    int nbefore = children_of(lighttpd, before, MAX_CHILDREN);

    /* Down: record only; nothing may assert while MariaDB is stopped. */
    int stop_rc = testenv_stack("stop mariadb");
    long down[NPROBES];
    char down_code[NPROBES][64];
    for (size_t i = 0; i < NPROBES; i++)
        down[i] = call(&probes[i], jwt, down_code[i], sizeof down_code[i]);
    struct http_resp login;
    http_json("POST", "/api/v1/dev/login", NULL, "{\"username\":\"outage_login\"}", &login);
    long login_down = login.status;
    http_resp_free(&login);
    int start_rc = testenv_stack("start mariadb");

    /* Back: every program answers again, several times over (each
     * program runs more than one process), without being restarted. */
    long back[NPROBES][AFTER];
    for (int k = 0; k < AFTER; k++)
        for (size_t i = 0; i < NPROBES; i++)
            back[i][k] = call(&probes[i], jwt, code, sizeof code);
    int nafter = children_of(lighttpd, after, MAX_CHILDREN);

    ck_assert_msg(stop_rc == 0, "stack.sh stop mariadb exited %d", stop_rc);
    ck_assert_msg(start_rc == 0, "stack.sh start mariadb exited %d", start_rc);
    for (size_t i = 0; i < NPROBES; i++) {
        ck_assert_msg(down[i] == 503, "%s %s while MariaDB was down: expected 503, got %ld",
                      probes[i].method, probes[i].path, down[i]);
        ck_assert_str_eq(down_code[i], "unavailable");
    }
    ck_assert_msg(login_down == 503, "dev login while down: %ld", login_down);
    for (size_t i = 0; i < NPROBES; i++)
        for (int k = 0; k < AFTER; k++)
            ck_assert_msg(back[i][k] == probes[i].expect,
                          "%s %s after MariaDB came back (try %d): got %ld", probes[i].method,
                          probes[i].path, k + 1, back[i][k]);
    ck_assert_int_eq(testenv_pid("lighttpd"), lighttpd);
    ck_assert_int_eq(nafter, nbefore);
    for (int i = 0; i < nbefore; i++)
        ck_assert_msg(before[i] == after[i], "FastCGI process %ld was replaced by %ld",
                      (long) before[i], (long) after[i]);
    free(jwt);
    free(jb);
}
END_TEST

START_TEST(test_api_ferretdb_outage_503_then_recovers)
{
    int64_t a, b;
    char *jwt = api_login("mdown_a", &a);
    char *jb = api_login("mdown_b", &b);
    int64_t room = api_room(jwt, b, NULL);
    api_store_messages(room, a, b, 1, 2);
    char path[64], code[64], down_code[64] = "";
    snprintf(path, sizeof path, "/api/v1/chat/%lld", (long long) room);
    const struct probe hist = {"GET", path, 0, 200}, me = {"GET", "/api/v1/me", 0, 200};
    ck_assert_int_eq(call(&hist, jwt, code, sizeof code), 200);

    int stop_rc = testenv_stack("stop ferretdb");
    long down = call(&hist, jwt, down_code, sizeof down_code);
    long me_down = call(&me, jwt, code, sizeof code); /* MySQL only: unaffected */
    int start_rc = testenv_stack("start ferretdb");
    /* The driver rediscovers the server on its own schedule: allow a
     * bounded number of tries, each bounded by mongo_timeout_ms. */
    long back = 0;
    int tries = 0;
    while (back != 200 && tries++ < 10)
        back = call(&hist, jwt, code, sizeof code);

    ck_assert_msg(stop_rc == 0 && start_rc == 0, "stack.sh stop/start ferretdb: %d/%d", stop_rc,
                  start_rc);
    ck_assert_msg(down == 503, "history while FerretDB was down: expected 503, got %ld", down);
    ck_assert_str_eq(down_code, "unavailable");
    ck_assert_msg(me_down == 200, "GET /me needs no MongoDB: got %ld", me_down);
    ck_assert_msg(back == 200, "history after FerretDB came back: %ld after %d tries", back, tries);
    free(jwt);
    free(jb);
}
END_TEST

START_TEST(test_api_connections_reused_over_1000_requests)
{
    int64_t a, b, c;
    char *jwt = api_login("reuse_a", &a);
    char *jb = api_login("reuse_b", &b);
    char *jc = api_login("reuse_c", &c);
    /* History of a room the caller is not in: chat-history answers 404
     * after its MySQL checks without touching MongoDB, whose cost on
     * FerretDB grows with the whole collection and is not measured here. */
    int64_t room = api_room(jb, c, NULL);
    char history[64], code[64];
    snprintf(history, sizeof history, "/api/v1/chat/%lld?limit=5", (long long) room);
    const struct probe probes[] = {
        {"GET", "/api/v1/me", 0, 200},
        {"GET", "/api/v1/rooms?limit=5", 0, 200},
        {"POST", "/api/v1/socket-token", 1, 201},
        {"GET", history, 0, 404},
    };
    enum { NPROBES = sizeof probes / sizeof probes[0], REQUESTS = 1000, TOKEN_USERS = 8 };
    /* Socket tokens are limited per user (socket_tokens_per_minute, 60 by
     * default): the 258 token requests below are spread over users. */
    char *token_jwt[TOKEN_USERS];
    for (int i = 0; i < TOKEN_USERS; i++) {
        int64_t id;
        token_jwt[i] = api_login("reuse_t", &id);
    }
    /* warm up: every process of every program has connected */
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < NPROBES; i++)
            call(&probes[i], probes[i].needs_body ? token_jwt[k % TOKEN_USERS] : jwt, code,
                 sizeof code);

    long long threads0 = api_status_var("THREADS_CONNECTED");
    long long conns0 = api_status_var("CONNECTIONS");
    int failures = 0;
    for (int k = 0; k < REQUESTS; k++) {
        const struct probe *p = &probes[k % NPROBES];
        const char *who = p->needs_body ? token_jwt[(k / NPROBES) % TOKEN_USERS] : jwt;
        failures += call(p, who, code, sizeof code) != p->expect;
    }
    long long threads1 = api_status_var("THREADS_CONNECTED");
    long long conns1 = api_status_var("CONNECTIONS");

    ck_assert_int_eq(failures, 0);
    /* A connection per request would add REQUESTS to the Connections
     * counter; the slack is for other components of the shared stack. */
    ck_assert_msg(conns1 - conns0 < 50, "MariaDB saw %lld new connections over %d requests",
                  conns1 - conns0, REQUESTS);
    ck_assert_msg(threads1 <= threads0 + 2, "Threads_connected went from %lld to %lld", threads0,
                  threads1);
    free(jwt);
    free(jb);
    free(jc);
    for (int i = 0; i < TOKEN_USERS; i++)
        free(token_jwt[i]);
}
END_TEST

/* bin_dir: where the binaries under test are (run.sh exports it). */
static const char *bin_dir(void)
{
    const char *d = getenv("CHAT_BIN_DIR");
    return d && *d ? d : "build/san/bin";
}

START_TEST(test_api_programs_work_as_plain_cgi)
{
    static char out[8192];
    int64_t me;
    char *jwt = api_login("cgi", &me);
    /* stdin is a pipe, not a socket: the program serves one CGI request */
    int rc = run_cmd(out, sizeof out,
                     "REQUEST_METHOD=GET REQUEST_URI=/api/v1/me HTTP_AUTHORIZATION='Bearer %s' "
                     "%s/chat-account </dev/null",
                     jwt, bin_dir());
    ck_assert_msg(rc == 0, "chat-account as CGI exited %d: %s", rc, out);
    ck_assert_msg(strncmp(out, "Status: 200 OK\r\n", 16) == 0, "CGI answer: %s", out);
    char want[64];
    snprintf(want, sizeof want, "{\"user\":{\"id\":%lld,", (long long) me);
    ck_assert_msg(strstr(out, want) != NULL, "CGI body lacks %s: %s", want, out);

    /* a POST body on stdin */
    rc = run_cmd(out, sizeof out,
                 "printf '{\"peerUserId\":%lld}' | REQUEST_METHOD=POST REQUEST_URI=/api/v1/rooms "
                 "CONTENT_TYPE=application/json CONTENT_LENGTH=%d HTTP_AUTHORIZATION='Bearer %s' "
                 "%s/chat-rooms",
                 (long long) me,
                 (int) strlen("{\"peerUserId\":}") + snprintf(NULL, 0, "%lld", (long long) me), jwt,
                 bin_dir());
    ck_assert_msg(rc == 0, "chat-rooms as CGI exited %d: %s", rc, out);
    ck_assert_msg(strncmp(out, "Status: 400 Bad Request\r\n", 25) == 0,
                  "a room with yourself over CGI: %s", out);
    ck_assert_msg(strstr(out, "the peer is the caller") != NULL, "CGI answer: %s", out);
    free(jwt);
}
END_TEST

Suite *api_faults_suite(void)
{
    Suite *s = suite_create("api_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_api_programs_work_as_plain_cgi);
    tcase_add_test(tc, test_api_connections_reused_over_1000_requests);
    tcase_add_test(tc, test_api_mariadb_outage_503_then_recovers);
    tcase_add_test(tc, test_api_ferretdb_outage_503_then_recovers);
    suite_add_tcase(s, tc);
    return s;
}
