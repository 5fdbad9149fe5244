/* api_helpers.c - see api_helpers.h. */
#include "api_helpers.h"
#include "chat_message.h"
#include "errors.h"
#include "msgstore.h"
#include "sqldb.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *api_login(const char *prefix, int64_t *user_id)
{
    const char *name = testenv_unique(prefix);
    char *jwt = test_login(name, user_id);
    ck_assert_msg(jwt != NULL, "dev login of %s failed", name);
    return jwt;
}

int64_t api_room(const char *jwt, int64_t peer_id, long *status)
{
    char body[64];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"peerUserId\":%lld}", (long long) peer_id);
    ck_assert_int_eq(http_json("POST", "/api/v1/rooms", jwt, body, &r), 0);
    ck_assert_msg(r.status == 200 || r.status == 201, "POST /rooms: %ld %s", r.status, r.body);
    const cJSON *id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "room"), "id");
    ck_assert_msg(cJSON_IsNumber(id), "no room id in %s", r.body);
    int64_t room = (int64_t) id->valuedouble;
    if (status)
        *status = r.status;
    http_resp_free(&r);
    return room;
}

struct sqldb *api_db(void)
{
    static struct sqldb *db;
    if (!db)
        db = sqldb_new(testenv_config());
    ck_assert_ptr_nonnull(db);
    return db;
}

long long api_status_var(const char *name)
{
    char value[64] = "";
    struct sqldb_col col = SQLDB_COL_TEXT(value, sizeof value);
    struct sqldb_arg arg = SQLDB_ARG_TEXT(name);
    int rc = sqldb_stmt_row(api_db(),
                            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                            "WHERE VARIABLE_NAME = ?",
                            &arg, 1, &col, 1);
    ck_assert_msg(rc == 0, "global status %s: %s", name, err_str(rc));
    return strtoll(value, NULL, 10);
}

void api_store_messages(int64_t room_id, int64_t a, int64_t b, int64_t first, int64_t last)
{
    char err[256] = "";
    struct msgstore *ms = msgstore_new(testenv_config(), err, sizeof err);
    ck_assert_msg(ms != NULL, "msgstore_new: %s", err);
    size_t n = (size_t) (last - first + 1);
    struct chat_message *msgs = calloc(n, sizeof *msgs);
    int *status = calloc(n, sizeof *status);
    char(*text)[32] = calloc(n, sizeof *text), (*cid)[32] = calloc(n, sizeof *cid);
    for (size_t i = 0; i < n; i++) {
        int64_t seq = first + (int64_t) i;
        snprintf(text[i], sizeof text[i], "message %lld", (long long) seq);
        snprintf(cid[i], sizeof cid[i], "hist-%lld", (long long) seq);
        msgs[i].room_id = room_id;
        msgs[i].seq = seq;
        msgs[i].sender_id = seq % 2 ? a : b;
        msgs[i].type = CHAT_TEXT;
        msgs[i].message = text[i];
        msgs[i].client_msg_id = cid[i];
        msgs[i].created_at_ms = 1800000000000LL + seq;
    }
    int rc = msgstore_insert_many(ms, msgs, n, status);
    ck_assert_msg(rc == 0, "msgstore_insert_many: %s", err_str(rc));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(status[i] == 0, "message %zu not stored: %s", i, err_str(status[i]));
    free(msgs);
    free(status);
    free(text);
    free(cid);
    msgstore_free(ms);
}

void api_get(const char *path, const char *jwt, struct http_resp *r)
{
    ck_assert_int_eq(http_request("GET", path, jwt, NULL, NULL, 0, r), 0);
}
