/*
 * deploy_checks.c - see deploy_checks.h.
 *
 * The target is kept in file-scope state set by the unchecked fixture in
 * the runner process; the forked tests inherit it. Tokens cross from the
 * live tests to the after tests through a file, because each test is its
 * own process.
 */
#include "deploy_checks.h"
#include "api_helpers.h"
#include "http_client.h"
#include "relay_helpers.h"
#include "run_cmd.h"
#include "testenv.h"
#include "web_limits.h"
#include "ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct deploy_target *cur;
static int started;
static char start_error[4096];
static char out[16384];

/* ------------------------------------------------------------------ helpers */

static const char *url(const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", cur->port, path);
    return buf;
}

static const char *inst_path(const char *leaf)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/deploy/%s/%s", testenv_var_dir(), cur->instance, leaf);
    return buf;
}

static void require_started(void)
{
    ck_assert_msg(cur != NULL, "run the whole suite: the live case starts the server");
    ck_assert_msg(started, "%s did not start: %s", cur->instance, start_error);
}

/* record_token: remember a secret this test sent, for the log checks. */
static void record_token(const char *token)
{
    FILE *f = fopen(inst_path("tokens-used"), "a");
    ck_assert_msg(f != NULL, "cannot append to %s", inst_path("tokens-used"));
    fprintf(f, "%s\n", token);
    fclose(f);
}

/* login: dev-login a fresh user through the target; returns the JWT. */
static char *login(const char *prefix, int64_t *id)
{
    char body[160];
    struct http_resp r;
    const char *name = testenv_unique(prefix);
    snprintf(body, sizeof body, "{\"username\":\"%s\"}", name);
    ck_assert_int_eq(http_json("POST", url("/api/v1/dev/login"), NULL, body, &r), 0);
    ck_assert_msg(r.status == 200, "dev login of %s via %s: %ld %s", name, cur->instance, r.status,
                  r.body);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(r.json, "token");
    const cJSON *uid =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "user"), "id");
    ck_assert_msg(cJSON_IsString(tok) && cJSON_IsNumber(uid), "login answer: %s", r.body);
    char *jwt = strdup(tok->valuestring);
    *id = (int64_t) uid->valuedouble;
    http_resp_free(&r);
    record_token(jwt);
    return jwt;
}

/* room_of: POST /rooms as jwt with peer; checks the status, returns the id. */
static int64_t room_of(const char *jwt, int64_t peer, long want_status)
{
    char body[64];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) peer);
    ck_assert_int_eq(http_json("POST", url("/api/v1/rooms"), jwt, body, &r), 0);
    ck_assert_msg(r.status == want_status, "POST /api/v1/rooms: expected %ld, got %ld %s",
                  want_status, r.status, r.body);
    const cJSON *id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "room"), "id");
    ck_assert_msg(cJSON_IsNumber(id), "no room id in %s", r.body);
    int64_t room = (int64_t) id->valuedouble;
    http_resp_free(&r);
    return room;
}

/* socket_token: a fresh socket token through the target (recorded). */
static char *socket_token(const char *jwt)
{
    struct http_resp r;
    ck_assert_int_eq(http_request("POST", url("/api/v1/socket-token"), jwt, NULL, "", 0, &r), 0);
    ck_assert_msg(r.status == 201, "POST /api/v1/socket-token via %s: %ld %s", cur->instance,
                  r.status, r.body);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(r.json, "token");
    ck_assert_msg(cJSON_IsString(tok), "token answer: %s", r.body);
    char *t = strdup(tok->valuestring);
    http_resp_free(&r);
    record_token(t);
    return t;
}

/* allowed_origin: the first origin of the relay's allow-list (as a browser
 * on the site would send it), or NULL when the list is empty. */
static const char *allowed_origin(void)
{
    static char buf[CONFIG_STR_MAX];
    snprintf(buf, sizeof buf, "%s", testenv_config()->allowed_origins);
    buf[strcspn(buf, ", ")] = '\0';
    return buf[0] ? buf : NULL;
}

static int64_t json_int(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "field %s is not a number", key);
    return (int64_t) v->valuedouble;
}

/* ------------------------------------------------------------------ live tests */

START_TEST(test_deploy_page_served)
{
    struct http_resp r;
    char ct[128];
    require_started();
    ck_assert_int_eq(http_request("GET", url("/"), NULL, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "GET / via %s: %ld", cur->instance, r.status);
    ck_assert_msg(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/html"),
                  "GET / content type: %s", http_header(&r, "Content-Type", ct, sizeof ct));
    http_resp_free(&r);
}
END_TEST

START_TEST(test_deploy_login_and_me)
{
    struct http_resp r;
    int64_t id;
    require_started();
    char *jwt = login("dep_me", &id);
    /* A valid signature over the whole JWT: the header arrived intact. */
    ck_assert_int_eq(http_request("GET", url("/api/v1/me"), jwt, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "GET /api/v1/me via %s: %ld %s", cur->instance, r.status,
                  r.body);
    ck_assert_int_eq(json_int(cJSON_GetObjectItemCaseSensitive(r.json, "user"), "id"), id);
    http_resp_free(&r);
    free(jwt);
}
END_TEST

/* Each program, reached without credentials, answers 401 itself: a JSON
 * error body and the Bearer challenge, not a web server page. */
START_TEST(test_deploy_unauthorized_reaches_program)
{
    static const struct {
        const char *method, *path;
    } calls[] = {
        {"GET", "/api/v1/me"},
        {"GET", "/api/v1/rooms"},
        {"GET", "/api/v1/chat/1"},
        {"POST", "/api/v1/socket-token"},
    };
    require_started();
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        struct http_resp r;
        char auth[256];
        const char *empty = strcmp(calls[i].method, "POST") == 0 ? "" : NULL;
        ck_assert_int_eq(
            http_request(calls[i].method, url(calls[i].path), NULL, NULL, empty, 0, &r), 0);
        ck_assert_msg(r.status == 401, "%s %s via %s: expected 401, got %ld %s", calls[i].method,
                      calls[i].path, cur->instance, r.status, r.body);
        ck_assert_msg(r.json != NULL, "%s: 401 without a JSON body: %s", calls[i].path, r.body);
        ck_assert_str_eq(http_error_code(&r), "unauthorized");
        ck_assert_msg(http_header(&r, "WWW-Authenticate", auth, sizeof auth) &&
                          strncmp(auth, "Bearer", 6) == 0,
                      "%s: WWW-Authenticate is %s", calls[i].path,
                      http_header(&r, "WWW-Authenticate", auth, sizeof auth));
        http_resp_free(&r);
    }
}
END_TEST

/* A JWT with one byte changed must reach the program as sent: it answers
 * invalid_token, which it says only about a token it received. */
START_TEST(test_deploy_authorization_header_intact)
{
    struct http_resp r;
    char auth[256];
    int64_t id;
    require_started();
    char *jwt = login("dep_auth", &id);
    size_t n = strlen(jwt);
    jwt[n - 2] = jwt[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(http_request("GET", url("/api/v1/me"), jwt, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 401, "tampered JWT via %s: %ld %s", cur->instance, r.status, r.body);
    ck_assert_msg(http_header(&r, "WWW-Authenticate", auth, sizeof auth) &&
                      strstr(auth, "invalid_token"),
                  "tampered JWT: WWW-Authenticate is %s (the header did not arrive?)",
                  http_header(&r, "WWW-Authenticate", auth, sizeof auth));
    http_resp_free(&r);
    free(jwt);
}
END_TEST

START_TEST(test_deploy_unknown_api_path_is_json_404)
{
    struct http_resp r;
    require_started();
    ck_assert_int_eq(http_json("GET", url("/api/v1/no-such-thing"), NULL, NULL, &r), 0);
    ck_assert_msg(r.status == 404, "unknown API path via %s: %ld", cur->instance, r.status);
    ck_assert_str_eq(http_error_code(&r), "not_found");
    http_resp_free(&r);
}
END_TEST

START_TEST(test_deploy_rooms_create_and_list)
{
    struct http_resp r;
    int64_t a, b;
    require_started();
    char *ja = login("dep_ra", &a), *jb = login("dep_rb", &b);
    int64_t room = room_of(ja, b, 201);
    ck_assert_int_eq(room_of(ja, b, 200), room);

    ck_assert_int_eq(http_request("GET", url("/api/v1/rooms?limit=5"), jb, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "GET /api/v1/rooms via %s: %ld %s", cur->instance, r.status,
                  r.body);
    const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(r.json, "rooms");
    ck_assert_int_eq(cJSON_GetArraySize(rooms), 1);
    ck_assert_int_eq(json_int(cJSON_GetArrayItem(rooms, 0), "id"), room);
    http_resp_free(&r);
    free(ja);
    free(jb);
}
END_TEST

START_TEST(test_deploy_socket_token_issued)
{
    struct http_resp r;
    int64_t id;
    require_started();
    char *jwt = login("dep_tok", &id);
    /* An empty body with Content-Length: 0, as browsers send it. */
    ck_assert_int_eq(http_request("POST", url("/api/v1/socket-token"), jwt, NULL, "", 0, &r), 0);
    ck_assert_msg(r.status == 201, "POST /api/v1/socket-token via %s: %ld %s", cur->instance,
                  r.status, r.body);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(r.json, "token");
    ck_assert_msg(cJSON_IsString(tok) && strlen(tok->valuestring) >= 40, "token answer: %s",
                  r.body);
    record_token(tok->valuestring);
    ck_assert_int_eq(json_int(r.json, "expiresIn"), testenv_config()->socket_token_ttl);
    http_resp_free(&r);
    free(jwt);
}
END_TEST

START_TEST(test_deploy_history_pages)
{
    struct http_resp r;
    char path[128];
    int64_t a, b, c;
    require_started();
    char *ja = login("dep_ha", &a), *jb = login("dep_hb", &b), *jc = login("dep_hc", &c);
    int64_t room = room_of(ja, b, 201);
    api_store_messages(room, a, b, 1, 3);

    snprintf(path, sizeof path, "/api/v1/chat/%lld?limit=2", (long long) room);
    ck_assert_int_eq(http_request("GET", url(path), jb, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "GET %s via %s: %ld %s", path, cur->instance, r.status, r.body);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r.json, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 2);
    ck_assert_int_eq(json_int(cJSON_GetArrayItem(msgs, 0), "seq"), 2);
    ck_assert_int_eq(json_int(cJSON_GetArrayItem(msgs, 1), "seq"), 3);
    ck_assert_int_eq(json_int(r.json, "nextBefore"), 2);
    http_resp_free(&r);

    /* The query string reaches the program: the older page. */
    snprintf(path, sizeof path, "/api/v1/chat/%lld?before=2&limit=2", (long long) room);
    ck_assert_int_eq(http_request("GET", url(path), ja, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    msgs = cJSON_GetObjectItemCaseSensitive(r.json, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 1);
    ck_assert_int_eq(json_int(cJSON_GetArrayItem(msgs, 0), "seq"), 1);
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "nextBefore")),
                  "last page has a nextBefore: %s", r.body);
    http_resp_free(&r);

    /* Not a member: nothing of the room. */
    ck_assert_int_eq(http_request("GET", url(path), jc, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 403 || r.status == 404, "non-member history: %ld %s", r.status,
                  r.body);
    http_resp_free(&r);
    free(ja);
    free(jb);
    free(jc);
}
END_TEST

/* The page and the API answers carry the browser hardening headers. */
START_TEST(test_deploy_security_headers)
{
    require_started();
    web_check_security_headers(cur->port, cur->instance);
}
END_TEST

/* The server caps request bodies itself, above the API's own limit. */
START_TEST(test_deploy_body_cap)
{
    require_started();
    web_check_body_cap(cur->port, testenv_config()->max_body_bytes, cur->instance);
    web_check_media_cap(cur->port, cur->instance);
}
END_TEST

/* A picture uploaded through the server comes back to the other member
 * byte for byte, and in part with a Range. */
START_TEST(test_deploy_media_round_trip)
{
    require_started();
    int64_t a, b;
    char *ja = login("dep_media_a", &a), *jb = login("dep_media_b", &b);
    int64_t room = room_of(ja, b, 201);
    FILE *f = fopen("tests/fixtures/media/tiny.png", "rb");
    ck_assert_ptr_nonnull(f);
    char png[4096], path[128], h[128];
    size_t n = fread(png, 1, sizeof png, f);
    fclose(f);
    struct http_resp r;
    snprintf(path, sizeof path, "/api/v1/rooms/%lld/media", (long long) room);
    ck_assert_int_eq(http_request("POST", url(path), ja, "image/png", png, n, &r), 0);
    ck_assert_msg(r.status == 201, "upload via %s: %ld %s", cur->instance, r.status, r.body);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r.json, "id");
    ck_assert(cJSON_IsString(id));
    snprintf(path, sizeof path, "/api/v1/media/%s", id->valuestring);
    http_resp_free(&r);
    ck_assert_int_eq(http_request("GET", url(path), jb, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "download via %s: %ld %s", cur->instance, r.status, r.body);
    ck_assert_uint_eq(r.len, n);
    ck_assert_int_eq(memcmp(r.body, png, n), 0);
    ck_assert_str_eq(http_header(&r, "Content-Type", h, sizeof h), "image/png");
    http_resp_free(&r);
    free(ja);
    free(jb);
}
END_TEST

/* expect_message: the next frame on c is the MESSAGE `text` from sender. */
static void expect_message(struct ws_client *c, int64_t sender, int64_t seq, const char *text)
{
    cJSON *j = rh_expect(c, "MESSAGE");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "chatMessage");
    ck_assert_int_eq(rh_int(m, "senderId"), sender);
    ck_assert_int_eq(rh_int(m, "seq"), seq);
    ck_assert_str_eq(rh_str(m, "message"), text);
    cJSON_Delete(j);
}

/* Two users, one message each way, both connections through the target's
 * /ws with the Origin a browser on the site would send. */
START_TEST(test_deploy_websocket_round_trip)
{
    struct ws_client ca, cb;
    char body[512];
    int64_t a, b;
    require_started();
    char *ja = login("dep_wa", &a), *jb = login("dep_wb", &b);
    int64_t room = room_of(ja, b, 201);
    char *ta = socket_token(ja), *tb = socket_token(jb);

    int st = rh_try_connect(&ca, cur->port, ta, allowed_origin(), body, sizeof body);
    ck_assert_msg(st == 101, "/ws via %s: expected 101, got %d %s", cur->instance, st, body);
    st = rh_try_connect(&cb, cur->port, tb, allowed_origin(), body, sizeof body);
    ck_assert_msg(st == 101, "/ws via %s: expected 101, got %d %s", cur->instance, st, body);
    rh_enter(&ca, room, -1);
    rh_enter(&cb, room, -1);

    int64_t s1 = rh_text(&ca, room, "dep-1", "hello from a");
    expect_message(&cb, a, s1, "hello from a");
    int64_t s2 = rh_text(&cb, room, "dep-2", "hello from b");
    expect_message(&ca, b, s2, "hello from b");
    ck_assert_msg(s2 > s1, "seq went from %lld to %lld", (long long) s1, (long long) s2);
    ws_close(&ca);
    ws_close(&cb);

    /* The token in the query string reached the relay, which consumed it. */
    st = rh_try_connect(&ca, cur->port, ta, allowed_origin(), body, sizeof body);
    ws_close(&ca);
    ck_assert_msg(st == 401, "reused token via %s: expected 401, got %d", cur->instance, st);
    free(ja);
    free(jb);
    free(ta);
    free(tb);
}
END_TEST

/* The Origin header reaches the relay unchanged (it refuses a foreign
 * one), and /ws belongs to the relay even without an upgrade. */
START_TEST(test_deploy_websocket_origin_passed_through)
{
    struct ws_client c;
    char body[512], resp[4096];
    int64_t a;
    require_started();
    char *ja = login("dep_wo", &a);
    char *t = socket_token(ja);
    int st = rh_try_connect(&c, cur->port, t, "http://attacker.example", body, sizeof body);
    ws_close(&c);
    ck_assert_msg(st == 403, "foreign Origin via %s: expected 403, got %d %s", cur->instance, st,
                  body);

    static const char plain[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    st =
        http_raw("127.0.0.1", cur->port, plain, sizeof plain - 1, RH_TIMEOUT_MS, resp, sizeof resp);
    ck_assert_msg(st == 426, "plain GET /ws via %s: expected 426 from the relay, got %d %s",
                  cur->instance, st, resp);
    free(ja);
    free(t);
}
END_TEST

/* ------------------------------------------------------------------ after tests */

/* With the relay unreachable, /ws?token=... fails at the web server, whose
 * error message must not quote the query string. Runs a second instance
 * of the target in var/deploy/relay-down/ with /ws pointed at port 1, where
 * nothing listens. */
START_TEST(test_deploy_relay_down_leaves_no_token)
{
    char env[700], probe[64], req[512], resp[4096];
    ck_assert_msg(cur != NULL, "run the whole suite: the live case starts the server");
    snprintf(env, sizeof env, "CHAT_DEPLOY_DIR=%s/deploy/relay-down CHAT_DEPLOY_RELAY_PORT=1",
             testenv_var_dir());
    snprintf(probe, sizeof probe, "RelayDownProbe%ld", (long) getpid());
    int rc = run_cmd(out, sizeof out, "export %s; %s deploy/test/deploy.sh start %s", env,
                     cur->needs_pools ? "deploy/test/deploy.sh start pools &&" : "", cur->instance);
    int st = 0;
    if (rc == 0) {
        int n = snprintf(req, sizeof req,
                         "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                         probe);
        st = http_raw("127.0.0.1", cur->port, req, (size_t) n, RH_TIMEOUT_MS, resp, sizeof resp);
    }
    char started_out[sizeof out];
    memcpy(started_out, out, sizeof out);
    run_cmd(out, sizeof out,
            "export %s; deploy/test/deploy.sh stop %s; deploy/test/deploy.sh stop pools", env,
            cur->instance);
    ck_assert_msg(rc == 0, "%s with the relay down did not start: %s", cur->instance, started_out);
    ck_assert_msg(st == 502 || st == 503,
                  "/ws with the relay down via %s: expected 502 or 503, got %d", cur->instance, st);
    rc = run_cmd(out, sizeof out, "grep -rlF %s %s/deploy/relay-down", probe, testenv_var_dir());
    ck_assert_msg(rc == 1, "the token of a failed /ws request is in these logs: %s", out);
}
END_TEST

START_TEST(test_deploy_stopped_cleanly)
{
    ck_assert_msg(cur != NULL, "run the whole suite: the live case starts the server");
    ck_assert_msg(testenv_wait_port(cur->port, 0) != 0, "port %d still accepts after stop",
                  cur->port);
    int rc = run_cmd(out, sizeof out, "deploy/test/deploy.sh status");
    ck_assert_msg(rc == 0, "deploy test servers still running: %s", out);
}
END_TEST

/* No log line of the server, the pools or the relay holds a token or JWT
 * that the live tests sent, and no `token=` query survives anywhere. */
START_TEST(test_deploy_logs_hold_no_token)
{
    char logdir[512], logs[2048], line[2048];
    require_started();
    snprintf(logdir, sizeof logdir, "%s", inst_path("log"));
    /* The server's logs, the pools' and the relay's, where they exist. */
    snprintf(logs, sizeof logs, "%s", logdir);
    const char *more[] = {"deploy/pools/log", "log/relay.log"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", testenv_var_dir(), more[i]);
        if (access(p, R_OK) == 0)
            snprintf(logs + strlen(logs), sizeof logs - strlen(logs), " %s", p);
    }

    /* The checks below must have something to look at. */
    int rc = run_cmd(out, sizeof out, "grep -h '/api/v1/socket-token' %s/chat-access.log", logdir);
    ck_assert_msg(rc == 0, "no socket-token request in %s/chat-access.log: %s", logdir, out);
    if (cur->websocket != DEPLOY_WS_NONE) {
        rc = run_cmd(out, sizeof out, "grep -h 'GET /ws ' %s/chat-access.log", logdir);
        ck_assert_msg(rc == 0, "no /ws request in %s/chat-access.log: %s", logdir, out);
    }

    FILE *f = fopen(inst_path("tokens-used"), "r");
    ck_assert_msg(f != NULL, "no tokens were recorded in %s", inst_path("tokens-used"));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        n++;
        /* Tokens are base64url / JWT characters only: safe in a shell word. */
        rc = run_cmd(out, sizeof out, "grep -rlF -e '%s' %s", line, logs);
        ck_assert_msg(rc == 1, "a token used by the tests is in these logs: %s", out);
    }
    fclose(f);
    ck_assert_msg(n > 0, "no tokens were recorded");

    /* token=REDACTED is what log-redact.sh leaves; any other value is a leak. */
    rc = run_cmd(out, sizeof out,
                 "grep -rE 'token=[A-Za-z0-9_-]' %s | sed 's/token=REDACTED//g' | "
                 "grep -E 'token=[A-Za-z0-9_-]'",
                 logs);
    ck_assert_msg(rc == 1, "a token= query string in the logs: %s", out);
}
END_TEST

START_TEST(test_deploy_no_sanitizer_report)
{
    ck_assert_msg(cur != NULL, "run the whole suite: the live case starts the server");
    /* Programs that ran as www-data report here; the pools (root) report
     * to var/log/ with the rest of the stack. */
    int rc = run_cmd(out, sizeof out, "ls -A %s", inst_path("sanitizer"));
    ck_assert_msg(rc == 0 && out[0] == '\0', "sanitizer reports in %s: %s", inst_path("sanitizer"),
                  out);
    rc = run_cmd(out, sizeof out, "grep -rlE 'AddressSanitizer|runtime error:' %s",
                 inst_path("log"));
    ck_assert_msg(rc == 1, "sanitizer output in the server logs: %s", out);
}
END_TEST

/* ------------------------------------------------------------------ suite */

void deploy_start(const struct deploy_target *t)
{
    int rc = 0;
    cur = t;
    started = 0;
    start_error[0] = '\0';
    /* A run that was killed may have left its instance behind: start afresh. */
    deploy_stop(t);
    if (t->needs_pools)
        rc = run_cmd(start_error, sizeof start_error, "deploy/test/deploy.sh start pools");
    if (rc == 0)
        rc =
            run_cmd(start_error, sizeof start_error, "deploy/test/deploy.sh start %s", t->instance);
    if (rc == 0) {
        started = 1;
        FILE *f = fopen(inst_path("tokens-used"), "w");
        if (f)
            fclose(f);
    }
}

void deploy_stop(const struct deploy_target *t)
{
    run_cmd(out, sizeof out, "deploy/test/deploy.sh stop %s", t->instance);
    if (t->needs_pools)
        run_cmd(out, sizeof out, "deploy/test/deploy.sh stop pools");
}

Suite *deploy_suite(const char *name, const struct deploy_target *t, void (*setup)(void),
                    void (*teardown)(void))
{
    Suite *s = suite_create(name);
    TCase *live = tcase_create("live");
    tcase_set_timeout(live, 60);
    tcase_add_unchecked_fixture(live, setup, teardown);
    tcase_add_test(live, test_deploy_page_served);
    tcase_add_test(live, test_deploy_login_and_me);
    tcase_add_test(live, test_deploy_unauthorized_reaches_program);
    tcase_add_test(live, test_deploy_authorization_header_intact);
    tcase_add_test(live, test_deploy_unknown_api_path_is_json_404);
    tcase_add_test(live, test_deploy_rooms_create_and_list);
    tcase_add_test(live, test_deploy_socket_token_issued);
    tcase_add_test(live, test_deploy_history_pages);
    tcase_add_test(live, test_deploy_security_headers);
    tcase_add_test(live, test_deploy_body_cap);
    tcase_add_test(live, test_deploy_media_round_trip);
    if (t->websocket != DEPLOY_WS_NONE) {
        tcase_add_test(live, test_deploy_websocket_round_trip);
        tcase_add_test(live, test_deploy_websocket_origin_passed_through);
    }
    suite_add_tcase(s, live);

    TCase *after = tcase_create("after");
    tcase_set_timeout(after, 60);
    if (t->websocket == DEPLOY_WS_ERRLOG)
        tcase_add_test(after, test_deploy_relay_down_leaves_no_token);
    tcase_add_test(after, test_deploy_stopped_cleanly);
    tcase_add_test(after, test_deploy_logs_hold_no_token);
    tcase_add_test(after, test_deploy_no_sanitizer_report);
    suite_add_tcase(s, after);
    return s;
}
