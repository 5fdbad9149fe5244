/*
 * session.c - the chat protocol of one open WebSocket (DESIGN.md section 7):
 * ENTER/LEAVE/TEXT/IMAGE in; ENTERED/LEFT/ACK/MESSAGE/ERROR out.
 *
 * Runs on the loop thread only. A connection's commands are handled in
 * the order they arrived: when one needs a membership answer from MySQL,
 * the connection's later commands wait in its inbox until it comes (so a
 * TEXT never overtakes the ENTER before it). Once confirmed, membership is
 * cached for the connection's lifetime, so steady chatting costs no MySQL
 * round trip and keeps working while MySQL is down.
 *
 * Sends become struct outmsg and queue for the writer (relay.c); nothing
 * is ACKed or delivered before session_write_done hears that MongoDB
 * stored it (or already had it: an idempotent retry). Delivery builds the MESSAGE frame once per
 * message and hands it to every other subscription of the room through its replay state, which
 * holds frames while a `since` replay is still running.
 */
#include "relay_int.h"

#include "errors.h"
#include "ev.h"
#include "log.h"
#include "msgstore.h"
#include "redis_bus.h"
#include "room_seq.h"
#include "rooms.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

struct member_job {
    struct job base;
    struct relay *relay;
    uint64_t conn_id;
    const struct cmd_node *cmd; /* identity only: the conn still owns it */
    int64_t room_id, user_id;
    int rc; /* 1 member, 0 not, ERR_* */
};

struct lookup_job {
    struct job base;
    struct relay *relay;
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

static void process_inbox(struct conn *c);

void session_send_error(struct conn *c, const char *code, const char *message,
                        const char *client_msg_id, int64_t room_id)
{
    conn_send_owned(c, proto_error_frame(code, message, client_msg_id, room_id));
}

static void refuse(struct conn *c, enum refusal why, const char *code, const char *message,
                   const char *client_msg_id, int64_t room_id)
{
    metrics_refuse(&c->relay->metrics, why);
    session_send_error(c, code, message, client_msg_id, room_id);
}

static void free_cmd(struct cmd_node *n)
{
    if (!n)
        return;
    proto_cmd_clear(&n->cmd);
    free(n);
}

/* ------------------------------------------------------ rooms of a conn */

static struct sub *find_sub(const struct conn *c, int64_t room_id)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->room_id == room_id)
            return c->subs[i];
    return NULL;
}

static void remove_sub(struct conn *c, struct sub *s)
{
    struct relay *r = c->relay;
    roommap_remove(&r->rooms, s->room_id, s);
    if (r->bus && !roommap_get(&r->rooms, s->room_id))
        redis_bus_unwant(r->bus, s->room_id); /* the room's last local member left */
    if (s->gap_timer > 0)
        ev_timer_del(r->loop, s->gap_timer);
    for (size_t i = 0; i < c->nsubs; i++) {
        if (c->subs[i] == s) {
            c->subs[i] = c->subs[--c->nsubs];
            break;
        }
    }
    replay_deinit(&s->replay);
    free(s);
}

static struct sub *add_sub(struct conn *c, int64_t room_id)
{
    struct relay *r = c->relay;
    if (!c->subs && !(c->subs = calloc((size_t) r->cfg->max_rooms_per_conn, sizeof(struct sub *))))
        return NULL;
    struct sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->conn = c;
    s->room_id = room_id;
    replay_init(&s->replay, RELAY_REPLAY_MAX_HELD);
    /* Several writers per room: order must be restored per subscription. */
    replay_set_contiguous(&s->replay, r->bus != NULL);
    if (roommap_add(&r->rooms, room_id, s) != 0) {
        free(s);
        return NULL;
    }
    if (r->bus && roommap_get(&r->rooms, room_id)->n == 1 && redis_bus_want(r->bus, room_id) != 0) {
        roommap_remove(&r->rooms, room_id, s);
        free(s);
        return NULL;
    }
    c->subs[c->nsubs++] = s;
    return s;
}

static int member_cached(const struct conn *c, int64_t room_id)
{
    for (size_t i = 0; i < c->nmember; i++)
        if (c->member_of[i] == room_id)
            return 1;
    return 0;
}

/* member_note: remember a confirmed membership; the oldest goes when full. */
static void member_note(struct conn *c, int64_t room_id)
{
    size_t cap = (size_t) c->relay->cfg->max_rooms_per_conn + 16;
    if (!c->member_of && !(c->member_of = calloc(cap, sizeof *c->member_of)))
        return;
    if (c->nmember == cap) {
        memmove(c->member_of, c->member_of + 1, (cap - 1) * sizeof *c->member_of);
        c->nmember--;
    }
    c->member_of[c->nmember++] = room_id;
}

/* ------------------------------------------------------- ENTER / replay */

/* last_run (sql worker): the room's newest stored seq, O(1) in MySQL. */
static void last_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    l->rc = ctx ? room_seq_last(ctx, l->room_id, &l->last_seq) : ERR_UNAVAILABLE;
}

/* store_last_run (mongo worker): the newest stored seq asked of the store
 * itself (MySQL is down), then the replay page when `since` was given. */
static void page_run(struct job *j, void *ctx);
static void store_last_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    l->rc = msgstore_last_seq(l->relay->store, l->room_id, &l->last_seq);
    if (l->rc == 0 && l->after >= 0)
        page_run(j, ctx);
}

/* page_run (mongo worker): a replay page after l->after. */
static void page_run(struct job *j, void *ctx)
{
    struct lookup_job *l = (struct lookup_job *) j;
    (void) ctx;
    l->rc = msgstore_page(l->relay->store, l->room_id, 0, l->after, RELAY_REPLAY_PAGE, &l->msgs,
                          &l->n, &l->more);
    /* A complete page ends with the newest stored message, which may be
     * newer than the last_seq MySQL had when asked. */
    if (l->rc == 0 && l->want_last && l->n > 0 && !l->more && l->msgs[l->n - 1].seq > l->last_seq)
        l->last_seq = l->msgs[l->n - 1].seq;
}

static void lookup_done(struct job *j);
#define GAP_WAIT_MS  200  /* how long a gap may stay open before MongoDB is asked */
#define GAP_AGAIN_MS 500  /* between further looks while it stays open */
#define GAP_RETRY_MS 1000 /* after a failed gap fetch */
/* A gap older than this is no write in flight (a batch that cannot reach
 * MongoDB gives up sooner): the missing seq failed and is skipped. */
#define GAP_SKIP_MS 3000

static void gap_watch(struct sub *s);
static void gap_watch_after(struct sub *s, int64_t ms);

static void submit_lookup(struct conn *c, struct sub *s, int want_last, int64_t after)
{
    struct relay *r = c->relay;
    struct lookup_job *l = calloc(1, sizeof *l);
    if (!l) {
        session_send_error(c, "unavailable", "out of memory", NULL, s->room_id);
        remove_sub(c, s);
        return;
    }
    l->base.run = page_run;
    l->base.done = lookup_done;
    l->relay = r;
    l->conn_id = c->id;
    l->room_id = s->room_id;
    l->epoch = s->epoch;
    l->want_last = want_last;
    l->after = after;
    if (want_last) {
        /* ENTER: MySQL first (never behind replay pages), the page after. */
        s->enter_busy = 1;
        s->enter_job_epoch = s->epoch;
        r->metrics.enter_lookups++;
        l->base.run = last_run;
        workq_submit(r->sqlq, &l->base);
        return;
    }
    workq_submit(r->mongoq, &l->base);
}

static void send_held(void *arg, const char *frame, size_t len)
{
    struct conn *c = arg;
    c->relay->metrics.messages_out++;
    conn_send_frame(c, frame, len);
}

static void lookup_done(struct job *j)
{
    struct lookup_job *l = (struct lookup_job *) j;
    struct relay *r = l->relay;
    struct conn *c = j->cancelled ? NULL : relay_conn(r, l->conn_id);
    struct sub *s = c ? find_sub(c, l->room_id) : NULL;

    if (s && l->want_last && s->enter_busy && s->enter_job_epoch == l->epoch) {
        if (s->epoch != l->epoch && !c->closing) {
            /* ENTERs that came meanwhile were folded into one: run it now. */
            s->enter_busy = 0;
            submit_lookup(c, s, 1, s->since_given ? s->enter_since : -1);
            goto out;
        }
    }
    if (!s || s->epoch != l->epoch || c->closing)
        goto out; /* the connection left, re-ENTERed or is closing */

    if (l->want_last && l->base.run == last_run) {
        int64_t seen;
        if (relay_lastseq_get(r, l->room_id, &seen) == 0 && (l->rc || seen > l->last_seq)) {
            /* What this relay delivered is stored; MySQL may lag behind it
             * (the writer was in its memory fallback) or be unreachable. */
            l->last_seq = seen;
            l->rc = 0;
        } else if (l->rc == ERR_UNAVAILABLE) {
            /* MySQL is unreachable: ask the store itself (a room-sized
             * query, only while MySQL is down). */
            l->base.run = store_last_run;
            workq_submit(r->mongoq, &l->base);
            return;
        }
        if (l->rc == 0 && l->after >= 0) {
            /* `since`: now the page, on the MongoDB workers. */
            l->base.run = page_run;
            workq_submit(r->mongoq, &l->base);
            return;
        }
    }
    if (l->want_last) {
        s->enter_busy = 0; /* this ENTER's lookup ends here */
        if (l->rc) {
            refuse(c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                   "message store unavailable, retry later", NULL, l->room_id);
            remove_sub(c, s);
            goto out;
        }
        relay_lastseq_note(r, l->room_id, l->last_seq);
        conn_send_owned(c, proto_entered(l->room_id, l->last_seq));
        if (!s->since_given)
            replay_set_cursor(&s->replay, l->last_seq);
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
        refuse(c, REFUSE_STORE_UNAVAILABLE, "unavailable",
               "replay interrupted: message store unavailable, ENTER again with since", NULL,
               l->room_id);
        remove_sub(c, s);
        goto out;
    }

    for (size_t i = 0; i < l->n; i++) {
        if (!replay_take(&s->replay, l->msgs[i].seq))
            continue;
        r->metrics.messages_out++;
        conn_send_owned(c, proto_message(&l->msgs[i]));
    }
    if (replay_page_end(&s->replay, l->more) == REPLAY_FETCH_MORE) {
        submit_lookup(c, s, 0, s->replay.last);
    } else if (s->refetch) {
        /* The room's channel went live while this lookup ran: look again
         * for what was stored in between (held frames stay held). */
        s->refetch = 0;
        replay_gap_fetch(&s->replay, REPLAY_GAP_WAIT);
        submit_lookup(c, s, 0, s->replay.last);
    } else {
        replay_finish(&s->replay, send_held, c);
        gap_watch(s);
    }
    conn_flush_later(c);
out:
    chat_message_array_free(l->msgs, l->n);
    free(l);
}

/* enter_start: membership is confirmed: (re)subscribe and look up. */
static void enter_start(struct conn *c, struct cmd_node *n)
{
    struct relay *r = c->relay;
    struct sub *s = find_sub(c, n->cmd.room_id);
    if (!s && !(s = add_sub(c, n->cmd.room_id))) {
        session_send_error(c, "unavailable", "out of memory", NULL, n->cmd.room_id);
        free_cmd(n);
        return;
    }
    s->epoch = ++r->next_epoch;
    s->since_given = n->cmd.since >= 0;
    s->enter_since = n->cmd.since;
    /* Live messages are held from here on, so none can fall between the
     * lookup below and the moment delivery goes live. */
    replay_begin(&s->replay, n->cmd.since);
    /* While an ENTER of this room is being looked up, later ENTERs only
     * move the epoch: one lookup follows when it ends, whatever their
     * number, so a client repeating ENTER cannot fill the workers. */
    if (!s->enter_busy)
        submit_lookup(c, s, 1, n->cmd.since);
    free_cmd(n);
}

/* ------------------------------------------------------------ sending */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static void send_enqueue(struct conn *c, struct cmd_node *n)
{
    struct relay *r = c->relay;
    struct proto_cmd *cmd = &n->cmd;
    if (r->stop_phase) {
        refuse(c, REFUSE_STORE_UNAVAILABLE, "unavailable", "server shutting down, retry later",
               cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    struct outmsg *om = calloc(1, sizeof *om);
    char *cmid = strdup(cmd->client_msg_id);
    if (!om || !cmid) {
        free(om);
        free(cmid);
        session_send_error(c, "unavailable", "out of memory", cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    om->conn_id = c->id;
    om->m.room_id = cmd->room_id;
    om->m.sender_id = c->user_id;
    om->m.type = cmd->kind == PROTO_IMAGE ? cmd->type : CHAT_TEXT;
    om->m.media = cmd->media; /* moved */
    cmd->media = NULL;
    om->m.message = cmd->message;
    om->m.image_url = cmd->image_url;
    om->m.image_name = cmd->image_name;
    om->m.client_msg_id = cmid;
    cmd->message = cmd->image_url = cmd->image_name = NULL; /* moved */
    om->bytes = sizeof *om + str_size(om->m.message) + str_size(om->m.image_url) +
                str_size(om->m.image_name) + str_size(cmid) +
                (om->m.media ? sizeof *om->m.media : 0);
    free_cmd(n);
    relay_enqueue_write(r, om);
}

/* ------------------------------------------------- seq gaps (scale-out) */

static int64_t gap_timer_fired(struct ev_loop *loop, int64_t id, void *data)
{
    struct sub *s = data;
    struct conn *c = s->conn;
    (void) loop;
    (void) id;
    s->gap_timer = 0;
    if (c->dead || c->closing || !replay_gap_pending(&s->replay) || s->replay.last < 0)
        return EV_TIMER_DONE;
    int skip = s->gap_since_ms > 0 && timefmt_mono_ms() - s->gap_since_ms >= GAP_SKIP_MS;
    c->relay->gap_fetches++;
    replay_gap_fetch(&s->replay, skip ? REPLAY_GAP_SKIP : REPLAY_GAP_WAIT);
    submit_lookup(c, s, 0, s->replay.last); /* may free s */
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
    int64_t id = ev_timer_add(s->conn->relay->loop, ms, gap_timer_fired, s);
    s->gap_timer = id > 0 ? id : 0;
}

static void gap_watch(struct sub *s)
{
    gap_watch_after(s, GAP_WAIT_MS);
}

/* deliver_frame: MESSAGE (frame, seq) to every subscription of the room
 * but the sender's connection (NULL: a message from another relay). */
static void deliver_frame(struct relay *r, int64_t room_id, int64_t seq, const char *frame,
                          size_t len, const struct conn *sender)
{
    const struct roommap_entry *room = roommap_get(&r->rooms, room_id);
    if (!room)
        return;
    for (size_t i = 0; i < room->n; i++) {
        struct sub *s = room->members[i];
        if (s->conn->dead || s->conn->closing)
            continue;
        if (s->conn == sender) {
            replay_own(&s->replay, seq); /* it got the ACK */
            replay_drain(&s->replay, send_held, s->conn);
            gap_watch(s);
            continue;
        }
        enum replay_verdict v = replay_live(&s->replay, seq, frame, len);
        if (v == REPLAY_SEND) {
            r->metrics.messages_out++;
            conn_send_frame(s->conn, frame, len);
            replay_drain(&s->replay, send_held, s->conn);
        }
        gap_watch(s);
    }
}

/* deliver: MESSAGE to every subscription of the room but the sender's. */
static void deliver(struct relay *r, const struct chat_message *m, const struct conn *sender)
{
    char *frame = roommap_get(&r->rooms, m->room_id) ? proto_message(m) : NULL;
    if (!frame)
        return; /* nobody here, or out of memory: receivers recover it with `since` */
    deliver_frame(r, m->room_id, m->seq, frame, strlen(frame), sender);
    free(frame);
}

void session_remote_message(struct relay *r, int64_t room_id, int64_t seq, const char *frame,
                            size_t len)
{
    relay_lastseq_note(r, room_id, seq);
    deliver_frame(r, room_id, seq, frame, len, NULL);
}

/* refetch: fetch after the subscription's cursor now, or when its running
 * lookup ends. */
static void refetch(struct relay *r, struct conn *c, struct sub *s)
{
    if (s->replay.active) {
        s->refetch = 1;
        return;
    }
    if (s->replay.last < 0)
        return;
    if (s->gap_timer > 0) {
        ev_timer_del(r->loop, s->gap_timer);
        s->gap_timer = 0;
    }
    r->gap_fetches++;
    replay_gap_fetch(&s->replay, REPLAY_GAP_WAIT);
    submit_lookup(c, s, 0, s->replay.last); /* may free s */
}

void session_room_subscribed(struct relay *r, int64_t room_id)
{
    const struct roommap_entry *room = roommap_get(&r->rooms, room_id);
    for (size_t i = room ? room->n : 0; i-- > 0;) {
        /* refetch may remove this member (out of memory): walk backwards
         * and re-read the room each time. */
        room = roommap_get(&r->rooms, room_id);
        if (!room || i >= room->n)
            continue;
        struct sub *s = room->members[i];
        if (!s->conn->dead && !s->conn->closing)
            refetch(r, s->conn, s);
    }
}

void session_resync(struct relay *r)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&r->conns, &pos, &key, &val)) {
        struct conn *c = val;
        if (c->dead || c->closing || c->state != CONN_OPEN)
            continue;
        for (size_t i = c->nsubs; i-- > 0;)
            if (i < c->nsubs)
                refetch(r, c, c->subs[i]);
    }
}

static int by_seq(const void *a, const void *b)
{
    const struct outmsg *x = *(const struct outmsg *const *) a;
    const struct outmsg *y = *(const struct outmsg *const *) b;
    return (x->m.seq > y->m.seq) - (x->m.seq < y->m.seq);
}

void session_write_done(struct relay *r, struct outmsg **batch, size_t n)
{
    /* A seq retried after a collision can be higher than its successors':
     * deliver in seq order so every room's receivers see increasing seq. */
    if (n > 1)
        qsort(batch, n, sizeof(struct outmsg *), by_seq);
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[i];
        struct conn *c = relay_conn(r, om->conn_id);
        if (c)
            c->unanswered--;
        if (om->status == OUTMSG_STORED)
            r->metrics.messages_stored++;
        if (om->status == OUTMSG_STORED || om->status == OUTMSG_DUPLICATE) {
            /* A duplicate goes through delivery too: a receiver that saw
             * it (or anything newer) drops it by seq, but one that never
             * did gets it, as happens when an insert reported unavailable
             * was applied after all and the client retried. */
            relay_lastseq_note(r, om->m.room_id, om->m.seq);
            deliver(r, &om->m, c);
        }
        if (om->status == OUTMSG_STORED || om->status == OUTMSG_DUPLICATE) {
            if (c) {
                r->metrics.acks++;
                conn_send_owned(
                    c, proto_ack(om->m.client_msg_id, om->m.id, om->m.seq, om->m.created_at_ms));
            }
        } else if (om->status == ERR_UNAVAILABLE) {
            if (c)
                refuse(c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                       "message store unavailable, retry later", om->m.client_msg_id,
                       om->m.room_id);
        } else {
            log_error("store_failed", "room=%lld sender=%lld err=\"%s\"", (long long) om->m.room_id,
                      (long long) om->m.sender_id, err_str(om->status));
            if (c)
                session_send_error(c, "internal", "the message could not be stored",
                                   om->m.client_msg_id, om->m.room_id);
        }
        chat_message_clear(&om->m);
        free(om);
    }
}

/* ------------------------------------------------------------ membership */

static void member_run(struct job *j, void *ctx)
{
    struct member_job *m = (struct member_job *) j;
    m->rc = ctx ? rooms_is_member(ctx, m->room_id, m->user_id) : ERR_UNAVAILABLE;
}

static void continue_cmd(struct conn *c, struct cmd_node *n)
{
    if (n->cmd.kind == PROTO_ENTER)
        enter_start(c, n);
    else
        send_enqueue(c, n);
}

static void member_done(struct job *j)
{
    struct member_job *m = (struct member_job *) j;
    struct conn *c = j->cancelled ? NULL : relay_conn(m->relay, m->conn_id);
    if (!c || c->blocked != m->cmd) {
        free(m);
        return;
    }
    struct cmd_node *n = c->blocked;
    c->blocked = NULL;
    if (m->rc == 1) {
        member_note(c, m->room_id);
        continue_cmd(c, n);
    } else {
        if (m->rc == 0)
            refuse(c, REFUSE_NOT_MEMBER, "not_member", "you are not a member of this room",
                   n->cmd.client_msg_id, n->cmd.room_id);
        else
            refuse(c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                   "membership cannot be checked now, retry later", n->cmd.client_msg_id,
                   n->cmd.room_id);
        free_cmd(n);
    }
    free(m);
    process_inbox(c);
    conn_flush_later(c);
}

/* check_member: ask MySQL; n waits in c->blocked and the inbox pauses. */
static void check_member(struct conn *c, struct cmd_node *n)
{
    struct member_job *m = calloc(1, sizeof *m);
    if (!m) {
        session_send_error(c, "unavailable", "out of memory", n->cmd.client_msg_id, n->cmd.room_id);
        free_cmd(n);
        return;
    }
    m->base.run = member_run;
    m->base.done = member_done;
    m->relay = c->relay;
    m->conn_id = c->id;
    m->cmd = n;
    m->room_id = n->cmd.room_id;
    m->user_id = c->user_id;
    c->blocked = n;
    workq_submit(c->relay->sqlq, &m->base);
}

/* -------------------------------------------------------------- commands */

static void handle_cmd(struct conn *c, struct cmd_node *n)
{
    struct proto_cmd *cmd = &n->cmd;
    switch (cmd->kind) {
    case PROTO_LEAVE: {
        struct sub *s = find_sub(c, cmd->room_id);
        if (s)
            remove_sub(c, s);
        conn_send_owned(c, proto_left(cmd->room_id));
        free_cmd(n);
        return;
    }
    case PROTO_ENTER:
        if (!find_sub(c, cmd->room_id) && c->nsubs >= (size_t) c->relay->cfg->max_rooms_per_conn) {
            refuse(c, REFUSE_TOO_MANY_ROOMS, "too_many_rooms",
                   "too many rooms entered on this connection; LEAVE one first", NULL,
                   cmd->room_id);
            free_cmd(n);
            return;
        }
        break;
    case PROTO_TEXT:
    case PROTO_IMAGE:
        break;
    }
    if (member_cached(c, cmd->room_id))
        continue_cmd(c, n);
    else
        check_member(c, n);
}

static void process_inbox(struct conn *c)
{
    while (!c->blocked && c->inbox && !c->dead && !c->closing) {
        struct cmd_node *n = c->inbox;
        c->inbox = n->next;
        if (!c->inbox)
            c->inbox_tail = NULL;
        c->inbox_len--;
        n->next = NULL;
        handle_cmd(c, n);
    }
}

void session_on_alive(void *arg)
{
    struct conn *c = arg;
    c->last_heard_ms = timefmt_mono_ms();
}

void session_on_text(void *arg, const char *text, size_t len)
{
    struct conn *c = arg;
    struct relay *r = c->relay;
    struct proto_error err;
    if (c->closing || c->dead)
        return;
    struct cmd_node *n = calloc(1, sizeof *n);
    if (!n) {
        conn_close(c, 1011, "out of memory");
        return;
    }
    struct proto_cmd *cmd = &n->cmd;
    int rc = proto_parse(text, len, (size_t) r->cfg->max_text_chars, r->cfg->media_key, cmd, &err);
    if (rc == ERR_NOMEM) {
        free_cmd(n);
        conn_close(c, 1011, "out of memory");
        return;
    }
    if (rc) {
        refuse(c, REFUSE_BAD_REQUEST, err.code, err.message, cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    if (cmd->has_user_id && cmd->user_id != c->user_id) {
        log_warn("userid_mismatch", "conn=%llu user=%lld claimed=%lld", (unsigned long long) c->id,
                 (long long) c->user_id, (long long) cmd->user_id);
        refuse(c, REFUSE_FORBIDDEN, "forbidden", "userId does not match the authenticated user",
               cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    if ((cmd->kind == PROTO_TEXT || cmd->kind == PROTO_IMAGE) &&
        !ratelimit_take(&c->rl, timefmt_mono_ms())) {
        refuse(c, REFUSE_RATE_LIMITED, "rate_limited", "too many messages, slow down",
               cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    if (cmd->kind == PROTO_ENTER && !ratelimit_take(&c->enter_rl, timefmt_mono_ms())) {
        refuse(c, REFUSE_RATE_LIMITED, "rate_limited", "too many ENTERs, slow down", NULL,
               cmd->room_id);
        free_cmd(n);
        return;
    }
    if (c->inbox_len >= RELAY_INBOX_MAX) {
        refuse(c, REFUSE_RATE_LIMITED, "rate_limited", "too many commands waiting",
               cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    if (c->inbox_tail)
        c->inbox_tail->next = n;
    else
        c->inbox = n;
    c->inbox_tail = n;
    c->inbox_len++;
    process_inbox(c);
}

void session_open(struct conn *c)
{
    (void) c; /* nothing to do until the first ENTER; kept as the seam */
}

void session_close(struct conn *c)
{
    while (c->nsubs > 0)
        remove_sub(c, c->subs[c->nsubs - 1]);
    while (c->inbox) {
        struct cmd_node *n = c->inbox;
        c->inbox = n->next;
        free_cmd(n);
    }
    c->inbox_tail = NULL;
    c->inbox_len = 0;
    free_cmd(c->blocked);
    c->blocked = NULL;
}
