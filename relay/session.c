/*
 * session.c - the chat protocol of one open WebSocket (see session.h).
 *
 * Nothing is ACKed or delivered before session_write_done hears that
 * MongoDB stored it (or already had it: an idempotent retry).
 */
#include "session.h"

#include "errors.h"
#include "fanout.h"
#include "i64map.h"
#include "log.h"
#include "metrics.h"
#include "presence.h"
#include "proto.h"
#include "ratelimit.h"
#include "room_state.h"
#include "rooms.h"
#include "timefmt.h"
#include "transport.h"
#include "workq.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

struct sessions {
    const struct config *cfg;
    struct transport *t;
    struct writer *writer;
    struct fanout *fo;
    struct workq *sqlq;
    struct metrics *metrics;
    session_member_fn *is_member;
    session_publish_fn *publish;           /* READ and TYPING to other relays; NULL: none */
    session_publish_user_fn *publish_user; /* ROOM and PRESENCE to other relays */
    void *publish_arg;
    struct i64map users;       /* user id -> struct session *: that user's sessions here */
    struct presence *presence; /* NULL: no presence */
    int stopping;
};

struct cmd_node {
    struct proto_cmd cmd;
    struct cmd_node *next;
};

/* session: what one connection's protocol holds; owned by session.c. */
struct session {
    struct conn *c;
    struct ratelimit rl;       /* TEXT and IMAGE */
    struct ratelimit enter_rl; /* ENTER: each costs a database lookup */
    struct ratelimit state_rl; /* READ (a database write each) and TYPING */
    struct fanout_member fm;   /* rooms ENTERed */
    int64_t *member_of;        /* rooms confirmed in MySQL, oldest first */
    int64_t *member_peer;      /* the other member of member_of[i] (0: unknown) */
    size_t nmember;
    struct session *next_of_user; /* the same user's next session here */
    struct cmd_node *inbox, *inbox_tail;
    size_t inbox_len;
    struct cmd_node *blocked; /* the command waiting for a membership check */
    size_t unanswered;        /* its messages queued or being written */
};

struct member_job {
    struct job base;
    struct sessions *ss; /* the thread reads only is_member */
    uint64_t conn_id;
    const struct cmd_node *cmd; /* identity only: the session still owns it */
    int64_t room_id, user_id;
    int64_t peer; /* the room's other member when rc == 1 (0: unknown) */
    int rc;       /* 1 member, 0 not, ERR_* */
};

static int sql_is_member(void *sql_ctx, int64_t room_id, int64_t user_id, int64_t *peer)
{
    if (!sql_ctx)
        return ERR_UNAVAILABLE;
    int rc = rooms_is_member(sql_ctx, room_id, user_id);
    if (rc == 1 && rooms_peer(sql_ctx, room_id, user_id, peer) != 0)
        *peer = 0; /* a member without a peer to tell: ROOM frames are skipped */
    return rc;
}

struct sessions *sessions_new(const struct config *cfg, struct transport *t, struct writer *writer,
                              struct fanout *fo, struct workq *sqlq, struct metrics *metrics)
{
    struct sessions *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    *ss = (struct sessions){.cfg = cfg,
                            .t = t,
                            .writer = writer,
                            .fo = fo,
                            .sqlq = sqlq,
                            .metrics = metrics,
                            .is_member = sql_is_member};
    i64map_init(&ss->users);
    return ss;
}

void sessions_set_membership(struct sessions *ss, session_member_fn *is_member)
{
    ss->is_member = is_member;
}

void sessions_set_publisher(struct sessions *ss, session_publish_fn *publish,
                            session_publish_user_fn *publish_user, void *arg)
{
    ss->publish = publish;
    ss->publish_user = publish_user;
    ss->publish_arg = arg;
}

void sessions_set_presence(struct sessions *ss, struct presence *p)
{
    ss->presence = p;
}

void sessions_notify_user(struct sessions *ss, int64_t user_id, int64_t room_id, const char *frame,
                          size_t len)
{
    for (struct session *se = i64map_get(&ss->users, user_id); se; se = se->next_of_user)
        if (!fanout_entered(&se->fm, room_id) && transport_usable(se->c))
            transport_send(se->c, frame, len);
}

/* user_link / user_unlink: keep ss->users, the sessions of each user. */
static void user_link(struct sessions *ss, struct session *se)
{
    se->next_of_user = i64map_get(&ss->users, se->c->user_id);
    if (i64map_put(&ss->users, se->c->user_id, se) != 0)
        se->next_of_user = NULL; /* out of memory: this session gets no ROOM frames */
}

static void user_unlink(struct sessions *ss, struct session *se)
{
    struct session *head = i64map_get(&ss->users, se->c->user_id);
    if (head == se) {
        if (se->next_of_user)
            i64map_put(&ss->users, se->c->user_id, se->next_of_user);
        else
            i64map_del(&ss->users, se->c->user_id);
        return;
    }
    for (struct session *p = head; p; p = p->next_of_user)
        if (p->next_of_user == se) {
            p->next_of_user = se->next_of_user;
            return;
        }
}

void sessions_free(struct sessions *ss)
{
    if (ss)
        i64map_deinit(&ss->users);
    free(ss);
}

void sessions_stop(struct sessions *ss)
{
    ss->stopping = 1;
}

/* session_of: the session of the live connection conn_id, or NULL. */
static struct session *session_of(struct sessions *ss, uint64_t conn_id)
{
    struct conn *c = transport_conn(ss->t, conn_id);
    return c ? c->session : NULL;
}

static void send_error(struct conn *c, const char *code, const char *message,
                       const char *client_msg_id, int64_t room_id)
{
    transport_send_owned(c, proto_error_frame(code, message, client_msg_id, room_id));
}

static void refuse(struct sessions *ss, struct conn *c, enum refusal why, const char *code,
                   const char *message, const char *client_msg_id, int64_t room_id)
{
    metrics_refuse(ss->metrics, why);
    send_error(c, code, message, client_msg_id, room_id);
}

static void free_cmd(struct cmd_node *n)
{
    if (!n)
        return;
    proto_cmd_clear(&n->cmd);
    free(n);
}

static void process_inbox(struct sessions *ss, struct session *se);

/* ------------------------------------------------------------ membership */

static int member_cached(const struct session *se, int64_t room_id)
{
    for (size_t i = 0; i < se->nmember; i++)
        if (se->member_of[i] == room_id)
            return 1;
    return 0;
}

/* member_note: remember a confirmed membership; the oldest goes when full. */
static void member_note(struct sessions *ss, struct session *se, int64_t room_id, int64_t peer)
{
    size_t cap = (size_t) ss->cfg->max_rooms_per_conn + 16;
    if (!se->member_of && !(se->member_of = calloc(cap, sizeof *se->member_of)))
        return;
    if (!se->member_peer && !(se->member_peer = calloc(cap, sizeof *se->member_peer)))
        return;
    if (se->nmember == cap) {
        memmove(se->member_of, se->member_of + 1, (cap - 1) * sizeof *se->member_of);
        memmove(se->member_peer, se->member_peer + 1, (cap - 1) * sizeof *se->member_peer);
        se->nmember--;
    }
    se->member_peer[se->nmember] = peer;
    se->member_of[se->nmember++] = room_id;
    /* Talking to peer now: its PRESENCE, and every change of it. */
    if (ss->presence && peer > 0)
        presence_watch(ss->presence, se->c, peer);
}

/* member_peer: the cached other member of room_id, 0 when unknown. */
static int64_t member_peer(const struct session *se, int64_t room_id)
{
    for (size_t i = 0; i < se->nmember; i++)
        if (se->member_of[i] == room_id)
            return se->member_peer ? se->member_peer[i] : 0;
    return 0;
}

/* ------------------------------------------------------- ENTER and sends */

/* enter_start: membership is confirmed: (re)subscribe and look up. */
static void enter_start(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    if (fanout_enter(ss->fo, &se->fm, n->cmd.room_id, n->cmd.since) != 0)
        send_error(se->c, "unavailable", "out of memory", NULL, n->cmd.room_id);
    free_cmd(n);
}

static void send_enqueue(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    struct conn *c = se->c;
    struct proto_cmd *cmd = &n->cmd;
    if (ss->stopping) {
        refuse(ss, c, REFUSE_STORE_UNAVAILABLE, "unavailable", "server shutting down, retry later",
               cmd->client_msg_id, cmd->room_id);
        free_cmd(n);
        return;
    }
    struct outmsg *om = calloc(1, sizeof *om);
    char *cmid = strdup(cmd->client_msg_id);
    if (!om || !cmid) {
        free(om);
        free(cmid);
        send_error(c, "unavailable", "out of memory", cmd->client_msg_id, cmd->room_id);
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
    om->peer_id = member_peer(se, cmd->room_id);
    om->bytes = outmsg_size(om);
    free_cmd(n);
    if (writer_enqueue(ss->writer, om, se->unanswered) != 0) {
        send_error(c, "unavailable", "relay overloaded, retry later", om->m.client_msg_id,
                   om->m.room_id);
        outmsg_free(om);
        return;
    }
    se->unanswered++;
}

/* ------------------------------------------------------- READ, TYPING */

/* room_event: a READ or TYPING frame to the room's connections here (but
 * `except`) and on the other relays. Takes frame. */
static void room_event(struct sessions *ss, int64_t room_id, char *frame, const struct conn *except)
{
    if (!frame)
        return; /* out of memory: an indicator is lost, nothing else */
    size_t len = strlen(frame);
    fanout_event(ss->fo, room_id, frame, len, except);
    if (ss->publish)
        ss->publish(ss->publish_arg, room_id, frame, len);
    free(frame);
}

struct read_job {
    struct job base;
    struct sessions *ss;
    uint64_t conn_id;
    int64_t room_id, user_id, seq;
    int64_t read; /* the watermark after */
    int moved;
    int rc;
};

static void read_run(struct job *j, void *ctx)
{
    struct read_job *r = (struct read_job *) j;
    r->rc = ctx ? room_state_mark_read(ctx, r->room_id, r->user_id, r->seq, &r->read, &r->moved)
                : ERR_UNAVAILABLE;
}

static void read_done(struct job *j, int status)
{
    struct read_job *r = (struct read_job *) j;
    struct sessions *ss = r->ss;
    struct session *se = status == WORKQ_OK ? session_of(ss, r->conn_id) : NULL;
    if (status == WORKQ_OK && r->rc == 0 && r->moved) {
        /* Everyone in the room hears it, the reader's other devices too. */
        room_event(ss, r->room_id, proto_read(r->room_id, r->user_id, r->read), NULL);
    } else if (se && r->rc == ERR_INVALID) {
        refuse(ss, se->c, REFUSE_BAD_REQUEST, "seq_out_of_range",
               "seq is beyond the room's last message", NULL, r->room_id);
    } else if (se && r->rc == ERR_NOT_FOUND) {
        refuse(ss, se->c, REFUSE_NOT_MEMBER, "not_member", "you are not a member of this room",
               NULL, r->room_id);
    } else if (se && r->rc) {
        refuse(ss, se->c, REFUSE_STORE_UNAVAILABLE, "unavailable",
               "the read position cannot be saved now, retry later", NULL, r->room_id);
    }
    if (se)
        transport_flush_later(se->c);
    free(r);
}

/* read_start: membership is confirmed: save the watermark (forward only,
 * in MySQL) and tell the room when it moved. */
static void read_start(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    struct read_job *r = calloc(1, sizeof *r);
    if (!r) {
        send_error(se->c, "unavailable", "out of memory", NULL, n->cmd.room_id);
        free_cmd(n);
        return;
    }
    r->base.run = read_run;
    r->base.done = read_done;
    /* No owner: a durable write that must happen even if the reader has
     * closed the page meanwhile (workq_drop_owner must not drop it). */
    r->ss = ss;
    r->conn_id = se->c->id;
    r->room_id = n->cmd.room_id;
    r->user_id = se->c->user_id;
    r->seq = n->cmd.seq;
    free_cmd(n);
    workq_submit(ss->sqlq, &r->base);
}

/* typing_send: the other member sees "typing" for SESSION_TYPING_TTL_MS;
 * never stored. */
static void typing_send(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    int64_t room_id = n->cmd.room_id;
    free_cmd(n);
    room_event(ss, room_id, proto_typing(room_id, se->c->user_id, SESSION_TYPING_TTL_MS), se->c);
}

static void continue_cmd(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    switch (n->cmd.kind) {
    case PROTO_ENTER:
        enter_start(ss, se, n);
        break;
    case PROTO_READ:
        read_start(ss, se, n);
        break;
    case PROTO_TYPING:
        typing_send(ss, se, n);
        break;
    default:
        send_enqueue(ss, se, n);
        break;
    }
}

/* ---------------------------------------------------- membership checks */

/* member_run (SQL worker): is the user a member of the room? */
static void member_run(struct job *j, void *ctx)
{
    struct member_job *m = (struct member_job *) j;
    m->rc = m->ss->is_member(ctx, m->room_id, m->user_id, &m->peer);
}

static void member_done(struct job *j, int status)
{
    struct member_job *m = (struct member_job *) j;
    struct sessions *ss = m->ss;
    struct session *se = status == WORKQ_OK ? session_of(ss, m->conn_id) : NULL;
    if (!se || se->blocked != m->cmd) {
        free(m);
        return;
    }
    struct cmd_node *n = se->blocked;
    se->blocked = NULL;
    if (m->rc == 1) {
        member_note(ss, se, m->room_id, m->peer);
        continue_cmd(ss, se, n);
    } else {
        if (m->rc == 0)
            refuse(ss, se->c, REFUSE_NOT_MEMBER, "not_member", "you are not a member of this room",
                   n->cmd.client_msg_id, n->cmd.room_id);
        else
            refuse(ss, se->c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                   "membership cannot be checked now, retry later", n->cmd.client_msg_id,
                   n->cmd.room_id);
        free_cmd(n);
    }
    free(m);
    process_inbox(ss, se);
    transport_flush_later(se->c);
}

/* check_member: ask MySQL; n waits in se->blocked and the inbox pauses. */
static void check_member(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    struct member_job *m = calloc(1, sizeof *m);
    if (!m) {
        send_error(se->c, "unavailable", "out of memory", n->cmd.client_msg_id, n->cmd.room_id);
        free_cmd(n);
        return;
    }
    m->base.run = member_run;
    m->base.done = member_done;
    m->ss = ss;
    m->conn_id = se->c->id;
    m->base.owner = se->c->id;
    m->cmd = n;
    m->room_id = n->cmd.room_id;
    m->user_id = se->c->user_id;
    se->blocked = n;
    workq_submit(ss->sqlq, &m->base);
}

/* -------------------------------------------------------------- commands */

static void handle_cmd(struct sessions *ss, struct session *se, struct cmd_node *n)
{
    struct proto_cmd *cmd = &n->cmd;
    switch (cmd->kind) {
    case PROTO_LEAVE:
        fanout_leave(ss->fo, &se->fm, cmd->room_id);
        transport_send_owned(se->c, proto_left(cmd->room_id));
        free_cmd(n);
        return;
    case PROTO_ENTER:
        if (!fanout_entered(&se->fm, cmd->room_id) &&
            se->fm.nsubs >= (size_t) ss->cfg->max_rooms_per_conn) {
            refuse(ss, se->c, REFUSE_TOO_MANY_ROOMS, "too_many_rooms",
                   "too many rooms entered on this connection; LEAVE one first", NULL,
                   cmd->room_id);
            free_cmd(n);
            return;
        }
        break;
    case PROTO_TEXT:
    case PROTO_IMAGE:
    case PROTO_READ:
    case PROTO_TYPING:
        break;
    }
    if (member_cached(se, cmd->room_id))
        continue_cmd(ss, se, n);
    else
        check_member(ss, se, n);
}

static void process_inbox(struct sessions *ss, struct session *se)
{
    while (!se->blocked && se->inbox && transport_usable(se->c)) {
        struct cmd_node *n = se->inbox;
        se->inbox = n->next;
        if (!se->inbox)
            se->inbox_tail = NULL;
        se->inbox_len--;
        n->next = NULL;
        handle_cmd(ss, se, n);
    }
}

/* admit: the checks a command passes before it queues: parsed, userId
 * (if given) is the socket's, rate limits, inbox room. 0, or it was
 * refused (and freed). */
static int admit(struct sessions *ss, struct session *se, struct cmd_node *n, int rc,
                 const struct proto_error *err)
{
    struct conn *c = se->c;
    struct proto_cmd *cmd = &n->cmd;
    if (rc) {
        refuse(ss, c, REFUSE_BAD_REQUEST, err->code, err->message, cmd->client_msg_id,
               cmd->room_id);
    } else if (cmd->has_user_id && cmd->user_id != c->user_id) {
        log_warn("userid_mismatch", "conn=%llu user=%lld claimed=%lld", (unsigned long long) c->id,
                 (long long) c->user_id, (long long) cmd->user_id);
        refuse(ss, c, REFUSE_FORBIDDEN, "forbidden", "userId does not match the authenticated user",
               cmd->client_msg_id, cmd->room_id);
    } else if ((cmd->kind == PROTO_TEXT || cmd->kind == PROTO_IMAGE) &&
               !ratelimit_take(&se->rl, timefmt_mono_ms())) {
        refuse(ss, c, REFUSE_RATE_LIMITED, "rate_limited", "too many messages, slow down",
               cmd->client_msg_id, cmd->room_id);
    } else if (cmd->kind == PROTO_ENTER && !ratelimit_take(&se->enter_rl, timefmt_mono_ms())) {
        refuse(ss, c, REFUSE_RATE_LIMITED, "rate_limited", "too many ENTERs, slow down", NULL,
               cmd->room_id);
    } else if ((cmd->kind == PROTO_READ || cmd->kind == PROTO_TYPING) &&
               !ratelimit_take(&se->state_rl, timefmt_mono_ms())) {
        refuse(ss, c, REFUSE_RATE_LIMITED, "rate_limited", "too many READ or TYPING, slow down",
               NULL, cmd->room_id);
    } else if (se->inbox_len >= SESSION_INBOX_MAX) {
        refuse(ss, c, REFUSE_RATE_LIMITED, "rate_limited", "too many commands waiting",
               cmd->client_msg_id, cmd->room_id);
    } else {
        return 0;
    }
    free_cmd(n);
    return -1;
}

void session_text(struct sessions *ss, struct conn *c, const char *text, size_t len)
{
    struct session *se = c->session;
    struct proto_error err;
    if (!se)
        return;
    struct cmd_node *n = calloc(1, sizeof *n);
    if (!n) {
        transport_close(c, 1011, "out of memory");
        return;
    }
    int rc =
        proto_parse(text, len, (size_t) ss->cfg->max_text_chars, ss->cfg->media_key, &n->cmd, &err);
    if (rc == ERR_NOMEM) {
        free_cmd(n);
        transport_close(c, 1011, "out of memory");
        return;
    }
    if (admit(ss, se, n, rc, &err) != 0)
        return;
    if (se->inbox_tail)
        se->inbox_tail->next = n;
    else
        se->inbox = n;
    se->inbox_tail = n;
    se->inbox_len++;
    process_inbox(ss, se);
}

/* ----------------------------------------------------------- life cycle */

void session_open(struct sessions *ss, struct conn *c)
{
    struct session *se = calloc(1, sizeof *se);
    if (!se || fanout_join(ss->fo, &se->fm, c) != 0) {
        free(se);
        transport_close(c, 1011, "out of memory");
        return;
    }
    se->c = c;
    int64_t now = c->last_heard_ms;
    ratelimit_init(&se->rl, ss->cfg->rate_per_sec, ss->cfg->rate_burst, now);
    /* A page reconnecting ENTERs all its rooms at once: the burst allows it. */
    ratelimit_init(&se->enter_rl, SESSION_ENTER_RATE,
                   ss->cfg->max_rooms_per_conn + SESSION_ENTER_RATE, now);
    ratelimit_init(&se->state_rl, SESSION_STATE_RATE, SESSION_STATE_BURST, now);
    c->session = se;
    user_link(ss, se);
}

void session_close(struct sessions *ss, struct conn *c)
{
    struct session *se = c->session;
    if (!se)
        return;
    user_unlink(ss, se);
    if (ss->presence && se->member_peer)
        presence_unwatch(ss->presence, c, se->member_peer, se->nmember);
    fanout_part(ss->fo, &se->fm); /* drops its lookups still queued */
    /* A membership check still queued would only delay everyone else's. */
    ss->metrics->jobs_dropped += workq_drop_owner(ss->sqlq, c->id);
    while (se->inbox) {
        struct cmd_node *n = se->inbox;
        se->inbox = n->next;
        free_cmd(n);
    }
    free_cmd(se->blocked);
    free(se->member_of);
    free(se->member_peer);
    free(se);
    c->session = NULL;
}

/* ------------------------------------------------------- write results */

void session_write_failed(struct sessions *ss, struct outmsg *om, const char *why)
{
    struct session *se = session_of(ss, om->conn_id);
    if (se) {
        se->unanswered--;
        send_error(se->c, "unavailable", why, om->m.client_msg_id, om->m.room_id);
    }
}

static int by_seq(const void *a, const void *b)
{
    const struct outmsg *x = *(const struct outmsg *const *) a;
    const struct outmsg *y = *(const struct outmsg *const *) b;
    return (x->m.seq > y->m.seq) - (x->m.seq < y->m.seq);
}

static int by_batch_pos(const void *a, const void *b)
{
    const struct outmsg *x = *(const struct outmsg *const *) a;
    const struct outmsg *y = *(const struct outmsg *const *) b;
    return (x->batch_pos > y->batch_pos) - (x->batch_pos < y->batch_pos);
}

/* answer: the sender's ACK or ERROR for one message of a finished batch. */
static void answer(struct sessions *ss, const struct outmsg *om)
{
    struct session *se = session_of(ss, om->conn_id);
    struct conn *c = se ? se->c : NULL;
    if (se)
        se->unanswered--;
    if (om->status == OUTMSG_STORED || om->status == OUTMSG_DUPLICATE) {
        if (c) {
            ss->metrics->acks++;
            transport_send_owned(
                c, proto_ack(om->m.client_msg_id, om->m.id, om->m.seq, om->m.created_at_ms));
        }
    } else if (om->status == ERR_UNAVAILABLE) {
        if (c)
            refuse(ss, c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                   "message store unavailable, retry later", om->m.client_msg_id, om->m.room_id);
    } else if (om->status == OUTMSG_CANCELLED) {
        if (c)
            refuse(ss, c, REFUSE_STORE_UNAVAILABLE, "unavailable",
                   "server shutting down, retry later", om->m.client_msg_id, om->m.room_id);
    } else {
        log_error("store_failed", "room=%lld sender=%lld err=\"%s\"", (long long) om->m.room_id,
                  (long long) om->m.sender_id, err_str(om->status));
        if (c)
            send_error(c, "internal", "the message could not be stored", om->m.client_msg_id,
                       om->m.room_id);
    }
}

/* peer_listens: 1 when a ROOM frame about room_id would go anywhere: to
 * another relay, or to a connection of peer here that has not ENTERed
 * the room. Most messages reach a peer inside the room, so the frame is
 * not built for nobody. */
static int peer_listens(const struct sessions *ss, int64_t peer, int64_t room_id)
{
    if (ss->publish_user)
        return 1;
    for (struct session *se = i64map_get(&ss->users, peer); se; se = se->next_of_user)
        if (!fanout_entered(&se->fm, room_id) && transport_usable(se->c))
            return 1;
    return 0;
}

/* tell_peer: a ROOM frame for peer's connections that have not ENTERed
 * room_id, here and, through the publisher, on the other relays: its room
 * list stays live. Takes frame. */
static void tell_peer(struct sessions *ss, int64_t peer, int64_t room_id, char *frame)
{
    if (!frame)
        return; /* out of memory: the room list catches up at its next load */
    size_t len = strlen(frame);
    sessions_notify_user(ss, peer, room_id, frame, len);
    if (ss->publish_user)
        ss->publish_user(ss->publish_arg, peer, frame, len);
    free(frame);
}

void session_room_empty(struct sessions *ss, struct conn *c, int64_t room_id)
{
    struct session *se = c->session;
    int64_t peer = se ? member_peer(se, room_id) : 0;
    if (peer > 0)
        tell_peer(ss, peer, room_id, proto_room_empty(room_id));
}

void session_write_done(struct sessions *ss, struct outmsg **batch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        batch[i]->batch_pos = i;
    /* Receivers get each room in seq order (a seq retried after a collision
     * can be higher than its successors'); senders get their answers in the
     * order they sent, whatever rooms and seqs the batch held. */
    if (n > 1)
        qsort(batch, n, sizeof(struct outmsg *), by_seq);
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = batch[i];
        if (om->status == OUTMSG_STORED)
            ss->metrics->messages_stored++;
        /* A duplicate goes through delivery too: a receiver that saw it (or
         * anything newer) drops it by seq, but one that never did gets it,
         * as happens when an insert reported unavailable was applied after
         * all and the client retried. */
        if (om->status == OUTMSG_STORED || om->status == OUTMSG_DUPLICATE)
            fanout_stored(ss->fo, &om->m, transport_conn(ss->t, om->conn_id));
        if (om->status == OUTMSG_STORED && om->peer_id > 0 &&
            peer_listens(ss, om->peer_id, om->m.room_id))
            tell_peer(ss, om->peer_id, om->m.room_id, proto_room_notice(&om->m));
    }
    if (n > 1)
        qsort(batch, n, sizeof(struct outmsg *), by_batch_pos);
    for (size_t i = 0; i < n; i++)
        answer(ss, batch[i]);
}
