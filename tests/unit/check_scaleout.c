/*
 * check_scaleout.c - the pure parts of the Redis scale-out: restoring one
 * order per subscription when two relays write a room (replay.c in
 * contiguous mode: hold past a gap, drain when it fills, a gap fetch that
 * skips seqs the store does not have, the connection's own messages), the
 * redis_url parser and the published payload format, the ROOM notice
 * read without a JSON parse, and the outbox that groups frames for the
 * writer's Redis connection.
 */
#include "errors.h"
#include "proto.h"
#include "redis_bus.h"
#include "redis_outbox.h"
#include "replay.h"
#include "workq.h"

#include <check.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sent {
    int64_t seqs[64];
    size_t n;
};

static void on_send(void *arg, const char *frame, size_t len)
{
    struct sent *s = arg;
    ck_assert_uint_eq(len, strlen(frame));
    ck_assert_uint_lt(s->n, 64);
    s->seqs[s->n++] = strtoll(frame + 1, NULL, 10);
}

/* live: a live message seq; sent (and then drained) like session.c does. */
static void live(struct replay *rp, struct sent *s, int64_t seq)
{
    char frame[32];
    snprintf(frame, sizeof frame, "m%lld", (long long) seq);
    if (replay_live(rp, seq, frame, strlen(frame)) == REPLAY_SEND) {
        on_send(s, frame, strlen(frame));
        replay_drain(rp, on_send, s);
    }
}

static void assert_sent(const struct sent *s, const int64_t *want, size_t n)
{
    ck_assert_msg(s->n == n, "expected %zu frames sent, got %zu", n, s->n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(s->seqs[i] == want[i], "frame %zu: expected seq %lld, got %lld", i,
                      (long long) want[i], (long long) s->seqs[i]);
}

/* A live subscription whose cursor is `last`. */
static void live_at(struct replay *rp, int64_t last)
{
    replay_init(rp, 8);
    replay_set_contiguous(rp, 1);
    replay_begin(rp, -1);
    replay_set_cursor(rp, last);
    replay_finish(rp, on_send, NULL);
}

START_TEST(test_scaleout_out_of_order_is_held_until_the_gap_fills)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    live(&rp, &s, 12); /* relay B's 12 overtook relay A's 11 */
    ck_assert_uint_eq(s.n, 0);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    live(&rp, &s, 13);
    live(&rp, &s, 11);
    int64_t want[] = {11, 12, 13};
    assert_sent(&s, want, 3);
    ck_assert_int_eq(replay_gap_pending(&rp), 0);
    live(&rp, &s, 12); /* a late duplicate */
    ck_assert_uint_eq(s.n, 3);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_gap_fetch_fills_and_skips_missing_seqs)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    live(&rp, &s, 13);
    live(&rp, &s, 15);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    /* The gap stayed open: fetch after 10. The store has 12 and 13 (11
     * and 14 were failed writes), and 15 is not visible to the query yet. */
    replay_gap_fetch(&rp, REPLAY_GAP_SKIP);
    live(&rp, &s, 16); /* arrives during the fetch: held */
    ck_assert_uint_eq(s.n, 0);
    int64_t page[] = {12, 13};
    for (size_t i = 0; i < 2; i++)
        if (replay_take(&rp, page[i]))
            s.seqs[s.n++] = page[i];
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    replay_finish(&rp, on_send, &s);
    int64_t want[] = {12, 13, 15, 16};
    assert_sent(&s, want, 4);
    ck_assert_int_eq(replay_gap_pending(&rp), 0);
    live(&rp, &s, 17);
    ck_assert_uint_eq(s.n, 5);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_gap_fetch_waits_for_a_seq_still_in_flight)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    live(&rp, &s, 15);
    /* Young gap: the store has 11, 12 and 14; 13 may still be written. */
    replay_gap_fetch(&rp, REPLAY_GAP_WAIT);
    int64_t page[] = {11, 12, 14};
    for (size_t i = 0; i < 3; i++)
        if (replay_take(&rp, page[i]))
            s.seqs[s.n++] = page[i];
    ck_assert_int_eq(replay_page_end(&rp, 1), REPLAY_CAUGHT_UP); /* no paging past the gap */
    replay_finish(&rp, on_send, &s);
    int64_t want[] = {11, 12};
    assert_sent(&s, want, 2);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    live(&rp, &s, 13); /* the slow write lands */
    live(&rp, &s, 14); /* and its successor, live */
    int64_t want2[] = {11, 12, 13, 14, 15};
    assert_sent(&s, want2, 5);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_own_message_advances_without_sending)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    live(&rp, &s, 12);   /* someone else's, before our own 11 came back */
    replay_own(&rp, 11); /* our ACK: no MESSAGE for it */
    replay_drain(&rp, on_send, &s);
    int64_t want[] = {12};
    assert_sent(&s, want, 1);
    /* Own message past a gap, then a gap fetch that finds it: not sent. */
    replay_own(&rp, 14);
    live(&rp, &s, 15);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    replay_gap_fetch(&rp, REPLAY_GAP_SKIP);
    int64_t page[] = {13, 14, 15};
    for (size_t i = 0; i < 3; i++)
        if (replay_take(&rp, page[i]))
            s.seqs[s.n++] = page[i];
    replay_finish(&rp, on_send, &s);
    int64_t want2[] = {12, 13, 15};
    assert_sent(&s, want2, 3);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_finish_without_confirm_keeps_the_gap)
{
    /* ENTER's lookup said 10; 12 arrived meanwhile but 11 is still being
     * written elsewhere: only a gap fetch may skip 11. */
    struct replay rp;
    struct sent s = {0};
    replay_init(&rp, 8);
    replay_set_contiguous(&rp, 1);
    replay_begin(&rp, -1);
    live(&rp, &s, 12);
    replay_set_cursor(&rp, 10);
    replay_finish(&rp, on_send, &s);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    live(&rp, &s, 11);
    int64_t want[] = {11, 12};
    assert_sent(&s, want, 2);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_overflow_while_gapped_asks_for_a_fetch)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    for (int64_t seq = 12; seq < 12 + 9; seq++) /* 8 may be held */
        live(&rp, &s, seq);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    replay_gap_fetch(&rp, REPLAY_GAP_SKIP);
    ck_assert_int_eq(replay_page_end(&rp, 0), REPLAY_CAUGHT_UP);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_failed_gap_fetch_keeps_what_is_held)
{
    struct replay rp;
    struct sent s = {0};
    live_at(&rp, 10);
    live(&rp, &s, 12);
    replay_gap_fetch(&rp, REPLAY_GAP_SKIP);
    live(&rp, &s, 13);     /* held during the fetch */
    replay_gap_abort(&rp); /* MongoDB did not answer */
    ck_assert_int_eq(replay_gap_pending(&rp), 1);
    ck_assert_uint_eq(s.n, 0);
    live(&rp, &s, 11); /* the gap fills after all */
    int64_t want[] = {11, 12, 13};
    assert_sent(&s, want, 3);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_not_contiguous_keeps_old_behaviour)
{
    struct replay rp;
    struct sent s = {0};
    replay_init(&rp, 8);
    replay_begin(&rp, -1);
    replay_set_cursor(&rp, 10);
    replay_finish(&rp, on_send, &s);
    live(&rp, &s, 12);
    live(&rp, &s, 11);
    int64_t want[] = {12};
    assert_sent(&s, want, 1);
    ck_assert_int_eq(replay_gap_pending(&rp), 0);
    replay_deinit(&rp);
}
END_TEST

START_TEST(test_scaleout_redis_url_parse)
{
    char host[REDIS_HOST_MAX];
    int port = 0;
    ck_assert_int_eq(redis_url_parse("redis://127.0.0.1:6380", host, &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 6380);
    ck_assert_int_eq(redis_url_parse("redis://cache.internal/0", host, &port), 0);
    ck_assert_str_eq(host, "cache.internal");
    ck_assert_int_eq(port, 6379);
    const char *bad[] = {"",
                         "http://x:1",
                         "redis://",
                         "redis://:6379",
                         "redis://h:0",
                         "redis://h:70000",
                         "redis://h:12x",
                         "redis://u:p@h:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(redis_url_parse(bad[i], host, &port) == ERR_INVALID,
                      "expected ERR_INVALID for \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_scaleout_payload_round_trip)
{
    const char *frame = "{\"type\":\"MESSAGE\"}";
    size_t len = 0;
    char *p = redis_payload_format(0x0123456789abcdefULL, 42, frame, strlen(frame), &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "0123456789abcdef:42:{\"type\":\"MESSAGE\"}");
    uint64_t origin;
    int64_t seq;
    const char *f;
    size_t flen;
    ck_assert_int_eq(redis_payload_parse(p, len, &origin, &seq, &f, &flen), 0);
    ck_assert_uint_eq(origin, 0x0123456789abcdefULL);
    ck_assert_int_eq(seq, 42);
    ck_assert_uint_eq(flen, strlen(frame));
    ck_assert_int_eq(memcmp(f, frame, flen), 0);
    free(p);
    /* seq 0: a frame that is no stored message (READ, TYPING). */
    ck_assert_int_eq(redis_payload_parse("0123456789abcdef:0:{}", 21, &origin, &seq, &f, &flen), 0);
    ck_assert_int_eq(seq, 0);
    const char *bad[] = {"",
                         "0123456789abcdef:42:",
                         "0123456789abcdeg:42:{}",
                         "0123456789abcdef:-1:{}",
                         "0123456789abcdef::{}",
                         "0123456789abcdef:4x:{}",
                         "0123456789abcdef:42:[]",
                         "0123456789abcdef;42:{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(redis_payload_parse(bad[i], strlen(bad[i]), &origin, &seq, &f, &flen) ==
                          ERR_INVALID,
                      "expected ERR_INVALID for \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_scaleout_room_notice_read_without_json)
{
    int64_t room = 0;
    /* what proto.c writes: a message notice, large ids too, and an empty room */
    struct chat_message m = {.room_id = 5000000001LL, .seq = 7, .sender_id = 3};
    m.type = CHAT_TEXT;
    char text[] = "hello";
    m.message = text;
    m.created_at_ms = 1700000000000LL;
    char *f = proto_room_notice(&m);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(redis_room_notice_room(f, strlen(f), &room), 0);
    ck_assert_int_eq(room, 5000000001LL);
    free(f);
    f = proto_room_empty(42);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(redis_room_notice_room(f, strlen(f), &room), 0);
    ck_assert_int_eq(room, 42);
    free(f);
    /* anything else is left to the full parse */
    f = proto_presence(9, 1, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(redis_room_notice_room(f, strlen(f), &room), ERR_INVALID);
    free(f);
    const char *other[] = {"{\"type\":\"ROOM\",\"chatRoomId\":",
                           "{\"type\":\"ROOM\",\"chatRoomId\":12",
                           "{\"type\":\"ROOM\",\"chatRoomId\":1e+15,\"lastSeq\":0}",
                           "{\"type\":\"ROOM\",\"chatRoomId\":-4,\"lastSeq\":0}",
                           "{\"type\":\"ROOM\",\"chatRoomId\":,\"lastSeq\":0}",
                           "{\"chatRoomId\":12,\"type\":\"ROOM\"}",
                           "{ \"type\":\"ROOM\",\"chatRoomId\":12}",
                           "{\"type\":\"ROOM\",\"chatRoomId\":99999999999999999999}"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        ck_assert_msg(redis_room_notice_room(other[i], strlen(other[i]), &room) == ERR_INVALID,
                      "expected ERR_INVALID for %s", other[i]);
}
END_TEST

/* What the outbox's jobs published, group by group. */
struct published {
    size_t groups;
    size_t sizes[16];
    char frames[64][32];
    int64_t rooms[64], users[64];
    size_t n;
};

static void on_publish(void *arg, const struct redis_event *ev, size_t n)
{
    struct published *p = arg;
    ck_assert_uint_lt(p->groups, 16);
    p->sizes[p->groups++] = n;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(p->n, 64);
        ck_assert_uint_lt(ev[i].len, 32);
        memcpy(p->frames[p->n], ev[i].frame, ev[i].len);
        p->frames[p->n][ev[i].len] = '\0';
        p->rooms[p->n] = ev[i].room_id;
        p->users[p->n] = ev[i].user_id;
        p->n++;
    }
}

static void push(struct redis_outbox *ob, int64_t room, int64_t user, const char *frame)
{
    ck_assert_int_eq(redis_outbox_push(ob, room, user, frame, strlen(frame)), 0);
}

/* An outbox on a queue without threads: the test runs its jobs. */
struct outbox_fixture {
    int pfd[2];
    struct workq *q;
    struct published p;
    struct redis_outbox *ob;
};

static void outbox_open(struct outbox_fixture *f, size_t max)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(pipe2(f->pfd, O_CLOEXEC | O_NONBLOCK), 0);
    f->q = workq_new(0, NULL, NULL, NULL, f->pfd[1]);
    ck_assert_ptr_nonnull(f->q);
    f->ob = redis_outbox_new(f->q, max, on_publish, &f->p);
    ck_assert_ptr_nonnull(f->ob);
}

/* outbox_close: the queue first (a job still queued is cancelled), then
 * the outbox with what waits behind it (leak-checked by the sanitizer). */
static void outbox_close(struct outbox_fixture *f)
{
    ck_assert_int_eq(workq_free(f->q, 1000), 0);
    redis_outbox_free(f->ob);
    close(f->pfd[0]);
    close(f->pfd[1]);
}

START_TEST(test_scaleout_outbox_groups_frames_behind_the_running_job)
{
    struct outbox_fixture f;
    outbox_open(&f, 8);
    struct workq *q = f.q;
    struct redis_outbox *ob = f.ob;
    const struct published *pub = &f.p;

    /* the first frame goes out at once, alone */
    push(ob, 10, 0, "{\"type\":\"TYPING\"}");
    ck_assert_uint_eq(workq_pending(q), 1);
    /* while its job waits, the next ones gather: still one job queued */
    push(ob, 0, 7, "{\"type\":\"ROOM\"}");
    push(ob, 11, 0, "{\"type\":\"READ\"}");
    push(ob, 0, 8, "{\"type\":\"PRESENCE\"}");
    ck_assert_uint_eq(workq_pending(q), 1);
    ck_assert_uint_eq(redis_outbox_waiting(ob), 4);

    ck_assert_int_eq(workq_run_one(q, NULL), 0);
    ck_assert_uint_eq(pub->groups, 1);
    ck_assert_uint_eq(pub->sizes[0], 1);
    /* its completion sent the three gathered meanwhile, as one job */
    ck_assert_uint_eq(workq_pending(q), 1);
    ck_assert_int_eq(workq_run_one(q, NULL), 0);
    ck_assert_uint_eq(pub->groups, 2);
    ck_assert_uint_eq(pub->sizes[1], 3);
    ck_assert_uint_eq(workq_pending(q), 0);
    ck_assert_uint_eq(redis_outbox_waiting(ob), 0);

    /* every frame intact, in order, with its room or user */
    const char *want[] = {"{\"type\":\"TYPING\"}", "{\"type\":\"ROOM\"}", "{\"type\":\"READ\"}",
                          "{\"type\":\"PRESENCE\"}"};
    const int64_t rooms[] = {10, 0, 11, 0}, users[] = {0, 7, 0, 8};
    ck_assert_uint_eq(pub->n, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(pub->frames[i], want[i]);
        ck_assert_int_eq(pub->rooms[i], rooms[i]);
        ck_assert_int_eq(pub->users[i], users[i]);
    }

    /* idle again: the next frame goes out at once */
    push(ob, 12, 0, "{}");
    ck_assert_uint_eq(workq_pending(q), 1);
    ck_assert_int_eq(workq_run_one(q, NULL), 0);
    ck_assert_uint_eq(pub->groups, 3);
    ck_assert_uint_eq(pub->sizes[2], 1);

    outbox_close(&f);
}
END_TEST

START_TEST(test_scaleout_outbox_drops_past_its_bound_and_when_cancelled)
{
    struct outbox_fixture f;
    outbox_open(&f, 3);
    struct workq *q = f.q;
    struct redis_outbox *ob = f.ob;
    push(ob, 1, 0, "{\"n\":1}");
    push(ob, 1, 0, "{\"n\":2}");
    push(ob, 1, 0, "{\"n\":3}");
    /* three wait (one in the job, two behind it): the fourth is dropped */
    ck_assert_int_eq(redis_outbox_push(ob, 1, 0, "{}", 2), ERR_TOO_LARGE);
    ck_assert_uint_eq(redis_outbox_waiting(ob), 3);
    ck_assert_int_eq(workq_run_one(q, NULL), 0);
    /* room again once the first group is out */
    push(ob, 1, 0, "{\"n\":4}");
    ck_assert_uint_eq(redis_outbox_waiting(ob), 3);
    /* the queue freed with a job queued: cancelled, never published */
    outbox_close(&f);
    ck_assert_uint_eq(f.p.groups, 1);
    ck_assert_uint_eq(f.p.n, 1);
    ck_assert_str_eq(f.p.frames[0], "{\"n\":1}");
}
END_TEST

Suite *scaleout_suite(void)
{
    Suite *s = suite_create("scaleout");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, test_scaleout_out_of_order_is_held_until_the_gap_fills);
    tcase_add_test(tc, test_scaleout_gap_fetch_fills_and_skips_missing_seqs);
    tcase_add_test(tc, test_scaleout_gap_fetch_waits_for_a_seq_still_in_flight);
    tcase_add_test(tc, test_scaleout_own_message_advances_without_sending);
    tcase_add_test(tc, test_scaleout_finish_without_confirm_keeps_the_gap);
    tcase_add_test(tc, test_scaleout_overflow_while_gapped_asks_for_a_fetch);
    tcase_add_test(tc, test_scaleout_failed_gap_fetch_keeps_what_is_held);
    tcase_add_test(tc, test_scaleout_not_contiguous_keeps_old_behaviour);
    suite_add_tcase(s, tc);
    tc = tcase_create("redis");
    tcase_add_test(tc, test_scaleout_redis_url_parse);
    tcase_add_test(tc, test_scaleout_payload_round_trip);
    tcase_add_test(tc, test_scaleout_room_notice_read_without_json);
    tcase_add_test(tc, test_scaleout_outbox_groups_frames_behind_the_running_job);
    tcase_add_test(tc, test_scaleout_outbox_drops_past_its_bound_and_when_cancelled);
    suite_add_tcase(s, tc);
    return s;
}
