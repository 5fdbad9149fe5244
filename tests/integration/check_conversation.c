/*
 * check_conversation.c - conversation state through the API, with the
 * messages sent through the stack's relay: the room list (peer, last
 * message, unread counts, both watermarks, newest activity first, paged by
 * cursor), POST /rooms/{id}/read (forward only, never past the last
 * message, members only), and unread counts that stay exact when a write
 * fails or a retry turns out to be a duplicate (seqs that hold no message).
 */
#include "api_helpers.h"
#include "http_client.h"
#include "relay_helpers.h"
#include "testenv.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* room_of: the entry of room_id in u's room list (first page of 100);
 * caller cJSON_Delete's *owner. */
static const cJSON *room_of(const struct rh_user *u, int64_t room_id, cJSON **owner)
{
    struct http_resp r;
    api_get("/api/v1/rooms?limit=100", u->jwt, &r);
    ck_assert_msg(r.status == 200, "GET /rooms: %ld %s", r.status, r.body);
    *owner = r.json;
    r.json = NULL;
    http_resp_free(&r);
    const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(*owner, "rooms"), *e;
    cJSON_ArrayForEach(e, rooms) if (rh_int(e, "id") == room_id) return e;
    ck_abort_msg("room %lld is not in the list", (long long) room_id);
    return NULL;
}

/* unread_of: u's unreadCount of room_id. */
static int64_t unread_of(const struct rh_user *u, int64_t room_id)
{
    cJSON *owner;
    int64_t n = rh_int(room_of(u, room_id, &owner), "unreadCount");
    cJSON_Delete(owner);
    return n;
}

/* mark_read: POST /rooms/{room}/read {"seq": seq} as u; returns the status,
 * *read (may be NULL) gets lastReadSeq of a 200. */
static long mark_read(const struct rh_user *u, int64_t room, int64_t seq, int64_t *read)
{
    char path[96], body[64];
    snprintf(path, sizeof path, "/api/v1/rooms/%lld/read", (long long) room);
    snprintf(body, sizeof body, "{\"seq\":%lld}", (long long) seq);
    struct http_resp r;
    ck_assert_int_eq(http_json("POST", path, u->jwt, body, &r), 0);
    long status = r.status;
    if (status == 200 && read)
        *read = rh_int(r.json, "lastReadSeq");
    http_resp_free(&r);
    return status;
}

/* send_numbered: n TEXT messages from p->a (client ids prefix-1..n), each
 * ACKed; returns the last seq. */
static int64_t send_numbered(struct rh_pair *p, const char *prefix, int n, const char *text)
{
    int64_t seq = 0;
    for (int i = 1; i <= n; i++) {
        char cmid[32];
        snprintf(cmid, sizeof cmid, "%s-%d", prefix, i);
        seq = rh_text(&p->ca, p->room, cmid, text);
    }
    return seq;
}

/* A new room, three messages from a, then b reads up to the second. */
START_TEST(test_conversation_room_list_state)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvlist", rh_port());
    cJSON *owner;
    const cJSON *e = room_of(&p.b, p.room, &owner);
    ck_assert_int_eq(rh_int(e, "lastSeq"), 0);
    ck_assert_int_eq(rh_int(e, "unreadCount"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "lastMessage")));
    ck_assert_int_eq(rh_int(cJSON_GetObjectItemCaseSensitive(e, "peer"), "id"), p.a.id);
    cJSON_Delete(owner);

    for (int i = 1; i <= 3; i++) {
        char cmid[16], text[32];
        snprintf(cmid, sizeof cmid, "cv-%d", i);
        snprintf(text, sizeof text, "hello %d", i);
        rh_text(&p.ca, p.room, cmid, text);
        cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    }
    e = room_of(&p.b, p.room, &owner);
    ck_assert_int_eq(rh_int(e, "lastSeq"), 3);
    ck_assert_int_eq(rh_int(e, "lastReadSeq"), 0);
    ck_assert_int_eq(rh_int(e, "unreadCount"), 3);
    ck_assert_int_eq(rh_int(e, "peerLastReadSeq"), 3); /* a wrote them: a has read them */
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(e, "lastMessage");
    ck_assert_str_eq(rh_str(last, "chatType"), "TEXT");
    ck_assert_str_eq(rh_str(last, "preview"), "hello 3");
    ck_assert_int_eq(rh_int(last, "senderId"), p.a.id);
    cJSON_Delete(owner);
    ck_assert_int_eq(unread_of(&p.a, p.room), 0);

    int64_t read = -1;
    ck_assert_int_eq(mark_read(&p.b, p.room, 2, &read), 200);
    ck_assert_int_eq(read, 2);
    ck_assert_int_eq(unread_of(&p.b, p.room), 1);
    e = room_of(&p.a, p.room, &owner);
    ck_assert_int_eq(rh_int(e, "peerLastReadSeq"), 2); /* a's message 3 is unread by b */
    cJSON_Delete(owner);
    rh_pair_close(&p);
}
END_TEST

/* The watermark moves forward only, never past the last message, and only
 * a member moves it. */
START_TEST(test_conversation_read_rules)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvread", rh_port());
    send_numbered(&p, "r", 4, "x");
    int64_t read = -1;
    ck_assert_int_eq(mark_read(&p.b, p.room, 3, &read), 200);
    ck_assert_int_eq(read, 3);
    ck_assert_int_eq(mark_read(&p.b, p.room, 1, &read), 200); /* back: no change */
    ck_assert_int_eq(read, 3);
    ck_assert_int_eq(mark_read(&p.b, p.room, 5, &read), 400); /* past the last message */
    ck_assert_int_eq(unread_of(&p.b, p.room), 1);
    struct rh_user stranger;
    rh_user_new(&stranger, "cvstranger");
    ck_assert_int_eq(mark_read(&stranger, p.room, 1, NULL), 404);
    ck_assert_int_eq(mark_read(&p.b, 900719925474099LL, 1, NULL), 404);
    ck_assert_int_eq(mark_read(&p.b, p.room, 4, &read), 200);
    ck_assert_int_eq(unread_of(&p.b, p.room), 0);
    rh_user_free(&stranger);
    rh_pair_close(&p);
}
END_TEST

/* Unread counts messages, not seqs: a seq reserved by a write that failed
 * (FerretDB paused) and one reserved by a retry that was a duplicate hold
 * no message and are not counted. */
START_TEST(test_conversation_unread_exact_across_gaps)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvgap", rh_port());
    rh_text(&p.ca, p.room, "g-1", "one");
    /* The same message again: ACKed with its first seq; a seq was reserved
     * for the retry before the store said "duplicate". */
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"one\","
             "\"clientMsgId\":\"g-1\"}",
             (long long) p.room);
    cJSON *ack = rh_expect(&p.ca, "ACK");
    ck_assert_int_eq(rh_int(ack, "seq"), 1);
    cJSON_Delete(ack);

    pid_t ferret = testenv_pid("ferretdb");
    ck_assert_int_gt(ferret, 0);
    kill(ferret, SIGSTOP);
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"lost\","
             "\"clientMsgId\":\"g-2\"}",
             (long long) p.room);
    cJSON *err = rh_next(&p.ca, 20000);
    kill(ferret, SIGCONT);
    ck_assert_msg(err && strcmp(rh_str(err, "type"), "ERROR") == 0, "no ERROR while paused");
    cJSON_Delete(err);
    int64_t seq = rh_text(&p.ca, p.room, "g-3", "three");
    ck_assert_int_gt(seq, 2); /* seqs were spent on the duplicate and the failure */

    int64_t seqs[8];
    size_t stored = rh_history_seqs(&p.b, p.room, 0, seqs, 8);
    ck_assert_int_eq(unread_of(&p.b, p.room), (int64_t) stored);
    cJSON *owner;
    const cJSON *e = room_of(&p.b, p.room, &owner);
    ck_assert_int_eq(rh_int(e, "lastSeq"), seq);
    cJSON_Delete(owner);
    ck_assert_int_eq(mark_read(&p.b, p.room, seq, NULL), 200);
    ck_assert_int_eq(unread_of(&p.b, p.room), 0);
    rh_pair_close(&p);
}
END_TEST

/* A write that really failed (FerretDB stopped, so nothing lands later):
 * its seq is counted as a message only until the store has confirmed it
 * holds nothing, which the writer checks once the seq has settled and a
 * later write succeeded. Unread then equals what history holds. */
START_TEST(test_conversation_lost_write_settles)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvlost", rh_port());
    rh_text(&p.ca, p.room, "l-1", "one");
    ck_assert_int_eq(testenv_stack("stop ferretdb"), 0);
    rh_sendf(&p.ca,
             "{\"chatType\":\"TEXT\",\"chatRoomId\":%lld,\"message\":\"lost\","
             "\"clientMsgId\":\"l-2\"}",
             (long long) p.room);
    cJSON *err = rh_next(&p.ca, 20000);
    int started = testenv_stack("start ferretdb");
    ck_assert_msg(err && strcmp(rh_str(err, "type"), "ERROR") == 0, "no ERROR with FerretDB down");
    cJSON_Delete(err);
    ck_assert_int_eq(started, 0);
    /* Later messages succeed; after SEQALLOC_SETTLE_MS (5 s) one of them
     * settles the lost seq. */
    int64_t seqs[64];
    size_t stored = 0;
    int64_t unread = -1;
    for (int i = 0; i < 40; i++) {
        char cmid[16];
        snprintf(cmid, sizeof cmid, "l-%d", i + 3);
        rh_text(&p.ca, p.room, cmid, "later");
        stored = rh_history_seqs(&p.b, p.room, 0, seqs, 64);
        unread = unread_of(&p.b, p.room);
        if (unread == (int64_t) stored)
            break;
        usleep(500 * 1000);
    }
    ck_assert_msg(unread == (int64_t) stored, "unread %lld, history holds %zu", (long long) unread,
                  stored);
    rh_pair_close(&p);
}
END_TEST

/* MariaDB stopped while a pair chats (the relay numbers from memory):
 * once it is back, what was stored meanwhile reaches the room's row with
 * the next batch that reaches MySQL, even a batch of another room: the
 * last message, the sender's watermark, the peer's unread count. */
START_TEST(test_conversation_state_survives_mysql_outage)
{
    struct rh_pair p, q;
    rh_pair_open(&p, "cvmdb", rh_port());
    rh_pair_open(&q, "cvmdbq", rh_port());
    rh_text(&p.ca, p.room, "md-0", "before");
    int stopped = testenv_stack("stop mariadb");
    int64_t seq = 0;
    for (int i = 1; i <= 3; i++) {
        char cmid[16], text[32];
        snprintf(cmid, sizeof cmid, "md-%d", i);
        snprintf(text, sizeof text, "while down %d", i);
        seq = rh_text(&p.ca, p.room, cmid, text);
    }
    int started = testenv_stack("start mariadb");
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(started, 0);

    /* Only the other pair writes now: its batches carry p's outcome once
     * the writer's back-off lets it ask MySQL again. */
    int64_t seqs[16];
    int caught_up = 0;
    for (int i = 0; i < 40 && !caught_up; i++) {
        char cmid[16];
        snprintf(cmid, sizeof cmid, "mq-%d", i);
        rh_text(&q.ca, q.room, cmid, "other room");
        size_t stored = rh_history_seqs(&p.b, p.room, 0, seqs, 16);
        cJSON *owner;
        const cJSON *e = room_of(&p.b, p.room, &owner);
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(e, "lastMessage");
        caught_up = rh_int(e, "lastSeq") == seq && rh_int(e, "unreadCount") == (int64_t) stored &&
                    rh_int(e, "peerLastReadSeq") == seq && cJSON_IsObject(last) &&
                    strcmp(rh_str(last, "preview"), "while down 3") == 0;
        cJSON_Delete(owner);
        if (!caught_up)
            usleep(500 * 1000);
    }
    ck_assert_msg(caught_up, "room %lld's state did not catch up after MariaDB came back",
                  (long long) p.room);
    ck_assert_int_eq(unread_of(&p.a, p.room), 0);
    rh_pair_close(&q);
    rh_pair_close(&p);
}
END_TEST

/* Unread counts live in MySQL, not in a relay: after the stack's relay
 * restarts, the counts and watermarks are what they were, and the
 * reconnected pair goes on from there. */
START_TEST(test_conversation_unread_survives_relay_restart)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvrst", rh_port());
    send_numbered(&p, "rs", 3, "before the restart");
    ck_assert_int_eq(mark_read(&p.b, p.room, 1, NULL), 200);
    ck_assert_int_eq(unread_of(&p.b, p.room), 2);
    ws_close(&p.ca);
    ws_close(&p.cb);
    ck_assert_int_eq(testenv_stack("restart relay"), 0);
    ck_assert_int_eq(unread_of(&p.b, p.room), 2);
    rh_connect(&p.ca, &p.a);
    rh_enter(&p.ca, p.room, -1);
    rh_text(&p.ca, p.room, "rs-4", "after the restart");
    ck_assert_int_eq(unread_of(&p.b, p.room), 3);
    ck_assert_int_eq(unread_of(&p.a, p.room), 0);
    rh_connect(&p.cb, &p.b);
    rh_enter(&p.cb, p.room, -1);
    rh_sendf(&p.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":4}", (long long) p.room);
    cJSON_Delete(rh_expect(&p.ca, "READ"));
    ck_assert_int_eq(unread_of(&p.b, p.room), 0);
    rh_pair_close(&p);
}
END_TEST

/* Newest activity first: a message moves its room to the top; paging with
 * the cursor visits every room once. */
START_TEST(test_conversation_rooms_by_activity)
{
    enum { N = 4 };
    struct rh_user me, peer[N];
    rh_user_new(&me, "cvorder");
    int64_t room[N];
    for (int i = 0; i < N; i++) {
        rh_user_new(&peer[i], "cvorderp");
        room[i] = rh_room(&me, &peer[i]);
    }
    /* A message in the oldest room makes it the most recent. */
    struct ws_client c;
    rh_connect(&c, &me);
    rh_enter(&c, room[0], -1);
    rh_text(&c, room[0], "o-1", "bump");
    ws_close(&c);

    int64_t want[N] = {room[0], room[3], room[2], room[1]}, got[N + 1];
    int n = 0;
    char path[160] = "/api/v1/rooms?limit=1";
    for (int page = 0; page < N + 2; page++) {
        struct http_resp r;
        api_get(path, me.jwt, &r);
        ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r.json, "rooms"))
        {
            ck_assert_int_lt(n, N);
            got[n++] = rh_int(e, "id");
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "nextCursor");
        int more = cJSON_IsString(next);
        if (more)
            snprintf(path, sizeof path, "/api/v1/rooms?limit=1&cursor=%s", next->valuestring);
        http_resp_free(&r);
        if (!more)
            break;
    }
    ck_assert_int_eq(n, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(got[i], want[i]);
    rh_user_free(&me);
    for (int i = 0; i < N; i++)
        rh_user_free(&peer[i]);
}
END_TEST

/* The preview is the first 80 characters, cut between characters. */
START_TEST(test_conversation_preview_is_short)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvprev", rh_port());
    char text[301];
    for (int i = 0; i < 100; i++)
        memcpy(text + 3 * i, "\xea\xb0\x80", 3); /* U+AC00, three bytes */
    text[300] = '\0';
    rh_text(&p.ca, p.room, "p-1", text);
    cJSON *owner;
    const cJSON *last =
        cJSON_GetObjectItemCaseSensitive(room_of(&p.b, p.room, &owner), "lastMessage");
    ck_assert_uint_eq(strlen(rh_str(last, "preview")), 80 * 3);
    ck_assert(strncmp(rh_str(last, "preview"), text, 80 * 3) == 0);
    cJSON_Delete(owner);
    rh_pair_close(&p);
}
END_TEST

/* READ over the socket: saved forward only, told to every connection in
 * the room (the reader's too) when it moved, refused past the last message
 * and for a non-member. */
START_TEST(test_conversation_read_frame)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvrframe", rh_port());
    rh_text(&p.ca, p.room, "rf-1", "one");
    int64_t last = rh_text(&p.ca, p.room, "rf-2", "two");
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));
    cJSON_Delete(rh_expect(&p.cb, "MESSAGE"));

    rh_sendf(&p.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":%lld}", (long long) p.room,
             (long long) last);
    for (int k = 0; k < 2; k++) {
        cJSON *r = rh_expect(k ? &p.cb : &p.ca, "READ");
        ck_assert_int_eq(rh_int(r, "chatRoomId"), p.room);
        ck_assert_int_eq(rh_int(r, "userId"), p.b.id);
        ck_assert_int_eq(rh_int(r, "seq"), last);
        cJSON_Delete(r);
    }
    /* Back: nothing moves, nobody is told. */
    rh_sendf(&p.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":1}", (long long) p.room);
    rh_no_frame(&p.ca, 300);
    rh_no_frame(&p.cb, 1);
    rh_sendf(&p.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":%lld}", (long long) p.room,
             (long long) last + 5);
    cJSON_Delete(rh_expect_error(&p.cb, "seq_out_of_range"));
    rh_sendf(&p.cb, "{\"chatType\":\"READ\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON_Delete(rh_expect_error(&p.cb, "bad_request"));
    ck_assert_int_eq(unread_of(&p.b, p.room), 0);
    cJSON *owner;
    ck_assert_int_eq(rh_int(room_of(&p.a, p.room, &owner), "peerLastReadSeq"), last);
    cJSON_Delete(owner);

    struct rh_user stranger;
    struct ws_client cs;
    rh_user_new(&stranger, "cvrstranger");
    rh_connect(&cs, &stranger);
    rh_sendf(&cs, "{\"chatType\":\"READ\",\"chatRoomId\":%lld,\"seq\":1}", (long long) p.room);
    cJSON_Delete(rh_expect_error(&cs, "not_member"));
    rh_sendf(&cs, "{\"chatType\":\"TYPING\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON_Delete(rh_expect_error(&cs, "not_member"));
    rh_no_frame(&p.ca, 300);
    ws_close(&cs);
    rh_user_free(&stranger);
    rh_pair_close(&p);
}
END_TEST

/* TYPING reaches the other member (not the typist), with its lifetime; it
 * is never stored, and a flood is cut off with rate_limited. */
START_TEST(test_conversation_typing_frame)
{
    struct rh_pair p;
    rh_pair_open(&p, "cvtype", rh_port());
    rh_sendf(&p.cb, "{\"chatType\":\"TYPING\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON *t = rh_expect(&p.ca, "TYPING");
    ck_assert_int_eq(rh_int(t, "chatRoomId"), p.room);
    ck_assert_int_eq(rh_int(t, "userId"), p.b.id);
    ck_assert_int_gt(rh_int(t, "expiresInMs"), 0);
    cJSON_Delete(t);
    rh_no_frame(&p.cb, 200);
    int64_t seqs[4];
    ck_assert_int_eq((int) rh_history_seqs(&p.a, p.room, 0, seqs, 4), 0);

    int limited = 0, relayed = 0;
    for (int i = 0; i < 60; i++)
        rh_sendf(&p.cb, "{\"chatType\":\"TYPING\",\"chatRoomId\":%lld}", (long long) p.room);
    cJSON *j;
    while ((j = rh_next(&p.cb, 500)) != NULL) {
        limited += strcmp(rh_str(j, "type"), "ERROR") == 0 &&
                   strcmp(rh_str(j, "code"), "rate_limited") == 0;
        cJSON_Delete(j);
    }
    while ((j = rh_next(&p.ca, 300)) != NULL) {
        relayed += strcmp(rh_str(j, "type"), "TYPING") == 0;
        cJSON_Delete(j);
    }
    ck_assert_int_gt(limited, 0);
    ck_assert_int_eq(relayed + limited, 60);
    rh_pair_close(&p);
}
END_TEST

/* A room the peer opens while it is still empty, then a message in it,
 * reach the receiver's connection that has not ENTERed it as ROOM frames
 * (the room, its seq, a preview), so its room list is live; once ENTERed
 * it gets the MESSAGE instead. */
START_TEST(test_conversation_room_notice)
{
    struct rh_user a, b;
    rh_user_new(&a, "cvnota");
    rh_user_new(&b, "cvnotb");
    int64_t room = rh_room(&a, &b);
    struct ws_client ca, cb;
    rh_connect(&ca, &a);
    rh_connect(&cb, &b);
    rh_enter(&ca, room, -1);
    /* A opened the new, empty room: B hears of it before any message. */
    cJSON *n = rh_expect(&cb, "ROOM");
    ck_assert_int_eq(rh_int(n, "chatRoomId"), room);
    ck_assert_int_eq(rh_int(n, "lastSeq"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(n, "lastMessage")));
    cJSON_Delete(n);
    int64_t seq = rh_text(&ca, room, "n-1", "knock knock");
    n = rh_expect(&cb, "ROOM");
    ck_assert_int_eq(rh_int(n, "chatRoomId"), room);
    ck_assert_int_eq(rh_int(n, "lastSeq"), seq);
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(n, "lastMessage");
    ck_assert_str_eq(rh_str(last, "preview"), "knock knock");
    ck_assert_int_eq(rh_int(last, "senderId"), a.id);
    cJSON_Delete(n);
    rh_no_frame(&ca, 200); /* the sender is not told of its own message */

    rh_enter(&cb, room, -1);
    rh_text(&ca, room, "n-2", "who is there");
    cJSON_Delete(rh_expect(&cb, "MESSAGE"));
    rh_no_frame(&cb, 300);
    ws_close(&ca);
    ws_close(&cb);
    rh_user_free(&a);
    rh_user_free(&b);
}
END_TEST

/* expect_presence: the next PRESENCE on c is of user_id with this state. */
static cJSON *expect_presence(struct ws_client *c, int64_t user_id, int online)
{
    cJSON *f = rh_expect(c, "PRESENCE");
    ck_assert_int_eq(rh_int(f, "userId"), user_id);
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(f, "online");
    ck_assert_msg(cJSON_IsBool(on) && cJSON_IsTrue(on) == online, "online is not %d", online);
    return f;
}

/* no_presence: no PRESENCE comes on c within ms (other frames are read
 * and dropped). */
static void no_presence(struct ws_client *c, int ms)
{
    struct ws_frame f;
    while (ws_recv_frame(c, ms, &f) == 0) {
        int bad = f.opcode == WS_OP_TEXT && strstr((const char *) f.payload, "\"PRESENCE\"");
        ck_assert_msg(!bad, "unexpected %s", (const char *) f.payload);
        ws_frame_free(&f);
    }
}

/* Presence on one relay: A learns B's state when it enters their room,
 * then each change; B is offline only when its last connection closes,
 * and then with the time it was last seen. */
START_TEST(test_conversation_presence)
{
    struct rh_user a, b;
    rh_user_new(&a, "cvprsa");
    rh_user_new(&b, "cvprsb");
    int64_t room = rh_room(&a, &b);
    struct ws_client ca, cb1, cb2;
    rh_connect(&ca, &a);
    rh_enter(&ca, room, -1);
    cJSON *f = expect_presence(&ca, b.id, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(f, "lastSeenAt")));
    cJSON_Delete(f);

    rh_connect(&cb1, &b);
    cJSON_Delete(expect_presence(&ca, b.id, 1));
    rh_connect(&cb2, &b); /* a second device: no change */
    no_presence(&ca, 300);
    ws_close(&cb1); /* one of two: still online */
    no_presence(&ca, 500);
    ws_close(&cb2);
    f = expect_presence(&ca, b.id, 0);
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(f, "lastSeenAt")));
    cJSON_Delete(f);

    /* B comes back and enters: it learns that A is online. */
    rh_connect(&cb1, &b);
    cJSON_Delete(expect_presence(&ca, b.id, 1));
    rh_enter(&cb1, room, -1);
    cJSON_Delete(expect_presence(&cb1, a.id, 1));
    ws_close(&ca);
    cJSON_Delete(expect_presence(&cb1, a.id, 0));
    ws_close(&cb1);
    rh_user_free(&a);
    rh_user_free(&b);
}
END_TEST

static void resume_ferretdb(void)
{
    pid_t f = testenv_pid("ferretdb");
    if (f > 0)
        kill(f, SIGCONT);
}

Suite *conversation_suite(void)
{
    Suite *s = suite_create("conversation");
    TCase *tc = tcase_create("room state");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, NULL, resume_ferretdb);
    tcase_add_test(tc, test_conversation_room_list_state);
    tcase_add_test(tc, test_conversation_read_rules);
    tcase_add_test(tc, test_conversation_unread_exact_across_gaps);
    tcase_add_test(tc, test_conversation_lost_write_settles);
    tcase_add_test(tc, test_conversation_state_survives_mysql_outage);
    tcase_add_test(tc, test_conversation_unread_survives_relay_restart);
    tcase_add_test(tc, test_conversation_rooms_by_activity);
    tcase_add_test(tc, test_conversation_preview_is_short);
    tcase_add_test(tc, test_conversation_read_frame);
    tcase_add_test(tc, test_conversation_typing_frame);
    tcase_add_test(tc, test_conversation_room_notice);
    tcase_add_test(tc, test_conversation_presence);
    suite_add_tcase(s, tc);
    return s;
}
