/* check_api_core.c - the API core without FastCGI or a database: request
 * parsing, routing, the generic checks in their order, answers. */
#include "api.h"
#include "errors.h"
#include "jwt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct config cfg;
static struct api_ctx ctx;
static struct api_resp resp;

/* What the fake handlers saw. */
static int handler_calls;
static int64_t seen_id;
static char seen_name[64];

static void ok_handler(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    handler_calls++;
    seen_id = req->path_id;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(req->json, "name");
    snprintf(seen_name, sizeof seen_name, "%s", cJSON_IsString(name) ? name->valuestring : "");
    api_resp_json(r, 200, cJSON_CreateObject());
}

static void silent_handler(struct api_ctx *c, struct api_req *req, struct api_resp *r)
{
    (void) c;
    (void) req;
    (void) r;
    handler_calls++;
}

static const struct api_route routes[] = {
    {"GET", "/t/items", API_AUTH, ok_handler},
    {"POST", "/t/items", API_JSON, ok_handler},
    {"GET", "/t/items/{id}", 0, ok_handler},
    {"GET", "/t/items/{id}/parts", 0, ok_handler},
    {"POST", "/t/dev", API_JSON | API_DEV_ONLY, ok_handler},
    {"GET", "/t/silent", 0, silent_handler},
};

static const struct api_app app = {"test", routes, sizeof routes / sizeof routes[0], NULL, NULL};

/* A body fed through the reader; reads are counted to prove a body that
 * is refused early is never read. */
struct body {
    const char *data;
    size_t len, off;
    int reads;
};

static long body_read(void *arg, char *buf, size_t n)
{
    struct body *b = arg;
    b->reads++;
    size_t left = b->len - b->off;
    if (n > left)
        n = left;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    return (long) n;
}

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.jwt_secret, sizeof cfg.jwt_secret, "%s", "unit-secret-0123456789abcdef-012345");
    cfg.jwt_leeway = 0;
    cfg.jwt_ttl = 600;
    cfg.max_body_bytes = 16384;
    cfg.dev_login = 0;
    ctx.cfg = &cfg;
    ctx.db = NULL;
    ctx.ms = NULL;
    api_resp_init(&resp);
    handler_calls = 0;
    seen_id = 0;
    seen_name[0] = '\0';
}

static void teardown(void)
{
    api_resp_deinit(&resp);
}

/* run: handle one request given as CGI variables (NULL-terminated list). */
static void run(struct body *b, char **envp)
{
    api_resp_deinit(&resp);
    api_resp_init(&resp);
    api_handle(&app, &ctx, envp, body_read, b, &resp);
}

static const char *err_code(void)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp.json, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    return cJSON_IsString(c) ? c->valuestring : "";
}

static const char *err_message(void)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp.json, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    return cJSON_IsString(m) ? m->valuestring : "";
}

static void get(const char *uri)
{
    char u[600];
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    char *env[] = {"REQUEST_METHOD=GET", u, NULL};
    run(NULL, env);
}

/* post_json: POST body to uri with a content type (NULL: none). */
static void post(const char *uri, const char *ctype, const char *data, struct body *b)
{
    static char u[600], ct[200], cl[64];
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", ctype ? ctype : "");
    snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", strlen(data));
    b->data = data;
    b->len = strlen(data);
    b->off = 0;
    b->reads = 0;
    char *env[] = {"REQUEST_METHOD=POST", u, cl, ctype ? ct : "X=", NULL};
    run(b, env);
}

START_TEST(test_api_core_unknown_route_is_404)
{
    get("/t/nothing");
    ck_assert_int_eq(resp.status, 404);
    ck_assert_str_eq(err_code(), "not_found");
    get("/t/items/");
    ck_assert_int_eq(resp.status, 404);
    get("/t/itemsx");
    ck_assert_int_eq(resp.status, 404);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(test_api_core_wrong_method_is_405_with_allow)
{
    char *env[] = {"REQUEST_METHOD=DELETE", "REQUEST_URI=/t/items", NULL};
    run(NULL, env);
    ck_assert_int_eq(resp.status, 405);
    ck_assert_str_eq(err_code(), "method_not_allowed");
    ck_assert_msg(strstr(resp.headers, "Allow: GET, POST\r\n") != NULL, "headers: %s",
                  resp.headers);
    char *env2[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/t/items/5", NULL};
    run(NULL, env2);
    ck_assert_int_eq(resp.status, 405);
    ck_assert_msg(strstr(resp.headers, "Allow: GET\r\n") != NULL, "headers: %s", resp.headers);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(test_api_core_id_segment)
{
    get("/t/items/42");
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(seen_id, 42);
    /* ids end at 2^53 - 1 (shared/ids.h), in a path as in a JSON body */
    get("/t/items/9007199254740991/parts");
    ck_assert_int_eq(resp.status, 200);
    ck_assert(seen_id == 9007199254740991LL);
    static const char *bad[] = {"/t/items/0",
                                "/t/items/042",
                                "/t/items/-1",
                                "/t/items/abc",
                                "/t/items/9007199254740992",
                                "/t/items/9223372036854775808",
                                "/t/items/1x",
                                "/t/items/+1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(bad[i]);
        ck_assert_msg(resp.status == 404, "%s: expected 404, got %d", bad[i], resp.status);
    }
}
END_TEST

START_TEST(test_api_core_path_sources)
{
    /* the query is not part of the path */
    get("/t/items/7?x=1");
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(seen_id, 7);
    /* percent-encoded path */
    get("/t/%69tems/8");
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(seen_id, 8);
    get("/t/items/%zz");
    ck_assert_int_eq(resp.status, 400);
    get("/t/items/%00");
    ck_assert_int_eq(resp.status, 400);
    /* no REQUEST_URI: SCRIPT_NAME + PATH_INFO, as some servers pass it */
    char *env[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/t/items", "PATH_INFO=/9", NULL};
    run(NULL, env);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(seen_id, 9);
    char *env2[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/t/items/10", NULL};
    run(NULL, env2);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(seen_id, 10);
    char *env3[] = {"REQUEST_URI=/t/items/1", NULL};
    run(NULL, env3);
    ck_assert_int_eq(resp.status, 400);
}
END_TEST

START_TEST(test_api_core_body_too_large_is_413_before_reading)
{
    struct body b = {0};
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/t/items", "CONTENT_TYPE=application/json",
                   "CONTENT_LENGTH=16385", NULL};
    run(&b, env);
    ck_assert_int_eq(resp.status, 413);
    ck_assert_str_eq(err_code(), "too_large");
    ck_assert_int_eq(b.reads, 0);
    /* exactly the limit is accepted (body padded with spaces) */
    char *big = malloc(16385);
    memset(big, ' ', 16384);
    memcpy(big, "{\"name\":\"x\"}", 12);
    big[16384] = '\0';
    post("/t/items", "application/json", big, &b);
    ck_assert_int_eq(resp.status, 200);
    free(big);
}
END_TEST

START_TEST(test_api_core_body_without_length_is_bounded)
{
    /* no CONTENT_LENGTH (chunked upload): read until the end, but never
     * more than the limit */
    char *big = malloc(20001);
    memset(big, ' ', 20000);
    big[0] = '{';
    big[19999] = '}';
    big[20000] = '\0';
    struct body b = {big, 20000, 0, 0};
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/t/items", "CONTENT_TYPE=application/json",
                   NULL};
    run(&b, env);
    ck_assert_int_eq(resp.status, 413);
    ck_assert_uint_le(b.off, 16385);
    free(big);
    struct body small = {"{\"name\":\"z\"}", 12, 0, 0};
    run(&small, env);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(seen_name, "z");
}
END_TEST

START_TEST(test_api_core_content_type_is_415)
{
    struct body b;
    post("/t/items", "text/plain", "{\"name\":\"x\"}", &b);
    ck_assert_int_eq(resp.status, 415);
    ck_assert_str_eq(err_code(), "unsupported_media_type");
    ck_assert_int_eq(b.reads, 0);
    post("/t/items", NULL, "{\"name\":\"x\"}", &b);
    ck_assert_int_eq(resp.status, 415);
    post("/t/items", "application/jsonx", "{\"name\":\"x\"}", &b);
    ck_assert_int_eq(resp.status, 415);
    post("/t/items", "application/json; charset=iso-8859-1", "{\"name\":\"x\"}", &b);
    ck_assert_int_eq(resp.status, 415);
    post("/t/items", "Application/JSON; charset=\"UTF-8\"", "{\"name\":\"x\"}", &b);
    ck_assert_int_eq(resp.status, 200);
    post("/t/items", "application/json;charset=utf-8", "{\"name\":\"y\"}", &b);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(seen_name, "y");
}
END_TEST

START_TEST(test_api_core_bad_json_is_400)
{
    static const char *bad[] = {
        "",                    /* empty */
        "{\"name\":",          /* truncated */
        "{\"name\":\"x\"} {}", /* trailing value */
        "[1,2]",               /* not an object */
        "\"text\"",
        "{\"name\":\"a\xff\"}",     /* invalid UTF-8 */
        "{\"name\":\"a\\u0000b\"}", /* NUL would cut the string */
    };
    struct body b;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        post("/t/items", "application/json", bad[i], &b);
        ck_assert_msg(resp.status == 400, "body %zu: expected 400, got %d", i, resp.status);
        ck_assert_str_eq(err_code(), "bad_request");
    }
    ck_assert_int_eq(handler_calls, 0);
    /* an escaped backslash before u0000 is just text */
    post("/t/items", "application/json", "{\"name\":\"a\\\\u0000\"}", &b);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(seen_name, "a\\u0000");
    post("/t/items", "application/json", " {\"name\":\"ok\"}\r\n", &b);
    ck_assert_int_eq(resp.status, 200);
}
END_TEST

START_TEST(test_api_core_short_body_is_400)
{
    struct body b = {"{\"a\":1}", 7, 0, 0};
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/t/items", "CONTENT_TYPE=application/json",
                   "CONTENT_LENGTH=100", NULL};
    run(&b, env);
    ck_assert_int_eq(resp.status, 400);
    char *env2[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/t/items", "CONTENT_TYPE=application/json",
                    "CONTENT_LENGTH=-1", NULL};
    run(&b, env2);
    ck_assert_int_eq(resp.status, 400);
}
END_TEST

static void get_auth(const char *authorization)
{
    static char h[8192];
    snprintf(h, sizeof h, "HTTP_AUTHORIZATION=%s", authorization);
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/t/items", h, NULL};
    run(NULL, env);
}

static int has_challenge(const char *want)
{
    return strstr(resp.headers, want) != NULL;
}

START_TEST(test_api_core_auth_missing_is_401)
{
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/t/items", NULL};
    run(NULL, env);
    ck_assert_int_eq(resp.status, 401);
    ck_assert_str_eq(err_code(), "unauthorized");
    ck_assert_msg(has_challenge("WWW-Authenticate: Bearer realm=\"chat\"\r\n"), "headers: %s",
                  resp.headers);
    get_auth("Basic YWxpY2U6c2VjcmV0");
    ck_assert_int_eq(resp.status, 401);
    ck_assert(has_challenge("WWW-Authenticate: Bearer"));
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(test_api_core_auth_bad_or_expired_is_401)
{
    char tok[JWT_MAX_LEN], h[JWT_MAX_LEN + 16];
    get_auth("Bearer not.a.jwt");
    ck_assert_int_eq(resp.status, 401);
    ck_assert(has_challenge("error=\"invalid_token\""));

    /* signed with another secret */
    struct config other = cfg;
    snprintf(other.jwt_secret, sizeof other.jwt_secret, "%s", "another-secret-0123456789abcdefgh");
    ck_assert_int_eq(jwt_sign(&other, 1, (int64_t) time(NULL), tok, sizeof tok), 0);
    snprintf(h, sizeof h, "Bearer %s", tok);
    get_auth(h);
    ck_assert_int_eq(resp.status, 401);

    /* expired an hour ago */
    ck_assert_int_eq(jwt_sign(&cfg, 1, (int64_t) time(NULL) - 3600 - 600, tok, sizeof tok), 0);
    snprintf(h, sizeof h, "Bearer %s", tok);
    get_auth(h);
    ck_assert_int_eq(resp.status, 401);
    ck_assert_msg(strstr(err_message(), "expired") != NULL, "message: %s", err_message());
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(test_api_core_valid_token_reaches_user_lookup)
{
    /* With no database the user lookup cannot run: 503, not 401, shows
     * that the token itself was accepted and the lookup was next. */
    char tok[JWT_MAX_LEN], h[JWT_MAX_LEN + 16];
    ck_assert_int_eq(jwt_sign(&cfg, 1, (int64_t) time(NULL), tok, sizeof tok), 0);
    snprintf(h, sizeof h, "bearer %s", tok);
    get_auth(h);
    ck_assert_int_eq(resp.status, 503);
    ck_assert_str_eq(err_code(), "unavailable");
}
END_TEST

START_TEST(test_api_core_dev_only_route_hidden)
{
    struct body b;
    post("/t/dev", "application/json", "{\"name\":\"d\"}", &b);
    ck_assert_int_eq(resp.status, 404);
    ck_assert_str_eq(err_code(), "not_found");
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/t/dev", NULL};
    run(NULL, env);
    ck_assert_int_eq(resp.status, 404); /* not 405: the route does not exist */
    cfg.dev_login = 1;
    post("/t/dev", "application/json", "{\"name\":\"d\"}", &b);
    ck_assert_int_eq(resp.status, 200);
}
END_TEST

START_TEST(test_api_core_handler_without_answer_is_500)
{
    get("/t/silent");
    ck_assert_int_eq(handler_calls, 1);
    ck_assert_int_eq(resp.status, 500);
}
END_TEST

START_TEST(test_api_core_render)
{
    api_resp_header(&resp, "Allow", "GET");
    api_resp_error(&resp, 405, "method_not_allowed", "no %s", "way");
    size_t len = 0;
    char *text = api_resp_render(&resp, &len);
    ck_assert_ptr_nonnull(text);
    const char *body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"no way\"}}";
    char want[512];
    snprintf(want, sizeof want,
             "Status: 405 Method Not Allowed\r\n"
             "Content-Type: application/json; charset=utf-8\r\n"
             "Content-Length: %zu\r\n"
             "Cache-Control: no-store\r\n"
             "X-Content-Type-Options: nosniff\r\n"
             "Allow: GET\r\n"
             "\r\n%s",
             strlen(body), body);
    ck_assert_str_eq(text, want);
    ck_assert_uint_eq(len, strlen(want));
    free(text);
}
END_TEST

START_TEST(test_api_core_fail_mapping)
{
    static const struct {
        int err, status;
        const char *code;
    } map[] = {
        {ERR_UNAVAILABLE, 503, "unavailable"}, {ERR_NOT_FOUND, 404, "not_found"},
        {ERR_INVALID, 400, "bad_request"},     {ERR_AUTH, 401, "unauthorized"},
        {ERR_NOMEM, 500, "internal"},          {ERR_INTERNAL, 500, "internal"},
        {ERR_TOO_LARGE, 413, "too_large"},     {ERR_RATE_LIMITED, 429, "rate_limited"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        api_resp_deinit(&resp);
        api_resp_init(&resp);
        api_resp_fail(&resp, map[i].err);
        ck_assert_msg(resp.status == map[i].status, "%s: expected %d, got %d", err_str(map[i].err),
                      map[i].status, resp.status);
        ck_assert_str_eq(err_code(), map[i].code);
    }
}
END_TEST

START_TEST(test_api_core_query_int)
{
    struct api_req req;
    int64_t v = -7;
    memset(&req, 0, sizeof req);
    req.query = "limit=20&before=5&empty=&dup=1&dup=2&neg=-3&big=99999999999999999999&x=1a";
    ck_assert_int_eq(api_query_int(&req, &resp, "limit", 1, 100, &v), 1);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(api_query_int(&req, &resp, "before", 1, INT64_MAX, &v), 1);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(api_query_int(&req, &resp, "after", 0, 10, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(resp.status, 0);
    static const char *bad[] = {"empty", "dup", "neg", "big", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_resp_deinit(&resp);
        api_resp_init(&resp);
        ck_assert_msg(api_query_int(&req, &resp, bad[i], 0, INT64_MAX, &v) == -1, "%s", bad[i]);
        ck_assert_int_eq(resp.status, 400);
        ck_assert_msg(strstr(err_message(), bad[i]) != NULL, "message names %s: %s", bad[i],
                      err_message());
    }
    api_resp_deinit(&resp);
    api_resp_init(&resp);
    ck_assert_int_eq(api_query_int(&req, &resp, "limit", 1, 10, &v), -1);
    ck_assert_str_eq(err_message(), "limit must be given once, as a whole number from 1 to 10");
    /* a name that is a prefix of another does not match it */
    req.query = "limits=3";
    ck_assert_int_eq(api_query_int(&req, &resp, "limit", 1, 10, &v), 0);
}
END_TEST

START_TEST(test_api_core_body_fields)
{
    struct api_req req;
    int64_t id = 0;
    const char *s = NULL;
    memset(&req, 0, sizeof req);
    req.json = cJSON_Parse("{\"a\":2,\"b\":\"2\",\"c\":1.5,\"d\":0,\"e\":9007199254740992,"
                           "\"f\":null,\"s\":\"hi\",\"t\":\"\",\"u\":5}");
    ck_assert_int_eq(api_body_id(&req, &resp, "a", &id), 1);
    ck_assert_int_eq(id, 2);
    ck_assert_int_eq(api_body_id(&req, &resp, "f", &id), 0);
    ck_assert_int_eq(api_body_id(&req, &resp, "zz", &id), 0);
    static const char *bad_ids[] = {"b", "c", "d", "e", "s"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        api_resp_deinit(&resp);
        api_resp_init(&resp);
        ck_assert_msg(api_body_id(&req, &resp, bad_ids[i], &id) == -1, "%s", bad_ids[i]);
        ck_assert_int_eq(resp.status, 400);
        ck_assert_msg(strncmp(err_message(), bad_ids[i], 1) == 0, "message names the field: %s",
                      err_message());
    }
    ck_assert_int_eq(api_body_string(&req, &resp, "s", 10, &s), 1);
    ck_assert_str_eq(s, "hi");
    ck_assert_int_eq(api_body_string(&req, &resp, "s", 1, &s), -1);
    ck_assert_int_eq(api_body_string(&req, &resp, "t", 10, &s), -1);
    ck_assert_int_eq(api_body_string(&req, &resp, "u", 10, &s), -1);
    ck_assert_int_eq(api_body_string(&req, &resp, "f", 10, &s), 0);
    cJSON_Delete(req.json);
}
END_TEST

Suite *api_core_suite(void)
{
    Suite *s = suite_create("api_core");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_api_core_unknown_route_is_404);
    tcase_add_test(tc, test_api_core_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_api_core_id_segment);
    tcase_add_test(tc, test_api_core_path_sources);
    tcase_add_test(tc, test_api_core_body_too_large_is_413_before_reading);
    tcase_add_test(tc, test_api_core_body_without_length_is_bounded);
    tcase_add_test(tc, test_api_core_content_type_is_415);
    tcase_add_test(tc, test_api_core_bad_json_is_400);
    tcase_add_test(tc, test_api_core_short_body_is_400);
    tcase_add_test(tc, test_api_core_auth_missing_is_401);
    tcase_add_test(tc, test_api_core_auth_bad_or_expired_is_401);
    tcase_add_test(tc, test_api_core_valid_token_reaches_user_lookup);
    tcase_add_test(tc, test_api_core_dev_only_route_hidden);
    tcase_add_test(tc, test_api_core_handler_without_answer_is_500);
    tcase_add_test(tc, test_api_core_render);
    tcase_add_test(tc, test_api_core_fail_mapping);
    tcase_add_test(tc, test_api_core_query_int);
    tcase_add_test(tc, test_api_core_body_fields);
    suite_add_tcase(s, tc);
    return s;
}
