/*
 * check_chatctl.c - the developer CLI against the stack's database: the
 * user it adds, the JWT it mints and the room it creates are the ones the
 * HTTP API sees.
 */
#include "api_helpers.h"
#include "http_client.h"
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[8192];

static const char *bin_dir(void)
{
    const char *d = getenv("CHAT_BIN_DIR");
    return d && *d ? d : "build/san/bin";
}

/* chatctl: run it and return its exit status; what it printed (stderr
 * and stdout) is in out, its last line, the value for scripts, in last. */
static char last[1024];

static int chatctl(const char *args)
{
    int rc = run_cmd(out, sizeof out, "%s/chatctl %s", bin_dir(), args);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    const char *nl = strrchr(out, '\n');
    snprintf(last, sizeof last, "%s", nl ? nl + 1 : out);
    return rc;
}

START_TEST(test_chatctl_add_user_token_room)
{
    char a[96], b[96], args[256];
    snprintf(a, sizeof a, "%s", testenv_unique("ctl_a"));
    snprintf(b, sizeof b, "%s", testenv_unique("ctl_b"));

    snprintf(args, sizeof args, "add-user %s 'Ctl Tester'", a);
    ck_assert_msg(chatctl(args) == 0, "add-user: %s", out);
    long long id_a = strtoll(last, NULL, 10);
    ck_assert_msg(id_a > 0, "add-user printed %s", out);
    /* adding the same name again reports the existing id */
    ck_assert_msg(chatctl(args) == 0, "add-user again: %s", out);
    ck_assert_msg(strstr(out, "exists already") != NULL, "add-user again says so: %s", out);
    ck_assert_int_eq(strtoll(last, NULL, 10), id_a);
    snprintf(args, sizeof args, "add-user %s", b);
    ck_assert_msg(chatctl(args) == 0, "add-user: %s", out);
    long long id_b = strtoll(last, NULL, 10);

    /* the minted JWT works on the API, by name and by id */
    snprintf(args, sizeof args, "token %s", a);
    ck_assert_msg(chatctl(args) == 0, "token: %s", out);
    char *jwt = strdup(last);
    struct http_resp r;
    api_get("/api/v1/me", jwt, &r);
    ck_assert_msg(r.status == 200, "GET /me with chatctl's token: %ld %s", r.status, r.body);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(r.json, "user");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(u, "displayName")->valuestring, "Ctl Tester");
    http_resp_free(&r);
    snprintf(args, sizeof args, "token %lld", id_b);
    ck_assert_msg(chatctl(args) == 0, "token by id: %s", out);

    /* the room it prints is the room the API finds */
    snprintf(args, sizeof args, "room %s %lld", a, id_b);
    ck_assert_msg(chatctl(args) == 0, "room: %s", out);
    long long room = strtoll(last, NULL, 10);
    ck_assert_int_gt(room, 0);
    long status = 0;
    ck_assert_int_eq(api_room(jwt, id_b, &status), room);
    ck_assert_int_eq(status, 200);
    free(jwt);
}
END_TEST

START_TEST(test_chatctl_refuses_bad_input)
{
    ck_assert_int_eq(chatctl(""), 2);
    ck_assert_int_eq(chatctl("frobnicate"), 2);
    ck_assert_int_eq(chatctl("add-user 'x; DROP TABLE users'"), 2);
    ck_assert_msg(strstr(out, "A-Z a-z 0-9") != NULL, "message states the rule: %s", out);
    ck_assert_int_eq(chatctl("token no_such_user_zz_9"), 1);
    ck_assert_msg(strstr(out, "no such user") != NULL, "message: %s", out);
    char args[128];
    snprintf(args, sizeof args, "room %s %s", "no_such_user_zz_9", "no_such_user_zz_8");
    ck_assert_int_eq(chatctl(args), 1);
}
END_TEST

Suite *chatctl_suite(void)
{
    Suite *s = suite_create("chatctl");
    TCase *tc = tcase_create("cli");
    tcase_add_test(tc, test_chatctl_add_user_token_room);
    tcase_add_test(tc, test_chatctl_refuses_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
