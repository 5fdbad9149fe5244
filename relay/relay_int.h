/*
 * relay_int.h - the relay's internal types, shared by relay.c (sockets,
 * HTTP stage, timers, workers, shutdown) and session.c (the chat protocol
 * of an open WebSocket). Not for other callers.
 *
 * Ownership: the relay owns every conn (freed only in the before-sleep
 * reaper, never inside its own callback); a conn owns its subs, inbox and
 * wsconn. Jobs never hold a conn pointer: they carry the conn id and look
 * the conn up when they complete, so a conn closed meanwhile is simply
 * not found.
 */
#ifndef RELAY_RELAY_INT_H
#define RELAY_RELAY_INT_H

#include "admission.h"
#include "chat_message.h"
#include "config.h"
#include "handshake.h"
#include "i64map.h"
#include "lastseq.h"
#include "metrics.h"
#include "proto.h"
#include "ratelimit.h"
#include "relay.h"
#include "replay.h"
#include "roommap.h"
#include "workq.h"
#include "writer.h"
#include "wsconn.h"

#include <signal.h>
#include <stdint.h>

#define RELAY_CLOSE_GRACE_MS  3000 /* after our close frame, before we drop the socket */
#define RELAY_INBOX_MAX       256  /* commands waiting behind a membership check */
#define RELAY_REPLAY_PAGE     200  /* messages per replay query */
#define RELAY_REPLAY_MAX_HELD 1000 /* live messages held per replaying subscription */

#define RELAY_HEADROOM_FDS  16     /* sockets above the limit that can still get a 503 */
#define RELAY_CRON_MS       250
#define RELAY_ENTER_RATE    20 /* ENTERs per second per connection, on average */

enum conn_state {
    CONN_HTTP,  /* reading the request */
    CONN_WAIT,  /* a worker is checking the token or health; no reading */
    CONN_REPLY, /* writing an HTTP answer, then closing */
    CONN_OPEN,  /* a WebSocket */
};

struct conn;

/* sub: one room ENTERed by one connection; member of the room map. */
struct sub {
    struct conn *conn;
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

struct cmd_node {
    struct proto_cmd cmd;
    struct cmd_node *next;
};

struct conn {
    uint64_t id;
    int fd;
    enum conn_state state;
    struct relay *relay;
    int64_t opened_ms;     /* monotonic */
    int64_t last_heard_ms; /* last frame of any kind from the peer */
    int64_t last_ping_ms;
    int closing; /* close frame queued: reap once sent or at close_deadline */
    int64_t close_deadline_ms;
    int dead;     /* on the reap list */
    int flushing; /* on the flush list */
    struct conn *next_flush, *next_reap;

    /* HTTP stage */
    struct adm_entry adm; /* listed while no request has been answered */
    char *in;             /* HS_MAX_REQUEST bytes while reading the request */
    size_t in_len;
    size_t early_off; /* bytes of `in` past the request still to feed wslay */
    struct hs_request hs;
    char *out; /* HTTP answer (or 101) being written */
    size_t out_len, out_off;
    int health_waiting; /* /healthz checks outstanding */
    int health_ok;

    /* WebSocket stage */
    struct wsconn *ws;
    int64_t user_id;           /* from the socket token, never from a frame */
    struct ratelimit rl;       /* TEXT and IMAGE */
    struct ratelimit enter_rl; /* ENTER: each costs a database lookup */
    struct sub **subs;         /* rooms ENTERed, at most cfg->max_rooms_per_conn */
    size_t nsubs;
    int64_t *member_of; /* rooms confirmed in MySQL, oldest first */
    size_t nmember;
    struct cmd_node *inbox, *inbox_tail;
    size_t inbox_len;
    struct cmd_node *blocked; /* the command waiting for a membership check */
    size_t unanswered;        /* its messages queued or being written */
};

struct relay {
    const struct config *cfg;
    struct ev_loop *loop;
    int listen_fd;
    int wake_rd, wake_wr; /* workers and signals wake the loop here */
    struct msgstore *store;
    struct workq *sqlq;    /* tokens, membership, ENTER's last seq */
    struct workq *mongoq;  /* replay pages and gap fetches */
    struct workq *healthq; /* /healthz only, so no backlog can delay it */
    struct workq *writerq; /* one thread: write batches (seqalloc, pub are its own) */
    struct i64map conns;   /* id -> conn */
    uint64_t next_conn_id;
    size_t n_open;     /* CONN_OPEN */
    size_t n_admitted; /* CONN_WAIT for a token, counted against the limit */
    size_t max_conns;
    size_t fd_slots;       /* descriptors for clients of every stage: max_conns + headroom */
    struct admission adm;  /* HTTP-stage bounds, connections per user */
    struct roommap rooms;  /* room id -> struct sub * */
    struct lastseq lastseq; /* newest seq seen per room (ENTER fallback, seq hints) */
    uint64_t next_epoch;
    struct conn *flush_list, *reap_list;

    struct writer *writer; /* the pending queue and the batch in flight */

    struct metrics metrics;
    uint64_t origin;           /* random id of this process; tags what it publishes */
    struct redis_bus *bus;     /* pub/sub subscriber; NULL without redis_url */
    struct seqalloc *seqa;     /* the writer thread's seq source */
    struct redis_pub *pub;     /* the writer thread's publisher */
    uint64_t redis_in;         /* messages received from other relays */
    uint64_t redis_bus_errors; /* subscriber connects failed or lost */
    int redis_down_logged;     /* one log line per outage, not per retry */
    uint64_t gap_fetches;      /* seq gaps closed from MongoDB */
    volatile sig_atomic_t stop_requested;
    int stop_phase; /* 0 running, 1 draining writes, 2 closing clients */
    int64_t drain_deadline_ms, stop_deadline_ms;
};

/* relay.c services used by session.c */
void conn_flush_later(struct conn *c);
void conn_close(struct conn *c, uint16_t code, const char *reason);
void conn_send_frame(struct conn *c, const char *frame, size_t len);
void conn_send_owned(struct conn *c, char *frame); /* frees frame; NULL = out of memory */
struct conn *relay_conn(struct relay *r, uint64_t id);

/* session.c: the protocol of an open WebSocket */
void session_open(struct conn *c);
void session_on_text(void *arg, const char *text, size_t len);
void session_on_alive(void *arg);
void session_close(struct conn *c); /* leave every room, drop queued commands */
/* session_write_done, session_write_failed: writer_events (arg: the relay). */
void session_write_done(void *arg, struct outmsg **batch, size_t n);
void session_write_failed(void *arg, struct outmsg *om, const char *why);
void session_send_error(struct conn *c, const char *code, const char *message,
                        const char *client_msg_id, int64_t room_id);
/* session_remote_message: a message another relay stored (via Redis);
 * frame is borrowed for the call. */
void session_remote_message(struct relay *r, int64_t room_id, int64_t seq, const char *frame,
                            size_t len);
/* session_resync: Redis is back: fetch what every local subscription may
 * have missed while it was away. */
void session_resync(struct relay *r);
/* session_room_subscribed: the room's channel is live now: fetch what was
 * stored between each subscription's lookup and this moment. */
void session_room_subscribed(struct relay *r, int64_t room_id);

#endif
