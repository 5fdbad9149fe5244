/*
 * check_api.c - the HTTP API through lighttpd (http://127.0.0.1:8080)
 * against the stack's MariaDB and FerretDB: every endpoint, every error
 * status, paging, injection strings, concurrent room creation, socket
 * tokens. Fault and connection-reuse tests are in check_api_faults.c.
 */
#include "api_helpers.h"
#include "b64url.h"
#include "errors.h"
#include "http_client.h"
#include "jwt.h"
#include "socket_tokens.h"
#include "sqldb.h"
#include "testenv.h"
#include "users.h"

#include <check.h>
#include <ctype.h>
#include <curl/curl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "\"%s\" is not a number", key);
    return (int64_t) v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);
    ck_assert_msg(cJSON_IsString(v), "\"%s\" is not a string", key);
    return v->valuestring;
}

/* expect: the response has `status` and, for errors, the error code. */
static void expect(const struct http_resp *r, long status, const char *code, const char *what)
{
    ck_assert_msg(r->status == status, "%s: expected %ld, got %ld: %s", what, status, r->status,
                  r->body);
    if (code)
        ck_assert_msg(strcmp(http_error_code(r), code) == 0,
                      "%s: expected error code %s, got \"%s\" in %s", what, code,
                      http_error_code(r), r->body);
}

START_TEST(test_api_dev_login_and_me)
{
    int64_t id = 0, again = 0;
    const char *name = testenv_unique("login");
    char saved[96];
    snprintf(saved, sizeof saved, "%s", name);
    char *jwt = test_login(saved, &id);
    ck_assert_msg(jwt != NULL, "dev login failed");
    ck_assert_int_gt(id, 0);

    struct http_resp r;
    api_get("/api/v1/me", jwt, &r);
    expect(&r, 200, NULL, "GET /me");
    const cJSON *u = member(r.json, "user");
    ck_assert_int_eq(num(u, "id"), id);
    ck_assert_str_eq(str(u, "username"), saved);
    ck_assert_str_eq(str(u, "displayName"), saved);
    char ct[128];
    ck_assert_ptr_nonnull(http_header(&r, "Content-Type", ct, sizeof ct));
    ck_assert_str_eq(ct, "application/json; charset=utf-8");
    http_resp_free(&r);

    /* logging in again finds the same user */
    char *jwt2 = test_login(saved, &again);
    ck_assert_ptr_nonnull(jwt2);
    ck_assert_int_eq(again, id);
    free(jwt);
    free(jwt2);
}
END_TEST

/* Usernames are one user regardless of case: logging in as "NAME" after
 * "name" is the same user, keeping the first spelling, and a user cannot be
 * created under another's name in other case. */
START_TEST(test_api_username_ignores_case)
{
    int64_t id = 0, again = 0, peer = 0;
    char lower[96], upper[96];
    snprintf(lower, sizeof lower, "%s", testenv_unique("casefold"));
    for (size_t i = 0; i <= strlen(lower); i++)
        upper[i] = (char) toupper((unsigned char) lower[i]);
    ck_assert_str_ne(lower, upper);

    char *jwt = test_login(lower, &id);
    ck_assert_ptr_nonnull(jwt);
    char *jwt2 = test_login(upper, &again);
    ck_assert_msg(jwt2 != NULL, "dev login of %s failed", upper);
    ck_assert_int_eq(again, id);
    struct http_resp r;
    api_get("/api/v1/me", jwt2, &r);
    expect(&r, 200, NULL, "GET /me");
    ck_assert_str_eq(str(member(r.json, "user"), "username"), lower);
    http_resp_free(&r);

    /* a peer found by name in other case is the same user */
    char *jp = api_login("casepeer", &peer);
    char body[160];
    snprintf(body, sizeof body, "{\"peerUsername\":\"%s\"}", upper);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jp, body, &r), 0);
    ck_assert_msg(r.status == 201, "POST /rooms: %ld %s", r.status, r.body);
    int64_t by_name = num(member(r.json, "room"), "id");
    http_resp_free(&r);
    long status = 0;
    ck_assert_int_eq(api_room(jp, id, &status), by_name);
    ck_assert_int_eq(status, 200);
    /* a name with a trailing space is not a valid name, not a match */
    snprintf(body, sizeof body, "{\"peerUsername\":\"%s \"}", lower);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jp, body, &r), 0);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);

    /* the table itself refuses a second spelling */
    struct user u;
    ck_assert_int_eq(users_create(api_db(), upper, NULL, &u), ERR_CONFLICT);
    upper[0] = lower[0];
    ck_assert_int_eq(users_create(api_db(), upper, NULL, &u), ERR_CONFLICT);
    free(jwt);
    free(jwt2);
    free(jp);
}
END_TEST

START_TEST(test_api_dev_login_username_rules)
{
    static const char *bad[] = {
        "{\"username\":\"\"}",
        "{\"username\":\"has space\"}",
        "{\"username\":\"abcdefghijabcdefghijabcdefghijabc\"}",
        "{\"username\":\"x'; DROP TABLE users; --\"}",
        "{\"username\":\"' OR '1'='1\"}",
        "{\"username\":\"robert\\\"); DELETE FROM users; --\"}",
        "{}",
    };
    struct http_resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(http_json("POST", "/api/v1/dev/login", NULL, bad[i], &r), 0);
        expect(&r, 400, "bad_request", bad[i]);
        const char *msg = str(member(r.json, "error"), "message");
        ck_assert_msg(strstr(msg, "A-Z a-z 0-9 _ . -") != NULL, "message states the rule: %s", msg);
        http_resp_free(&r);
    }
    /* the users table is still there and answering */
    int64_t id;
    char *jwt = api_login("after_injection", &id);
    free(jwt);
}
END_TEST

START_TEST(test_api_injection_strings_as_peer_username)
{
    int64_t alice, bob;
    char *ja = api_login("inj_a", &alice);
    char *jb = api_login("inj_b", &bob);
    static const char *names[] = {
        "x' OR '1'='1",
        "' OR 1=1 -- ",
        "bob'; DROP TABLE users; --",
        "\\'; SELECT SLEEP(5); --",
        "%",
        "_",
    };
    struct http_resp r;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "peerUsername", names[i]);
        char *text = cJSON_PrintUnformatted(b);
        ck_assert_int_eq(http_json("POST", "/api/v1/rooms", ja, text, &r), 0);
        /* looked up literally: no such user (an injected OR would match someone) */
        expect(&r, 404, "user_not_found", names[i]);
        http_resp_free(&r);
        cJSON_free(text);
        cJSON_Delete(b);
    }
    /* and ordinary lookups still work: tables intact */
    api_get("/api/v1/me", jb, &r);
    expect(&r, 200, NULL, "GET /me after injection attempts");
    http_resp_free(&r);
    free(ja);
    free(jb);
}
END_TEST

START_TEST(test_api_rooms_find_or_create)
{
    int64_t alice, bob;
    long status = 0;
    char *ja = api_login("room_a", &alice);
    char *jb = api_login("room_b", &bob);
    struct http_resp r;

    char body[128];
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) bob);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", ja, body, &r), 0);
    expect(&r, 201, NULL, "first create");
    const cJSON *room = member(r.json, "room");
    int64_t id = num(room, "id");
    const cJSON *members = member(room, "members");
    ck_assert_int_eq(cJSON_GetArraySize(members), 2);
    int64_t m0 = num(cJSON_GetArrayItem(members, 0), "id");
    int64_t m1 = num(cJSON_GetArrayItem(members, 1), "id");
    ck_assert_msg((m0 == alice && m1 == bob) || (m0 == bob && m1 == alice),
                  "members %lld,%lld are not %lld,%lld", (long long) m0, (long long) m1,
                  (long long) alice, (long long) bob);
    ck_assert(cJSON_IsNull(member(room, "name")));
    const char *created = str(room, "createdAt");
    ck_assert_msg(strlen(created) == 24 && created[10] == 'T' && created[19] == '.' &&
                      created[23] == 'Z',
                  "createdAt is not RFC 3339 UTC with ms: %s", created);
    http_resp_free(&r);

    /* the same room again, and from the other side by username */
    ck_assert_int_eq(api_room(ja, bob, &status), id);
    ck_assert_int_eq(status, 200);
    api_get("/api/v1/me", ja, &r);
    char body2[160];
    snprintf(body2, sizeof body2, "{\"peerUsername\":\"%s\"}",
             str(member(r.json, "user"), "username"));
    http_resp_free(&r);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jb, body2, &r), 0);
    expect(&r, 200, NULL, "create from the other side");
    ck_assert_int_eq(num(member(r.json, "room"), "id"), id);
    http_resp_free(&r);

    /* with yourself: 400; unknown peer: 404 */
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) alice);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", ja, body, &r), 0);
    expect(&r, 400, "bad_request", "room with yourself");
    http_resp_free(&r);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", ja, "{\"peerUserId\":900000000000000}", &r),
                     0);
    expect(&r, 404, "user_not_found", "unknown peer id");
    http_resp_free(&r);
    ck_assert_int_eq(
        http_json("POST", "/api/v1/rooms", ja, "{\"peerUsername\":\"nobody_zz_q\"}", &r), 0);
    expect(&r, 404, "user_not_found", "unknown peer name");
    http_resp_free(&r);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", ja, "{\"peerUserId\":\"2\"}", &r), 0);
    expect(&r, 400, "bad_request", "peerUserId as a string");
    ck_assert_msg(strstr(str(member(r.json, "error"), "message"), "peerUserId"), "names field: %s",
                  r.body);
    http_resp_free(&r);
    free(ja);
    free(jb);
}
END_TEST

START_TEST(test_api_rooms_list_pages_newest_first)
{
    int64_t me, peers[3], rooms[3];
    char *jwt = api_login("lister", &me);
    for (int i = 0; i < 3; i++) {
        char *j = api_login("peer", &peers[i]);
        free(j);
        rooms[i] = api_room(jwt, peers[i], NULL);
    }
    struct http_resp r;
    api_get("/api/v1/rooms?limit=2", jwt, &r);
    expect(&r, 200, NULL, "first page");
    const cJSON *list = member(r.json, "rooms");
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    ck_assert_int_eq(num(cJSON_GetArrayItem(list, 0), "id"), rooms[2]);
    ck_assert_int_eq(num(cJSON_GetArrayItem(list, 1), "id"), rooms[1]);
    /* New rooms are ordered by creation; the cursor names the last shown. */
    char path[128];
    const char *next = str(r.json, "nextCursor");
    const char *dot = strchr(next, '.');
    ck_assert_ptr_nonnull(dot);
    ck_assert_int_eq(strtoll(dot + 1, NULL, 10), rooms[1]);
    snprintf(path, sizeof path, "/api/v1/rooms?cursor=%s&limit=2", next);
    http_resp_free(&r);

    api_get(path, jwt, &r);
    expect(&r, 200, NULL, "second page");
    list = member(r.json, "rooms");
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_int_eq(num(cJSON_GetArrayItem(list, 0), "id"), rooms[0]);
    ck_assert(cJSON_IsNull(member(r.json, "nextCursor")));
    http_resp_free(&r);

    /* default limit shows all three; bad limits are 400 */
    api_get("/api/v1/rooms", jwt, &r);
    expect(&r, 200, NULL, "default page");
    ck_assert_int_eq(cJSON_GetArraySize(member(r.json, "rooms")), 3);
    http_resp_free(&r);
    api_get("/api/v1/rooms?limit=0", jwt, &r);
    expect(&r, 400, "bad_request", "limit=0");
    http_resp_free(&r);
    api_get("/api/v1/rooms?limit=101", jwt, &r);
    expect(&r, 400, "bad_request", "limit=101");
    http_resp_free(&r);
    free(jwt);
}
END_TEST

/* ------------------------------------------------ twenty parallel creates */

#define PARALLEL 20

struct create_job {
    const char *jwt;
    int64_t peer;
    long status;
    int64_t room;
    char body[256];
};

static void *create_thread(void *arg)
{
    struct create_job *job = arg;
    char body[64];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) job->peer);
    if (http_json("POST", "/api/v1/rooms", job->jwt, body, &r) == 0) {
        job->status = r.status;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r.json, "room"), "id");
        job->room = cJSON_IsNumber(id) ? (int64_t) id->valuedouble : -1;
        snprintf(job->body, sizeof job->body, "%s", r.body);
    }
    http_resp_free(&r);
    return NULL;
}

START_TEST(test_api_rooms_parallel_creates_converge)
{
    int64_t a, b;
    char *ja = api_login("par_a", &a);
    char *jb = api_login("par_b", &b);
    struct create_job jobs[PARALLEL];
    pthread_t th[PARALLEL];
    curl_global_init(CURL_GLOBAL_ALL);
    for (int i = 0; i < PARALLEL; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        /* both sides race: half from a, half from b */
        jobs[i].jwt = i % 2 ? ja : jb;
        jobs[i].peer = i % 2 ? b : a;
        ck_assert_int_eq(pthread_create(&th[i], NULL, create_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < PARALLEL; i++)
        pthread_join(th[i], NULL);

    int created = 0;
    for (int i = 0; i < PARALLEL; i++) {
        ck_assert_msg(jobs[i].status == 200 || jobs[i].status == 201, "request %d: %ld %s", i,
                      jobs[i].status, jobs[i].body);
        ck_assert_msg(jobs[i].room == jobs[0].room, "request %d got room %lld, request 0 %lld", i,
                      (long long) jobs[i].room, (long long) jobs[0].room);
        created += jobs[i].status == 201;
    }
    ck_assert_int_eq(created, 1);

    /* one row for the pair, two member rows */
    struct sqldb_arg pair[2] = {SQLDB_ARG_I64(a < b ? a : b), SQLDB_ARG_I64(a < b ? b : a)};
    struct sqldb_col cnt = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                    "SELECT COUNT(*) FROM chat_rooms "
                                    "WHERE user_low = ? AND user_high = ?",
                                    pair, 2, &cnt, 1),
                     0);
    ck_assert_int_eq(cnt.i64, 1);
    struct sqldb_arg room = SQLDB_ARG_I64(jobs[0].room);
    ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                    "SELECT COUNT(*) FROM chat_room_members WHERE room_id = ?",
                                    &room, 1, &cnt, 1),
                     0);
    ck_assert_int_eq(cnt.i64, 2);
    free(ja);
    free(jb);
}
END_TEST

/* ------------------------------------------------ history */

/* seqs: the seq list of a history answer as "1,2,3". */
static const char *seqs(const struct http_resp *r)
{
    static char out[512];
    size_t o = 0;
    out[0] = '\0';
    const cJSON *m;
    cJSON_ArrayForEach(m, member(r->json, "messages"))
    {
        o += (size_t) snprintf(out + o, sizeof out - o, "%s%lld", o ? "," : "",
                               (long long) num(m, "seq"));
    }
    return out;
}

START_TEST(test_api_history_pages)
{
    int64_t a, b;
    char *ja = api_login("hist_a", &a);
    char *jb = api_login("hist_b", &b);
    int64_t room = api_room(ja, b, NULL);
    api_store_messages(room, a, b, 1, 7);

    struct http_resp r;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/chat/%lld?limit=3", (long long) room);
    api_get(path, ja, &r);
    expect(&r, 200, NULL, "newest page");
    ck_assert_str_eq(seqs(&r), "5,6,7");
    ck_assert_int_eq(num(r.json, "nextBefore"), 5);
    const cJSON *first = cJSON_GetArrayItem(member(r.json, "messages"), 0);
    ck_assert_int_eq(num(first, "chatRoomId"), room);
    ck_assert_str_eq(str(first, "chatType"), "TEXT");
    ck_assert_str_eq(str(first, "message"), "message 5");
    ck_assert_str_eq(str(first, "clientMsgId"), "hist-5");
    ck_assert_int_eq(num(first, "senderId"), a);
    ck_assert_int_eq((int) strlen(str(first, "id")), 24);
    ck_assert_str_eq(str(first, "createdAt"), "2027-01-15T08:00:00.005Z");
    http_resp_free(&r);

    /* query, reader, the seqs expected, the cursor member and its value
     * (0: null); the other cursor must be absent */
    static const struct {
        const char *query;
        int as_b;
        const char *seqs, *cursor;
        int64_t next;
    } pages[] = {
        {"?before=5&limit=3", 1, "2,3,4", "nextBefore", 2}, /* the other member reads too */
        {"?before=2&limit=3", 0, "1", "nextBefore", 0},
        {"?after=0&limit=3", 0, "1,2,3", "nextAfter", 3},
        {"?after=6", 0, "7", "nextAfter", 0},
        {"", 0, "1,2,3,4,5,6,7", "nextBefore", 0},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/chat/%lld%s", (long long) room, pages[i].query);
        api_get(path, pages[i].as_b ? jb : ja, &r);
        expect(&r, 200, NULL, pages[i].query);
        ck_assert_msg(strcmp(seqs(&r), pages[i].seqs) == 0, "%s: expected seqs %s, got %s",
                      pages[i].query, pages[i].seqs, seqs(&r));
        const cJSON *next = member(r.json, pages[i].cursor);
        if (pages[i].next)
            ck_assert_int_eq(num(r.json, pages[i].cursor), pages[i].next);
        else
            ck_assert_msg(cJSON_IsNull(next), "%s: %s should be null: %s", pages[i].query,
                          pages[i].cursor, r.body);
        const char *other = strcmp(pages[i].cursor, "nextAfter") ? "nextAfter" : "nextBefore";
        ck_assert_msg(member(r.json, other) == NULL, "%s: unexpected %s", pages[i].query, other);
        http_resp_free(&r);
    }

    static const char *bad[] = {"?limit=0", "?limit=101", "?before=3&after=1", "?before=x",
                                "?after=-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/chat/%lld%s", (long long) room, bad[i]);
        api_get(path, ja, &r);
        expect(&r, 400, "bad_request", bad[i]);
        http_resp_free(&r);
    }
    free(ja);
    free(jb);
}
END_TEST

START_TEST(test_api_history_non_member_is_404)
{
    int64_t a, b, c;
    char *ja = api_login("priv_a", &a);
    char *jb = api_login("priv_b", &b);
    char *jc = api_login("priv_c", &c);
    int64_t room = api_room(ja, b, NULL);
    api_store_messages(room, a, b, 1, 2);

    struct http_resp r, none;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/chat/%lld", (long long) room);
    api_get(path, jc, &r);
    expect(&r, 404, "not_found", "non-member");
    ck_assert_msg(strstr(r.body, "message 1") == NULL, "leaked history: %s", r.body);
    /* exactly what a room that does not exist gets */
    api_get("/api/v1/chat/999999999999999", jc, &none);
    expect(&none, 404, "not_found", "no such room");
    ck_assert_str_eq(r.body, none.body);
    http_resp_free(&r);
    http_resp_free(&none);

    /* not a room id at all: 404 from routing; no token: 401 */
    api_get("/api/v1/chat/abc", jc, &r);
    expect(&r, 404, "not_found", "non-numeric room");
    http_resp_free(&r);
    api_get(path, NULL, &r);
    expect(&r, 401, "unauthorized", "history without token");
    http_resp_free(&r);
    free(ja);
    free(jb);
    free(jc);
}
END_TEST

/* ------------------------------------------------ socket tokens */

static void token_hash(const char *token, unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned char raw[64];
    size_t n = 0;
    ck_assert_int_eq(b64url_decode(token, strlen(token), raw, sizeof raw, &n), 0);
    SHA256(raw, n, out);
}

static char *new_socket_token(const char *jwt)
{
    struct http_resp r;
    ck_assert_int_eq(http_request("POST", "/api/v1/socket-token", jwt, NULL, "", 0, &r), 0);
    expect(&r, 201, NULL, "POST /socket-token");
    char *tok = strdup(str(r.json, "token"));
    http_resp_free(&r);
    return tok;
}

START_TEST(test_api_socket_token_single_use)
{
    int64_t me, who = 0;
    char *jwt = api_login("sock", &me);
    const struct config *cfg = testenv_config();
    struct http_resp r;
    ck_assert_int_eq(http_request("POST", "/api/v1/socket-token", jwt, NULL, "", 0, &r), 0);
    expect(&r, 201, NULL, "issue");
    const char *tok = str(r.json, "token");
    ck_assert_int_eq((int) strlen(tok), SOCKET_TOKEN_TEXT_LEN - 1);
    ck_assert_int_eq(num(r.json, "expiresIn"), cfg->socket_token_ttl);
    char want[1024];
    snprintf(want, sizeof want, "%s?token=%s", cfg->public_ws_url, tok);
    ck_assert_str_eq(str(r.json, "url"), want);

    /* only the hash is stored */
    unsigned char hash[SHA256_DIGEST_LENGTH];
    token_hash(tok, hash);
    struct sqldb_arg h = SQLDB_ARG_BLOB(hash, sizeof hash);
    struct sqldb_col uid = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                    "SELECT user_id FROM socket_tokens WHERE token_hash = ?", &h, 1,
                                    &uid, 1),
                     0);
    ck_assert_int_eq(uid.i64, me);

    ck_assert_int_eq(socket_token_consume(api_db(), tok, &who), 0);
    ck_assert_int_eq(who, me);
    ck_assert_int_eq(socket_token_consume(api_db(), tok, &who), ERR_AUTH);
    ck_assert_int_eq(who, 0);
    http_resp_free(&r);

    /* two tokens are different; malformed and unknown ones fail */
    char *t1 = new_socket_token(jwt), *t2 = new_socket_token(jwt);
    ck_assert_str_ne(t1, t2);
    ck_assert_int_eq(socket_token_consume(api_db(), "short", &who), ERR_AUTH);
    ck_assert_int_eq(
        socket_token_consume(api_db(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &who),
        ERR_AUTH);
    ck_assert_int_eq(socket_token_consume(api_db(), t2, &who), 0);
    ck_assert_int_eq(socket_token_consume(api_db(), t1, &who), 0);
    free(t1);
    free(t2);
    free(jwt);
}
END_TEST

START_TEST(test_api_socket_token_expired)
{
    int64_t me, who = 0;
    char *jwt = api_login("sockexp", &me);
    char *tok = new_socket_token(jwt);
    unsigned char hash[SHA256_DIGEST_LENGTH];
    token_hash(tok, hash);
    struct sqldb_arg h = SQLDB_ARG_BLOB(hash, sizeof hash);
    uint64_t changed = 0;
    /* age it instead of sleeping through its 30 s */
    ck_assert_int_eq(sqldb_stmt_exec(api_db(),
                                     "UPDATE socket_tokens SET expires_at = NOW(3) - INTERVAL 1 "
                                     "SECOND WHERE token_hash = ?",
                                     &h, 1, &changed, NULL),
                     0);
    ck_assert_int_eq((int) changed, 1);
    ck_assert_int_eq(socket_token_consume(api_db(), tok, &who), ERR_AUTH);
    /* nor was it marked used by the failed attempt */
    struct sqldb_col used = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                    "SELECT used_at IS NULL FROM socket_tokens "
                                    "WHERE token_hash = ?",
                                    &h, 1, &used, 1),
                     0);
    ck_assert_int_eq(used.i64, 1);
    free(tok);
    free(jwt);
}
END_TEST

START_TEST(test_api_socket_token_purges_old_rows)
{
    int64_t me;
    char *jwt = api_login("sockpurge", &me);
    free(jwt);
    unsigned char hash[SHA256_DIGEST_LENGTH];
    char marker[64];
    snprintf(marker, sizeof marker, "purge-%s", testenv_unique("m"));
    SHA256((const unsigned char *) marker, strlen(marker), hash);
    struct sqldb_arg ins[2] = {SQLDB_ARG_BLOB(hash, sizeof hash), SQLDB_ARG_I64(me)};
    ck_assert_int_eq(sqldb_stmt_exec(api_db(),
                                     "INSERT INTO socket_tokens (token_hash, user_id, expires_at) "
                                     "VALUES (?, ?, NOW(3) - INTERVAL 2 HOUR)",
                                     ins, 2, NULL, NULL),
                     0);
    /* issuing tokens deletes long-expired rows, a bounded batch at a time */
    struct sqldb_arg h = SQLDB_ARG_BLOB(hash, sizeof hash);
    struct sqldb_col cnt = SQLDB_COL_I64();
    int issued = 0;
    for (; issued < 200; issued++) {
        char tok[SOCKET_TOKEN_TEXT_LEN];
        ck_assert_int_eq(socket_token_issue(api_db(), me, 30, tok), 0);
        ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                        "SELECT COUNT(*) FROM socket_tokens WHERE token_hash = ?",
                                        &h, 1, &cnt, 1),
                         0);
        if (cnt.i64 == 0)
            break;
    }
    ck_assert_msg(cnt.i64 == 0, "an expired row survived %d issues", issued);
}
END_TEST

/* ------------------------------------------------ error statuses */

struct token_job {
    const char *jwt;
    long status;
    char body[256];
};

static void *token_thread(void *arg)
{
    struct token_job *job = arg;
    struct http_resp r;
    if (http_request("POST", "/api/v1/socket-token", job->jwt, NULL, "", 0, &r) == 0) {
        job->status = r.status;
        snprintf(job->body, sizeof job->body, "%s", r.body);
    }
    http_resp_free(&r);
    return NULL;
}

/* socket_tokens_per_minute tokens per user in any 60 s, counted in MySQL:
 * tokens issued elsewhere count too, parallel requests (several API
 * processes) cannot overshoot, the one past it is 429 with Retry-After,
 * and another user is not affected. */
START_TEST(test_api_socket_token_rate_limited)
{
    int64_t me, other;
    char *jwt = api_login("tokrate", &me);
    char *jwt2 = api_login("tokrate2", &other);
    int limit = testenv_config()->socket_tokens_per_minute;
    ck_assert_int_ge(limit, 2);
    /* All but two places taken by tokens issued directly (another process). */
    for (int i = 0; i < limit - 2; i++) {
        char tok[SOCKET_TOKEN_TEXT_LEN];
        ck_assert_int_eq(socket_token_issue(api_db(), me, 30, tok), 0);
    }
    struct token_job jobs[PARALLEL];
    pthread_t th[PARALLEL];
    curl_global_init(CURL_GLOBAL_ALL);
    for (int i = 0; i < PARALLEL; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].jwt = jwt;
        ck_assert_int_eq(pthread_create(&th[i], NULL, token_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < PARALLEL; i++)
        pthread_join(th[i], NULL);
    int issued = 0;
    for (int i = 0; i < PARALLEL; i++) {
        ck_assert_msg(jobs[i].status == 201 || jobs[i].status == 429, "request %d: %ld %s", i,
                      jobs[i].status, jobs[i].body);
        issued += jobs[i].status == 201;
    }
    ck_assert_int_eq(issued, 2);

    struct http_resp r;
    char retry[32];
    ck_assert_int_eq(http_request("POST", "/api/v1/socket-token", jwt, NULL, "", 0, &r), 0);
    expect(&r, 429, "rate_limited", "POST /socket-token past the limit");
    ck_assert_ptr_nonnull(http_header(&r, "Retry-After", retry, sizeof retry));
    char *end;
    long secs = strtol(retry, &end, 10);
    ck_assert_msg(*end == '\0' && secs >= 1 && secs <= 60, "Retry-After: %s", retry);
    http_resp_free(&r);

    struct sqldb_arg uid = SQLDB_ARG_I64(me);
    struct sqldb_col cnt = SQLDB_COL_I64();
    ck_assert_int_eq(sqldb_stmt_row(api_db(),
                                    "SELECT COUNT(*) FROM socket_tokens WHERE user_id = ?", &uid, 1,
                                    &cnt, 1),
                     0);
    ck_assert_int_eq(cnt.i64, limit);

    free(new_socket_token(jwt2)); /* another user still gets one */
    free(jwt);
    free(jwt2);
}
END_TEST

START_TEST(test_api_auth_failures_are_401)
{
    const struct config *cfg = testenv_config();
    struct http_resp r;
    char hdr[256], tok[JWT_MAX_LEN];

    api_get("/api/v1/me", NULL, &r);
    expect(&r, 401, "unauthorized", "no token");
    ck_assert_msg(http_header(&r, "WWW-Authenticate", hdr, sizeof hdr) &&
                      strncmp(hdr, "Bearer", 6) == 0,
                  "WWW-Authenticate missing or not Bearer: %s", r.headers);
    http_resp_free(&r);

    api_get("/api/v1/me", "garbage.token.here", &r);
    expect(&r, 401, "unauthorized", "garbage token");
    ck_assert_ptr_nonnull(http_header(&r, "WWW-Authenticate", hdr, sizeof hdr));
    ck_assert_msg(strstr(hdr, "invalid_token"), "challenge: %s", hdr);
    http_resp_free(&r);

    /* expired, and a valid token of a user that does not exist */
    ck_assert_int_eq(jwt_sign(cfg, 1, (int64_t) time(NULL) - cfg->jwt_ttl - cfg->jwt_leeway - 5,
                              tok, sizeof tok),
                     0);
    api_get("/api/v1/rooms", tok, &r);
    expect(&r, 401, "unauthorized", "expired token");
    ck_assert_ptr_nonnull(http_header(&r, "WWW-Authenticate", hdr, sizeof hdr));
    http_resp_free(&r);
    ck_assert_int_eq(jwt_sign(cfg, 900000000000001LL, (int64_t) time(NULL), tok, sizeof tok), 0);
    ck_assert_int_eq(http_request("POST", "/api/v1/socket-token", tok, NULL, "", 0, &r), 0);
    expect(&r, 401, "unauthorized", "token of a missing user");
    http_resp_free(&r);

    /* alg none with a valid-looking payload */
    api_get("/api/v1/me", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.", &r);
    expect(&r, 401, "unauthorized", "alg none");
    http_resp_free(&r);
}
END_TEST

START_TEST(test_api_routing_errors)
{
    int64_t me;
    char *jwt = api_login("routes", &me);
    struct http_resp r;
    char allow[128];

    static const char *unknown[] = {"/api/v1/nope", "/api/v1/rooms/12", "/api/v1/chat",
                                    "/api/v1/socket-token/x", "/api/v1/me/"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        api_get(unknown[i], jwt, &r);
        expect(&r, 404, "not_found", unknown[i]);
        http_resp_free(&r);
    }

    ck_assert_int_eq(http_request("DELETE", "/api/v1/rooms", jwt, NULL, NULL, 0, &r), 0);
    expect(&r, 405, "method_not_allowed", "DELETE /rooms");
    ck_assert_ptr_nonnull(http_header(&r, "Allow", allow, sizeof allow));
    ck_assert_str_eq(allow, "POST, GET");
    http_resp_free(&r);
    api_get("/api/v1/socket-token", jwt, &r);
    expect(&r, 405, "method_not_allowed", "GET /socket-token");
    ck_assert_ptr_nonnull(http_header(&r, "Allow", allow, sizeof allow));
    ck_assert_str_eq(allow, "POST");
    http_resp_free(&r);
    ck_assert_int_eq(http_json("POST", "/api/v1/me", jwt, "{}", &r), 0);
    expect(&r, 405, "method_not_allowed", "POST /me");
    http_resp_free(&r);
    free(jwt);
}
END_TEST

START_TEST(test_api_body_errors)
{
    int64_t me;
    char *jwt = api_login("bodies", &me);
    struct http_resp r;

    /* over 16 KiB: 413 */
    size_t big_len = 16 * 1024 + 100;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    memcpy(big, "{\"peerUserId\":1", 15);
    big[big_len - 1] = '}';
    big[big_len] = '\0';
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jwt, big, &r), 0);
    expect(&r, 413, "too_large", "17 KB body");
    http_resp_free(&r);
    ck_assert_int_eq(http_json("POST", "/api/v1/dev/login", NULL, big, &r), 0);
    expect(&r, 413, "too_large", "17 KB login body");
    http_resp_free(&r);
    free(big);

    /* wrong or missing content type: 415 */
    const char *body = "{\"peerUserId\":1}";
    ck_assert_int_eq(
        http_request("POST", "/api/v1/rooms", jwt, "text/plain", body, strlen(body), &r), 0);
    expect(&r, 415, "unsupported_media_type", "text/plain");
    http_resp_free(&r);
    ck_assert_int_eq(http_request("POST", "/api/v1/dev/login", NULL,
                                  "application/x-www-form-urlencoded", "username=x", 10, &r),
                     0);
    expect(&r, 415, "unsupported_media_type", "form body");
    http_resp_free(&r);

    /* malformed JSON, wrong shape, missing field: 400 */
    static const char *bad[] = {"{\"peerUserId\":", "[1]", "{}", "{\"peerUserId\":1,}",
                                "{\"peerUsername\":\"a\\u0000b\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jwt, bad[i], &r), 0);
        expect(&r, 400, "bad_request", bad[i]);
        http_resp_free(&r);
    }
    free(jwt);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("endpoints");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_api_dev_login_and_me);
    tcase_add_test(tc, test_api_dev_login_username_rules);
    tcase_add_test(tc, test_api_username_ignores_case);
    tcase_add_test(tc, test_api_injection_strings_as_peer_username);
    tcase_add_test(tc, test_api_rooms_find_or_create);
    tcase_add_test(tc, test_api_rooms_list_pages_newest_first);
    tcase_add_test(tc, test_api_rooms_parallel_creates_converge);
    tcase_add_test(tc, test_api_history_pages);
    tcase_add_test(tc, test_api_history_non_member_is_404);
    tcase_add_test(tc, test_api_socket_token_single_use);
    tcase_add_test(tc, test_api_socket_token_expired);
    tcase_add_test(tc, test_api_socket_token_purges_old_rows);
    tcase_add_test(tc, test_api_socket_token_rate_limited);
    tcase_add_test(tc, test_api_auth_failures_are_401);
    tcase_add_test(tc, test_api_routing_errors);
    tcase_add_test(tc, test_api_body_errors);
    suite_add_tcase(s, tc);
    return s;
}
