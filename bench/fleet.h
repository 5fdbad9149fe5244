/*
 * fleet.h - the load generator's population of chat clients: many
 * WebSocket connections in one epoll set, one thread, speaking the relay's
 * protocol (ENTER, TEXT; ENTERED, ACK, MESSAGE, ERROR) and measuring it.
 *
 * Every TEXT a fleet sends carries its own measurement tag in clientMsgId,
 * "<phase>.<client>.<n>.<send time in ns>", so an ACK or a MESSAGE tells
 * its latency by itself (send and receipt are read from the same
 * CLOCK_MONOTONIC, in this process) and frames of an earlier measurement
 * are never counted in a later one.
 *
 * Scenarios (scenarios.c) build on this: connect clients, start a
 * measurement, offer load or send a fixed number of messages, run the loop
 * until the answers are in, read the counters.
 */
#ifndef BENCH_FLEET_H
#define BENCH_FLEET_H

#include "chatapi.h"
#include "latstats.h"
#include "wsclient.h"

#include <stddef.h>
#include <stdint.h>

/* A user signed in through the API, and the 1:1 room the user's clients
 * ENTER (shared by the two members). */
struct fleet_user {
    char name[64];
    char *jwt; /* owned (malloc) */
    int64_t id;
    int64_t room; /* 0: none */
};

#define FLEET_ERR_CODES   8
#define FLEET_SECONDS_MAX 120

/* One measurement: what was sent, what came back, and when. */
struct fleet_meas {
    unsigned phase;        /* tag of this measurement's messages */
    uint64_t sent;         /* TEXT frames queued */
    uint64_t acked;        /* ACKs of this measurement */
    uint64_t delivered;    /* MESSAGE frames of this measurement received */
    uint64_t messages_any; /* every MESSAGE received (replays included) */
    uint64_t errors;       /* ERROR frames */
    uint64_t enter_errors; /* of those, ERRORs with no clientMsgId (refused ENTERs) */
    uint64_t out_of_order; /* MESSAGE with seq <= the last one on that client */
    uint64_t stale;        /* ACK/MESSAGE of another measurement */
    uint64_t closed;       /* connections that closed while measuring */
    struct latstats e2e;   /* send -> the peer's receipt of MESSAGE, ns */
    struct latstats ack;   /* send -> the sender's receipt of ACK, ns */
    int64_t t_start;       /* CLOCK_MONOTONIC ns */
    int64_t t_last_send;
    int64_t t_last_recv; /* last ACK or MESSAGE of this measurement */
    int64_t t_last_any;  /* last MESSAGE of any measurement */
    int64_t t_first_any; /* first MESSAGE of any measurement, 0: none yet */
    int64_t max_lag;     /* worst delay between a send's due time and its send */
    int64_t e2e_max_by_sec[FLEET_SECONDS_MAX]; /* worst e2e per second since t_start */
    char err_code[FLEET_ERR_CODES][32];
    uint64_t err_count[FLEET_ERR_CODES];
    char first_error[160]; /* first ERROR frame or unexpected close, for the report */
};

struct fleet_client {
    struct fleet *f;
    struct wsclient *ws; /* owned; NULL once freed */
    size_t idx;
    struct fleet_user *user; /* borrowed from the caller */
    int64_t room;            /* room to ENTER and write to; 0: none */
    int entered;             /* 1 after ENTERED */
    int enter_failed;        /* ERROR answered the ENTER */
    char enter_error[96];    /* that ERROR frame, cut */
    int64_t entered_last_seq;
    int64_t t_entered; /* CLOCK_MONOTONIC ns of the ENTERED */
    int64_t last_seq;  /* highest seq of a MESSAGE received */
    uint64_t n_sent;
    int closed;
    int send_early; /* set by the caller: may send TEXT before (or without) ENTERED */
};

struct fleet;

/* fleet_new: an empty fleet using api (borrowed) for socket tokens and the
 * epoll set epfd (borrowed; several fleets may share one, and then running
 * any of them serves all, so idle fleets still answer pings). Text messages
 * carry msg_chars characters of filler. NULL when out of memory. */
struct fleet *fleet_new(struct chatapi *api, int epfd, int msg_chars);

/* fleet_free: close every connection at once and free everything but the
 * epoll set. NULL ok. */
void fleet_free(struct fleet *f);

/* Outcome of fleet_connect. */
struct fleet_connect_result {
    size_t opened;      /* WebSocket open (and ENTERED when asked) */
    size_t refused_503; /* handshake answered 503 (capacity) */
    size_t refused_other;
    size_t failed; /* no token, connect error, time-out, ENTER refused */
    char first_failure[160];
};

/* fleet_connect: for each users[i] fetch a socket token right before
 * connecting to t (borrowed for the fleet's life), and when `enter`, ENTER
 * users[i]->room. Works in batches of `batch` so tokens are fresh. Adds
 * the clients (open or not) to the fleet. Returns 0, or ERR_UNAVAILABLE
 * when the token API failed (the rest are then not tried). */
int fleet_connect(struct fleet *f, const struct wsclient_target *t, struct fleet_user **users,
                  size_t n, int enter, size_t batch, struct fleet_connect_result *res);

/* fleet_clients: the clients added so far (n in *n); borrowed. */
struct fleet_client **fleet_clients(struct fleet *f, size_t *n);

/* fleet_open_count: clients currently open. */
size_t fleet_open_count(const struct fleet *f);

/* fleet_close_all: closing handshake on every open client, wait up to
 * timeout_ms for them, then free all clients (the fleet stays usable). */
void fleet_close_all(struct fleet *f, int timeout_ms);

/* fleet_meas_begin: make m the current measurement with a fresh phase; m
 * is borrowed until fleet_meas_end. */
void fleet_meas_begin(struct fleet *f, struct fleet_meas *m);
void fleet_meas_end(struct fleet *f);

/* fleet_meas_init / fleet_meas_deinit: zero a measurement / free its samples. */
void fleet_meas_init(struct fleet_meas *m);
void fleet_meas_deinit(struct fleet_meas *m);

/* fleet_send_text: one TEXT to c's room, tagged for the current
 * measurement. Returns 0, ERR_INVALID when c is closed, or has not been
 * ENTERED and is not marked send_early. */
int fleet_send_text(struct fleet *f, struct fleet_client *c);

/* fleet_send_enter: ENTER c's room, with "since" when since >= 0. */
int fleet_send_enter(struct fleet *f, struct fleet_client *c, int64_t since);

/* fleet_run: run the loop until done(arg) returns non-zero or timeout_ms
 * passes. Returns 1 when done, 0 on time-out. */
int fleet_run(struct fleet *f, int (*done)(void *arg), void *arg, int timeout_ms);

/* fleet_offer: the open-loop load of a steady-rate measurement. Sends
 * rate msgs/s in total for `seconds`, round robin over senders (borrowed),
 * each send scheduled at its due time whatever the answers do; then waits
 * up to drain_ms for every ACK and MESSAGE (one peer per room). Must run
 * inside a measurement. Returns 1 when everything arrived, 0 when not. */
int fleet_offer(struct fleet *f, struct fleet_client **senders, size_t n, double rate,
                double seconds, int drain_ms);

/* fleet_all_answered: 1 when the current measurement has an ACK (or an
 * ERROR naming the message) for every send and a MESSAGE for every ACK.
 * For fleet_run. */
int fleet_all_answered(void *fleet);

#endif
