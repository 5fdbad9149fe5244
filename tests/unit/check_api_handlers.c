/* check_api_handlers.c - the input rules and answer shapes of the API
 * handlers (rooms, history, socket token, account), without a database. */
#include "account_api.h"
#include "api.h"
#include "errors.h"
#include "history_api.h"
#include "rooms_api.h"
#include "token_api.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct api_req req;
static struct api_resp resp;

static void setup(void)
{
    memset(&req, 0, sizeof req);
    req.query = "";
    api_resp_init(&resp);
}

static void teardown(void)
{
    cJSON_Delete(req.json);
    api_resp_deinit(&resp);
}

static void body(const char *json)
{
    cJSON_Delete(req.json);
    req.json = cJSON_Parse(json);
    ck_assert_ptr_nonnull(req.json);
    api_resp_deinit(&resp);
    api_resp_init(&resp);
}

static void query(const char *q)
{
    req.query = q;
    api_resp_deinit(&resp);
    api_resp_init(&resp);
}

static const char *message(void)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp.json, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    return cJSON_IsString(m) ? m->valuestring : "";
}

START_TEST(test_rooms_api_create_needs_one_peer)
{
    struct rooms_api_peer p;
    body("{\"peerUserId\":2}");
    ck_assert_int_eq(rooms_api_parse_create(&req, &resp, &p), 0);
    ck_assert_int_eq(p.id, 2);
    ck_assert_ptr_null(p.name);
    body("{\"peerUsername\":\"bob\"}");
    ck_assert_int_eq(rooms_api_parse_create(&req, &resp, &p), 0);
    ck_assert_str_eq(p.name, "bob");
    /* any string is looked up (it travels as a statement parameter) */
    body("{\"peerUsername\":\"x' OR '1'='1\"}");
    ck_assert_int_eq(rooms_api_parse_create(&req, &resp, &p), 0);

    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{}", "peerUserId or peerUsername"},
        {"{\"peerUserId\":2,\"peerUsername\":\"bob\"}", "not both"},
        {"{\"peerUserId\":\"2\"}", "peerUserId"},
        {"{\"peerUserId\":-2}", "peerUserId"},
        {"{\"peerUserId\":2.5}", "peerUserId"},
        {"{\"peerUsername\":\"\"}", "peerUsername"},
        {"{\"peerUsername\":7}", "peerUsername"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body(bad[i].json);
        ck_assert_msg(rooms_api_parse_create(&req, &resp, &p) == -1, "%s accepted", bad[i].json);
        ck_assert_int_eq(resp.status, 400);
        ck_assert_msg(strstr(message(), bad[i].field) != NULL, "%s: message \"%s\" lacks \"%s\"",
                      bad[i].json, message(), bad[i].field);
    }
    /* longer than any username column can hold */
    char big[400];
    memset(big, 'a', sizeof big);
    snprintf(big, sizeof big, "{\"peerUsername\":\"%0300d\"}", 1);
    body(big);
    ck_assert_int_eq(rooms_api_parse_create(&req, &resp, &p), -1);
}
END_TEST

START_TEST(test_rooms_api_list_paging_params)
{
    struct room_cursor cur = {-1, -1};
    int has = -1, limit = -1;
    query("");
    ck_assert_int_eq(rooms_api_parse_list(&req, &resp, &cur, &has, &limit), 0);
    ck_assert_int_eq(has, 0);
    ck_assert_int_eq(limit, ROOMS_API_DEFAULT_LIMIT);
    query("cursor=1796055254123.17&limit=100");
    ck_assert_int_eq(rooms_api_parse_list(&req, &resp, &cur, &has, &limit), 0);
    ck_assert_int_eq(has, 1);
    ck_assert_int_eq(cur.activity_ms, 1796055254123LL);
    ck_assert_int_eq(cur.id, 17);
    ck_assert_int_eq(limit, 100);
    static const char *bad[] = {"limit=0",
                                "limit=101",
                                "cursor=17",
                                "cursor=x.1",
                                "cursor=1.-2",
                                "cursor=1.2x",
                                "cursor=1.2&cursor=1.2",
                                "cursor=.5",
                                "limit=1&limit=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        query(bad[i]);
        ck_assert_msg(rooms_api_parse_list(&req, &resp, &cur, &has, &limit) == -1, "%s", bad[i]);
        ck_assert_int_eq(resp.status, 400);
    }
}
END_TEST

START_TEST(test_history_api_paging_params)
{
    struct history_api_page p;
    query("");
    ck_assert_int_eq(history_api_parse(&req, &resp, &p), 0);
    ck_assert_int_eq(p.before, 0);
    ck_assert_int_eq(p.after, -1);
    ck_assert_int_eq(p.limit, 50);
    query("before=120&limit=10");
    ck_assert_int_eq(history_api_parse(&req, &resp, &p), 0);
    ck_assert_int_eq(p.before, 120);
    ck_assert_int_eq(p.after, -1);
    ck_assert_int_eq(p.limit, 10);
    query("after=0&limit=100");
    ck_assert_int_eq(history_api_parse(&req, &resp, &p), 0);
    ck_assert_int_eq(p.after, 0);
    ck_assert_int_eq(p.limit, 100);
    static const char *bad[] = {"before=1&after=2", "limit=0", "limit=101", "before=0",
                                "after=-1",         "before=", "limit=ten"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        query(bad[i]);
        ck_assert_msg(history_api_parse(&req, &resp, &p) == -1, "%s", bad[i]);
        ck_assert_int_eq(resp.status, 400);
    }
}
END_TEST

static struct chat_message msg(int64_t seq)
{
    struct chat_message m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%024lld", (long long) seq);
    m.room_id = 9;
    m.seq = seq;
    m.sender_id = 1;
    m.type = CHAT_TEXT;
    m.message = "hi";
    m.client_msg_id = "c";
    m.created_at_ms = 1800000000000LL;
    return m;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return v->valuedouble;
}

START_TEST(test_history_api_cursors)
{
    struct chat_message m[3] = {msg(5), msg(6), msg(7)};
    struct history_api_page back = {0, -1, 3}, fwd = {0, 4, 3};

    cJSON *b = history_api_body(&back, m, 3, 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "messages")), 3);
    ck_assert_int_eq((int) num(b, "nextBefore"), 5); /* the oldest shown */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(b, "nextAfter"));
    cJSON_Delete(b);

    b = history_api_body(&back, m, 3, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "nextBefore")));
    cJSON_Delete(b);

    b = history_api_body(&fwd, m, 3, 1);
    ck_assert_int_eq((int) num(b, "nextAfter"), 7); /* the newest shown */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(b, "nextBefore"));
    cJSON_Delete(b);

    b = history_api_body(&fwd, m, 0, 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "messages")), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "nextAfter")));
    cJSON_Delete(b);
}
END_TEST

START_TEST(test_token_api_url)
{
    char out[128];
    ck_assert_int_eq(token_api_url("ws://h/ws", "abc", out, sizeof out), 0);
    ck_assert_str_eq(out, "ws://h/ws?token=abc");
    ck_assert_int_eq(token_api_url("wss://h/ws?v=1", "abc", out, sizeof out), 0);
    ck_assert_str_eq(out, "wss://h/ws?v=1&token=abc");
    ck_assert_int_eq(token_api_url("ws://h/ws", "abc", out, 10), ERR_TOO_LARGE);
}
END_TEST

START_TEST(test_account_api_username_rule)
{
    const char *name = NULL;
    body("{\"username\":\"alice.B-2_x\"}");
    ck_assert_int_eq(account_api_parse_login(&req, &resp, &name), 0);
    ck_assert_str_eq(name, "alice.B-2_x");
    static const char *bad[] = {
        "{}",
        "{\"username\":\"\"}",
        "{\"username\":\"a b\"}",
        "{\"username\":7}",
        "{\"username\":\"x'; DROP TABLE users; --\"}",
        "{\"username\":\"\\u00e9l\\u00e8ve\"}",
        "{\"username\":\"abcdefghijabcdefghijabcdefghijabc\"}", /* 33 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body(bad[i]);
        ck_assert_msg(account_api_parse_login(&req, &resp, &name) == -1, "%s", bad[i]);
        ck_assert_int_eq(resp.status, 400);
        ck_assert_str_eq(message(), "username must be 1 to 32 characters of A-Z a-z 0-9 _ . -");
    }
    body("{\"username\":\"abcdefghijabcdefghijabcdefghijab\"}"); /* 32 */
    ck_assert_int_eq(account_api_parse_login(&req, &resp, &name), 0);
}
END_TEST

START_TEST(test_api_apps_route_only_their_paths)
{
    /* Every program 404s a path it does not own, and 405s a wrong method
     * on one it does, before any database work. */
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_body_bytes = 16384;
    struct api_ctx ctx = {&cfg, NULL, NULL, NULL};
    static const struct {
        const struct api_app *app;
        const char *method, *uri;
        int status;
    } cases[] = {
        {&rooms_api_app, "GET", "/api/v1/me", 404},
        {&rooms_api_app, "PUT", "/api/v1/rooms", 405},
        {&rooms_api_app, "GET", "/api/v1/rooms/5", 404},
        {&history_api_app, "GET", "/api/v1/chat/", 404},
        {&history_api_app, "GET", "/api/v1/chat/abc", 404},
        {&history_api_app, "POST", "/api/v1/chat/5", 405},
        {&token_api_app, "GET", "/api/v1/socket-token", 405},
        {&token_api_app, "POST", "/api/v1/socket-tokens", 404},
        {&account_api_app, "GET", "/api/v1/nope", 404},
        {&account_api_app, "POST", "/api/v1/dev/login", 404}, /* dev_login is off */
        {&account_api_app, "POST", "/api/v1/me", 405},
        {&account_api_app, "GET", "/api/v1/rooms", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char m[32], u[128];
        snprintf(m, sizeof m, "REQUEST_METHOD=%s", cases[i].method);
        snprintf(u, sizeof u, "REQUEST_URI=%s", cases[i].uri);
        char *env[] = {m, u, NULL};
        api_resp_deinit(&resp);
        api_resp_init(&resp);
        api_handle(cases[i].app, &ctx, env, NULL, NULL, &resp);
        ck_assert_msg(resp.status == cases[i].status, "%s %s via %s: expected %d, got %d",
                      cases[i].method, cases[i].uri, cases[i].app->name, cases[i].status,
                      resp.status);
    }
}
END_TEST

Suite *api_handlers_suite(void)
{
    Suite *s = suite_create("api_handlers");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rooms_api_create_needs_one_peer);
    tcase_add_test(tc, test_rooms_api_list_paging_params);
    tcase_add_test(tc, test_history_api_paging_params);
    tcase_add_test(tc, test_history_api_cursors);
    tcase_add_test(tc, test_token_api_url);
    tcase_add_test(tc, test_account_api_username_rule);
    tcase_add_test(tc, test_api_apps_route_only_their_paths);
    suite_add_tcase(s, tc);
    return s;
}
