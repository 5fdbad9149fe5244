/*
 * fanout.c - delivery, ENTER lookups and replays, gaps and resync (see
 * fanout.h).
 *
 * Nothing is delivered before the writer hears that MongoDB stored it
 * (stored before seen): fanout_stored is called from the write batch's
 * completion only. Delivery builds the MESSAGE frame once per message and
 * hands it to every other subscription of the room through its replay
 * state, which holds frames while a `since` replay is still running.
 */
#include "fanout.h"

#include "errors.h"
#include "ev.h"
#include "i64map.h"
#include "lastseq.h"
#include "log.h"
#include "metrics.h"
#include "msgstore.h"
#include "proto.h"
#include "redis_bus.h"
#include "replay.h"
#include "room_seq.h"
#include "roommap.h"
#include "timefmt.h"
#include "transport.h"
#include "workq.h"

#include <stdlib.h>
#include <string.h>

#define GAP_WAIT_MS  200  /* how long a gap may stay open before MongoDB is asked */
#define GAP_AGAIN_MS 500  /* between further looks while it stays open */
#define GAP_RETRY_MS 1000 /* after a failed gap fetch */
/* A gap older than this is no write in flight (a batch that cannot reach
 * MongoDB gives up sooner): the missing seq failed and is skipped. */
#define GAP_SKIP_MS 3000

struct fanout {
    const struct config *cfg;
    struct ev_loop *loop;
    struct transport *t;
    struct workq *sqlq, *mongoq;
    struct metrics *metrics;
    struct lastseq *lastseq;
    struct redis_bus *bus;
    const struct fanout_source *src;
    fanout_empty_fn *on_empty;
    void *on_empty_arg;
    void *src_arg;         /* store_arg of src */
    struct roommap rooms;  /* room id -> struct sub * */
    struct i64map members; /* conn id -> struct fanout_member * */
    uint64_t next_epoch;
    uint64_t gap_fetches;
};

/* sub: one room ENTERed by one connection; member of the room map. */
struct sub {
    struct fanout *fo;
    struct fanout_member *fm;
    int64_t room_id;
    uint64_t epoch;  /* bumped by each (re)ENTER; stale job results are ignored */
    int since_given; /* ENTER carried `since` */
    struct replay replay;
    int64_t gap_timer;        /* ev timer id while a seq gap is waited on (scale-out), else 0 */
    int refetch;              /* fetch once more when the running lookup ends (scale-out) */
    int64_t gap_since_ms;     /* monotonic: since when a seq gap is open, 0 when none */
    int enter_busy;           /* an ENTER lookup of this room is on a worker */
    uint64_t enter_job_epoch; /* the epoch that lookup answers */
    int64_t enter_since;      /* `since` of the newest ENTER (when since_given) */
};

static int sql_last_seq(void *sql_ctx, int64_t room_id, int64_t *last)
{
    return sql_ctx ? room_seq_last(sql_ctx, room_id, last) : ERR_UNAVAILABLE;
}

static int store_last_seq(void *store, int64_t room_id, int64_t *last)
{
    return msgstore_last_seq(store, room_id, last);
}

static int store_page(void *store, int64_t room_id, int64_t after, size_t limit,
                      struct chat_message **msgs, size_t *n, int *more)
{
    return msgstore_page(store, room_id, 0, after, (int) limit, msgs, n, more);
}

static const struct fanout_source default_source = {sql_last_seq, store_last_seq, store_page};

struct lookup_job {
    struct job base;
    struct fanout *fo; /* the thread reads only src and src_arg */
    uint64_t conn_id;
    int64_t room_id;
    uint64_t epoch;
    int want_last; /* the ENTER lookup: the room's last seq first (MySQL) */
    int64_t after; /* replay page after this seq; -1: none */
    int64_t last_seq;
    struct chat_message *msgs;
    size_t n;
    int more;
    int rc;
};

struct fanout *fanout_new(const struct config *cfg, struct ev_loop *loop, struct transport *t,
                          struct workq *sqlq, struct workq *mongoq, struct msgstore *store,
                          struct metrics *metrics, struct lastseq *lastseq, struct redis_bus *bus)
{
    struct fanout *fo = calloc(1, sizeof *fo);
    if (!fo)
        return NULL;
    *fo = (struct fanout){.cfg = cfg,
                          .loop = loop,
                          .t = t,
                          .sqlq = sqlq,
                          .mongoq = mongoq,
                          .metrics = metrics,
                          .lastseq = lastseq,
                          .bus = bus,
                          .src = &default_source,
                          .src_arg = store};
    roommap_init(&fo->rooms);
    i64map_init(&fo->members);
    return fo;
}

void fanout_set_source(struct fanout *fo, const struct fanout_source *src, void *store_arg)
{
    fo->src = src;
    fo->src_arg = store_arg;
}

void fanout_set_on_empty(struct fanout *fo, fanout_empty_fn *on_empty, void *arg)
{
    fo->on_empty = on_empty;
    fo->on_empty_arg = arg;
}

void fanout_free(struct fanout *fo)
{
    if (!fo)
        return;
    roommap_deinit(&fo->rooms);
    i64map_deinit(&fo->members);
    free(fo);
}

size_t fanout_rooms(const struct fanout *fo)
{
    return roommap_count(&fo->rooms);
}

uint64_t fanout_gap_fetches(const struct fanout *fo)
{
    return fo->gap_fetches;
}

/* refuse: an ERROR about room_id to c, counted as the store's refusal. */
static void refuse(struct fanout *fo, struct conn *c, const char *message, int64_t room_id)
{
    metrics_refuse(fo->metrics, REFUSE_STORE_UNAVAILABLE);
    transport_send_owned(c, proto_error_frame("unavailable", message, NULL, room_id));
}

/* ------------------------------------------------------ rooms of a conn */

/* member_find: the member of a live connection, or NULL. */
static struct fanout_member *member_find(struct fanout *fo, uint64_t conn_id)
{
    struct fanout_member *fm = i64map_get(&fo->members, (int64_t) conn_id);
    return fm && !fm->conn->dead ? fm : NULL;
}

static struct sub *find_sub(const struct fanout_member *fm, int64_t room_id)
{
    for (size_t i = 0; i < fm->nsubs; i++)
        if (fm->subs[i]->room_id == room_id)
            return fm->subs[i];
    return NULL;
}

int fanout_entered(const struct fanout_member *fm, int64_t room_id)
{
    return find_sub(fm, room_id) != NULL;
}

static void remove_sub(struct sub *s)
{
    struct fanout *fo = s->fo;
    struct fanout_member *fm = s->fm;
    roommap_remove(&fo->rooms, s->room_id, s);
    if (fo->bus && !roommap_get(&fo->rooms, s->room_id))
        redis_bus_unwant(fo->bus, s->room_id); /* the room's last local member left */
    if (s->gap_timer > 0)
        ev_timer_del(fo->loop, s->gap_timer);
    for (size_t i = 0; i < fm->nsubs; i++) {
        if (fm->subs[i] == s) {
            fm->subs[i] = fm->subs[--fm->nsubs];
            break;
        }
    }
    replay_deinit(&s->replay);
    free(s);
}

static struct sub *add_sub(struct fanout *fo, struct fanout_member *fm, int64_t room_id)
{
    if (!fm->subs &&
        !(fm->subs = calloc((size_t) fo->cfg->max_rooms_per_conn, sizeof(struct sub *))))
        return NULL;
    struct sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fo = fo;
    s->fm = fm;
    s->room_id = room_id;
    replay_init(&s->replay, FANOUT_REPLAY_MAX_HELD);
    /* Several writers per room: order must be restored per subscription. */
    replay_set_contiguous(&s->replay, fo->bus != NULL);
    if (roommap_add(&fo->rooms, room_id, s) != 0) {
        free(s);
        return NULL;
    }
    if (fo->bus && roommap_get(&fo->rooms, room_id)->n == 1 &&
        redis_bus_want(fo->bus, room_id) != 0) {
        roommap_remove(&fo->rooms, room_id, s);
        free(s);
        return NULL;
    }
    fm->subs[fm->nsubs++] = s;
    return s;
}

int fanout_join(struct fanout *fo, struct fanout_member *fm, struct conn *c)
{
    fm->conn = c;
    return i64map_put(&fo->members, (int64_t) c->id, fm);
}

void fanout_part(struct fanout *fo, struct fanout_member *fm)
{
    while (fm->nsubs > 0)
        remove_sub(fm->subs[fm->nsubs - 1]);
    free(fm->subs);
    fm->subs = NULL;
    if (fm->conn && i64map_get(&fo->members, (int64_t) fm->conn->id) == fm)
        i64map_del(&fo->members, (int64_t) fm->conn->id);
    /* Lookups still queued for it would only delay everyone else's. */
    if (fm->conn)
        fo->metrics->jobs_dropped +=
            workq_drop_owner(fo->sqlq, fm->conn->id) + workq_drop_owner(fo->mongoq, fm->conn->id);
}

void fanout_leave(struct fanout *fo, struct fanout_member *fm, int64_t room_id)
{
    struct sub *s = find_sub(fm, room_id);
    (void) fo;
    if (s)
        remove_sub(s);
}

/* ------------------------------------------------------- ENTER / replay */

/* last_run (sql worker): the room's newest stored seq, O(1) in MySQL. */
static void last_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    l->rc = l->fo->src->last_seq(ctx, l->room_id, &l->last_seq);
}

/* page_run (mongo worker): a replay page after l->after. */
static void page_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    (void) ctx;
    l->rc = l->fo->src->page(l->fo->src_arg, l->room_id, l->after, FANOUT_REPLAY_PAGE, &l->msgs,
                             &l->n, &l->more);
    /* A complete page ends with the newest stored message, which may be
     * newer than the last_seq MySQL had when asked. */
    if (l->rc == 0 && l->want_last && l->n > 0 && !l->more && l->msgs[l->n - 1].seq > l->last_seq)
        l->last_seq = l->msgs[l->n - 1].seq;
}

/* store_last_run (mongo worker): the newest stored seq asked of the store
 * itself (MySQL is down), then the replay page when `since` was given. */
static void store_last_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    l->rc = l->fo->src->store_last_seq(l->fo->src_arg, l->room_id, &l->last_seq);
    if (l->rc == 0 && l->after >= 0)
        page_run(j, ctx);
}

static void lookup_done(struct job *j, int status);
static void gap_watch(struct sub *s);
static void gap_watch_after(struct sub *s, int64_t ms);

static void submit_lookup(struct sub *s, int want_last, int64_t after)
{
    struct fanout *fo = s->fo;
    struct lookup_job *l = calloc(1, sizeof *l);
    if (!l) {
        transport_send_owned(s->fm->conn,
                             proto_error_frame("unavailable", "out of memory", NULL, s->room_id));
        remove_sub(s);
        return;
    }
    l->base.run = page_run;
    l->base.done = lookup_done;
    l->fo = fo;
    l->conn_id = s->fm->conn->id;
    l->base.owner = s->fm->conn->id;
    l->room_id = s->room_id;
    l->epoch = s->epoch;
    l->want_last = want_last;
    l->after = after;
    if (want_last) {
        /* ENTER: MySQL first (never behind replay pages), the page after. */
        s->enter_busy = 1;
        s->enter_job_epoch = s->epoch;
        fo->metrics->enter_lookups++;
        l->base.run = last_run;
        workq_submit(fo->sqlq, &l->base);
        return;
    }
    workq_submit(fo->mongoq, &l->base);
}

static void send_held(void *arg, const char *frame, size_t len)
{
    struct sub *s = arg;
    s->fo->metrics->messages_out++;
    transport_send(s->fm->conn, frame, len);
}

/* enter_answer: the ENTER lookup's last seq is known (or not): answer
 * ENTERED, or refuse and drop the subscription (then 1). */
static int enter_answer(struct fanout *fo, struct sub *s, const struct lookup_job *l)
{
    struct conn *c = s->fm->conn;
    s->enter_busy = 0; /* this ENTER's lookup ends here */
    if (l->rc) {
        refuse(fo, c, "message store unavailable, retry later", l->room_id);
        remove_sub(s);
        return 1;
    }
    lastseq_note(fo->lastseq, l->room_id, l->last_seq);
    transport_send_owned(c, proto_entered(l->room_id, l->last_seq));
    if (l->last_seq == 0 && fo->on_empty)
        fo->on_empty(fo->on_empty_arg, c, l->room_id);
    if (!s->since_given)
        replay_set_cursor(&s->replay, l->last_seq);
    return 0;
}

/* last_fallback: after MySQL's answer to an ENTER: what this relay saw
 * stored may be newer, MySQL may be away (ask the store), and a `since`
 * wants its page. 1 when l went back to a worker. */
static int last_fallback(struct fanout *fo, struct lookup_job *l)
{
    int64_t seen;
    if (lastseq_get(fo->lastseq, l->room_id, &seen) == 0 && (l->rc || seen > l->last_seq)) {
        /* What this relay delivered is stored; MySQL may lag behind it
         * (the writer was in its memory fallback) or be unreachable. */
        l->last_seq = seen;
        l->rc = 0;
    } else if (l->rc == ERR_UNAVAILABLE) {
        /* MySQL is unreachable: ask the store itself (a room-sized
         * query, only while MySQL is down). */
        l->base.run = store_last_run;
        workq_submit(fo->mongoq, &l->base);
        return 1;
    }
    if (l->rc == 0 && l->after >= 0) {
        /* `since`: now the page, on the MongoDB workers. */
        l->base.run = page_run;
        workq_submit(fo->mongoq, &l->base);
        return 1;
    }
    return 0;
}

static void lookup_done(struct job *j, int status)
{
    struct lookup_job *l = (struct lookup_job *) j;
    struct fanout *fo = l->fo;
    struct fanout_member *fm = status == WORKQ_OK ? member_find(fo, l->conn_id) : NULL;
    struct sub *s = fm ? find_sub(fm, l->room_id) : NULL;
    struct conn *c = fm ? fm->conn : NULL;

    if (s && l->want_last && s->enter_busy && s->enter_job_epoch == l->epoch) {
        if (s->epoch != l->epoch && !c->closing) {
            /* ENTERs that came meanwhile were folded into one: run it now. */
            s->enter_busy = 0;
            submit_lookup(s, 1, s->since_given ? s->enter_since : -1);
            goto out;
        }
    }
    if (!s || s->epoch != l->epoch || c->closing)
        goto out; /* the connection left, re-ENTERed or is closing */

    if (l->want_last && l->base.run == last_run && last_fallback(fo, l))
        return; /* on a worker again */
    if (l->want_last) {
        if (enter_answer(fo, s, l))
            goto out;
    } else if (l->rc && s->replay.gap_fetch != REPLAY_GAP_NONE) {
        /* A gap fetch (scale-out) failed: the client asked for nothing, so
         * keep the subscription, keep what is held and try again later. */
        log_warn("gap_fetch_failed", "conn=%llu room=%lld after=%lld err=\"%s\"",
                 (unsigned long long) c->id, (long long) l->room_id, (long long) s->replay.last,
                 err_str(l->rc));
        replay_gap_abort(&s->replay);
        gap_watch_after(s, GAP_RETRY_MS);
        goto out;
    } else if (l->rc) {
        refuse(fo, c, "replay interrupted: message store unavailable, ENTER again with since",
               l->room_id);
        remove_sub(s);
        goto out;
    }

    for (size_t i = 0; i < l->n; i++) {
        if (!replay_take(&s->replay, l->msgs[i].seq))
            continue;
        fo->metrics->messages_out++;
        transport_send_owned(c, proto_message(&l->msgs[i]));
    }
    if (replay_page_end(&s->replay, l->more) == REPLAY_FETCH_MORE) {
        submit_lookup(s, 0, s->replay.last);
    } else if (s->refetch) {
        /* The room's channel went live while this lookup ran: look again
         * for what was stored in between (held frames stay held). */
        s->refetch = 0;
        replay_gap_fetch(&s->replay, REPLAY_GAP_WAIT);
        submit_lookup(s, 0, s->replay.last);
    } else {
        replay_finish(&s->replay, send_held, s);
        gap_watch(s);
    }
    transport_flush_later(c);
out:
    chat_message_array_free(l->msgs, l->n);
    free(l);
}

int fanout_enter(struct fanout *fo, struct fanout_member *fm, int64_t room_id, int64_t since)
{
    struct sub *s = find_sub(fm, room_id);
    if (!s && !(s = add_sub(fo, fm, room_id)))
        return ERR_NOMEM;
    s->epoch = ++fo->next_epoch;
    s->since_given = since >= 0;
    s->enter_since = since;
    /* Live messages are held from here on, so none can fall between the
     * lookup below and the moment delivery goes live. */
    replay_begin(&s->replay, since);
    /* While an ENTER of this room is being looked up, later ENTERs only
     * move the epoch: one lookup follows when it ends, whatever their
     * number, so a client repeating ENTER cannot fill the workers. */
    if (!s->enter_busy)
        submit_lookup(s, 1, since);
    return 0;
}

/* ------------------------------------------------- seq gaps (scale-out) */

static int64_t gap_timer_fired(struct ev_loop *loop, int64_t id, void *data)
{
    struct sub *s = data;
    struct conn *c = s->fm->conn;
    (void) loop;
    (void) id;
    s->gap_timer = 0;
    if (c->dead || c->closing || !replay_gap_pending(&s->replay) || s->replay.last < 0)
        return EV_TIMER_DONE;
    int skip = s->gap_since_ms > 0 && timefmt_mono_ms() - s->gap_since_ms >= GAP_SKIP_MS;
    s->fo->gap_fetches++;
    replay_gap_fetch(&s->replay, skip ? REPLAY_GAP_SKIP : REPLAY_GAP_WAIT);
    submit_lookup(s, 0, s->replay.last); /* may free s */
    return EV_TIMER_DONE;
}

/* gap_watch_after: while a gap is open, look in MongoDB after ms (unless
 * a look is already planned); remember since when it is open. */
static void gap_watch_after(struct sub *s, int64_t ms)
{
    if (!replay_gap_pending(&s->replay)) {
        s->gap_since_ms = 0;
        return;
    }
    int64_t now = timefmt_mono_ms();
    if (s->gap_since_ms == 0)
        s->gap_since_ms = now;
    else if (ms < GAP_AGAIN_MS)
        ms = GAP_AGAIN_MS;
    if (s->gap_timer > 0)
        return;
    int64_t id = ev_timer_add(s->fo->loop, ms, gap_timer_fired, s);
    s->gap_timer = id > 0 ? id : 0;
}

static void gap_watch(struct sub *s)
{
    gap_watch_after(s, GAP_WAIT_MS);
}

/* ------------------------------------------------------------- delivery */

/* deliver_frame: MESSAGE (frame, seq) to every subscription of the room
 * but the sender's connection (NULL: a message from another relay). */
static void deliver_frame(struct fanout *fo, int64_t room_id, int64_t seq, const char *frame,
                          size_t len, const struct conn *sender)
{
    const struct roommap_entry *room = roommap_get(&fo->rooms, room_id);
    if (!room)
        return;
    for (size_t i = 0; i < room->n; i++) {
        struct sub *s = room->members[i];
        struct conn *c = s->fm->conn;
        if (c->dead || c->closing)
            continue;
        if (c == sender) {
            replay_own(&s->replay, seq); /* it got the ACK */
            replay_drain(&s->replay, send_held, s);
            gap_watch(s);
            continue;
        }
        enum replay_verdict v = replay_live(&s->replay, seq, frame, len);
        if (v == REPLAY_SEND) {
            fo->metrics->messages_out++;
            transport_send(c, frame, len);
            replay_drain(&s->replay, send_held, s);
        }
        gap_watch(s);
    }
}

void fanout_stored(struct fanout *fo, const struct chat_message *m, const struct conn *sender)
{
    lastseq_note(fo->lastseq, m->room_id, m->seq);
    char *frame = roommap_get(&fo->rooms, m->room_id) ? proto_message(m) : NULL;
    if (!frame)
        return; /* nobody here, or out of memory: receivers recover it with `since` */
    deliver_frame(fo, m->room_id, m->seq, frame, strlen(frame), sender);
    free(frame);
}

void fanout_event(struct fanout *fo, int64_t room_id, const char *frame, size_t len,
                  const struct conn *except)
{
    const struct roommap_entry *room = roommap_get(&fo->rooms, room_id);
    for (size_t i = 0; room && i < room->n; i++) {
        const struct sub *sub = room->members[i];
        struct conn *c = sub->fm->conn;
        if (c != except && !c->dead && !c->closing)
            transport_send(c, frame, len);
    }
}

void fanout_remote(struct fanout *fo, int64_t room_id, int64_t seq, const char *frame, size_t len)
{
    lastseq_note(fo->lastseq, room_id, seq);
    deliver_frame(fo, room_id, seq, frame, len, NULL);
}

/* refetch: fetch after the subscription's cursor now, or when its running
 * lookup ends. */
static void refetch(struct sub *s)
{
    struct fanout *fo = s->fo;
    if (s->replay.active) {
        s->refetch = 1;
        return;
    }
    if (s->replay.last < 0)
        return;
    if (s->gap_timer > 0) {
        ev_timer_del(fo->loop, s->gap_timer);
        s->gap_timer = 0;
    }
    fo->gap_fetches++;
    replay_gap_fetch(&s->replay, REPLAY_GAP_WAIT);
    submit_lookup(s, 0, s->replay.last); /* may free s */
}

void fanout_room_subscribed(struct fanout *fo, int64_t room_id)
{
    const struct roommap_entry *room = roommap_get(&fo->rooms, room_id);
    for (size_t i = room ? room->n : 0; i-- > 0;) {
        /* refetch may remove this member (out of memory): walk backwards
         * and re-read the room each time. */
        room = roommap_get(&fo->rooms, room_id);
        if (!room || i >= room->n)
            continue;
        struct sub *s = room->members[i];
        if (!s->fm->conn->dead && !s->fm->conn->closing)
            refetch(s);
    }
}

void fanout_resync(struct fanout *fo)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    /* refetch removes subscriptions at most, never members. */
    while (i64map_next(&fo->members, &pos, &key, &val)) {
        struct fanout_member *fm = val;
        if (!transport_usable(fm->conn))
            continue;
        for (size_t i = fm->nsubs; i-- > 0;)
            if (i < fm->nsubs)
                refetch(fm->subs[i]);
    }
}
