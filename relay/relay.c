/*
 * relay.c - the relay's life cycle (new, listen, run, stop, free), the
 * wiring of its modules' events, the cron, the Redis bus events and the
 * /metrics body. The only file that knows every module; each of them
 * calls only downwards (see README.md for the picture).
 *
 * One thread runs the ev loop and owns every socket and every structure.
 * Blocking work (token consume, membership, MongoDB reads and writes)
 * goes to four work queues whose completions come back through the
 * wake-up pipe.
 */
#include "relay.h"

#include "admission.h"
#include "errors.h"
#include "ev.h"
#include "fanout.h"
#include "lastseq.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "presence.h"
#include "msgstore.h"
#include "redis_bus.h"
#include "redis_outbox.h"
#include "redis_pub.h"
#include "routes.h"
#include "seqalloc.h"
#include "session.h"
#include "sqldb.h"
#include "timefmt.h"
#include "transport.h"
#include "workq.h"
#include "writer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELAY_HEADROOM_FDS 16 /* sockets above the limit that can still get a 503 */
#define RELAY_CRON_MS      250
#define RELAY_EVENTS_MAX   256 /* READ/TYPING/ROOM/PRESENCE publishes waiting for the writer */
#define RELAY_HEARTBEAT_MS 10000

struct relay {
    const struct config *cfg;
    struct ev_loop *loop;
    int wake_rd, wake_wr; /* workers and signals wake the loop here */
    struct msgstore *store;
    struct workq *sqlq;          /* tokens, membership, ENTER's last seq */
    struct workq *mongoq;        /* replay pages and gap fetches */
    struct workq *healthq;       /* /healthz only, so no backlog can delay it */
    struct workq *writerq;       /* one thread: write batches (seqalloc, pub are its own) */
    struct redis_outbox *outbox; /* frames for other relays, published on writerq */
    size_t max_conns;
    size_t fd_slots;        /* descriptors for clients of every stage: max_conns + headroom */
    struct admission adm;   /* HTTP-stage bounds, connections per user */
    struct lastseq lastseq; /* newest seq seen per room (ENTER fallback, seq hints) */
    struct metrics metrics;
    uint64_t origin;       /* random id of this process; tags what it publishes */
    struct redis_bus *bus; /* pub/sub subscriber; NULL without redis_url */
    struct seqalloc *seqa; /* the writer thread's seq source */
    struct redis_pub *pub; /* the writer thread's publisher */
    struct listener *listener;
    struct transport *transport;
    struct routes *routes;
    struct writer *writer;
    struct fanout *fanout;
    struct sessions *sessions;
    struct presence *presence;
    int64_t heartbeat_ms;      /* monotonic: the next presence heartbeat */
    uint64_t redis_in;         /* messages received from other relays */
    uint64_t redis_bus_errors; /* subscriber connects failed or lost */
    int redis_down_logged;     /* one log line per outage, not per retry */
    volatile sig_atomic_t stop_requested;
    int stop_phase; /* 0 running, 1 draining writes, 2 closing clients */
    int64_t drain_deadline_ms, stop_deadline_ms;
};

static void *sql_thread_init(void *arg)
{
    struct relay *r = arg;
    return sqldb_new(r->cfg); /* NULL: every job on this thread answers unavailable */
}

static void sql_thread_fini(void *ctx)
{
    sqldb_free(ctx);
}

static int load_last_seq(void *arg, int64_t room_id, int64_t *last)
{
    return msgstore_last_seq(arg, room_id, last);
}

/* probe_seq: whether the store holds seq of room_id (writer thread). */
static int probe_seq(void *arg, int64_t room_id, int64_t seq, int *exists)
{
    struct chat_message *msgs = NULL;
    size_t n = 0;
    int more = 0;
    int rc = msgstore_page(arg, room_id, 0, seq - 1, 1, &msgs, &n, &more);
    if (rc == 0)
        *exists = n == 1 && msgs[0].seq == seq;
    chat_message_array_free(msgs, n);
    return rc;
}

/* ---------------------------------------------------------------- wiring */

static void on_request(void *arg, struct conn *c, int rc)
{
    struct relay *r = arg;
    routes_request(r->routes, c, rc);
}

static void on_text(void *arg, struct conn *c, const char *text, size_t len)
{
    struct relay *r = arg;
    session_text(r->sessions, c, text, len);
}

static void on_freeing(void *arg, struct conn *c)
{
    struct relay *r = arg;
    presence_closing(r->presence, c->user_id); /* still counted by admission */
    session_close(r->sessions, c);
}

static void on_opened(void *arg, struct conn *c)
{
    struct relay *r = arg;
    session_open(r->sessions, c);
    presence_opened(r->presence, c->user_id);
}

static void on_room_empty(void *arg, struct conn *c, int64_t room_id)
{
    struct relay *r = arg;
    session_room_empty(r->sessions, c, room_id);
}

static void on_batch_done(void *arg, struct outmsg **batch, size_t n)
{
    struct relay *r = arg;
    session_write_done(r->sessions, batch, n);
}

static void on_write_failed(void *arg, struct outmsg *om, const char *why)
{
    struct relay *r = arg;
    session_write_failed(r->sessions, om, why);
}

/* append_redis_metrics: the scale-out lines after the others; frees body
 * and returns NULL when out of memory. */
static char *append_redis_metrics(struct relay *r, char *body, size_t *len)
{
    char extra[1024];
    uint64_t errors = r->redis_bus_errors + redis_pub_errors(r->pub);
    int n = snprintf(
        extra, sizeof extra,
        "# HELP chat_relay_redis_up 1 when the Redis subscriber is connected.\n"
        "# TYPE chat_relay_redis_up gauge\nchat_relay_redis_up %d\n"
        "# HELP chat_relay_redis_writer_up 1 when the writer's last Redis command succeeded.\n"
        "# TYPE chat_relay_redis_writer_up gauge\nchat_relay_redis_writer_up %d\n"
        "# HELP chat_relay_redis_errors_total Redis connects and commands that failed.\n"
        "# TYPE chat_relay_redis_errors_total counter\nchat_relay_redis_errors_total %llu\n"
        "# HELP chat_relay_redis_subscriptions Room channels subscribed.\n"
        "# TYPE chat_relay_redis_subscriptions gauge\nchat_relay_redis_subscriptions %zu\n"
        "# HELP chat_relay_redis_messages_in_total Messages received from other relays.\n"
        "# TYPE chat_relay_redis_messages_in_total counter\n"
        "chat_relay_redis_messages_in_total %llu\n"
        "# HELP chat_relay_gap_fetches_total Seq gaps (or Redis outages) closed from MongoDB.\n"
        "# TYPE chat_relay_gap_fetches_total counter\nchat_relay_gap_fetches_total %llu\n",
        redis_bus_up(r->bus), redis_pub_up(r->pub), (unsigned long long) errors,
        redis_bus_subscribed(r->bus), (unsigned long long) r->redis_in,
        (unsigned long long) fanout_gap_fetches(r->fanout));
    if (n <= 0 || (size_t) n >= sizeof extra) {
        free(body);
        return NULL;
    }
    char *more = realloc(body, *len + (size_t) n + 1);
    if (!more) {
        free(body);
        return NULL;
    }
    memcpy(more + *len, extra, (size_t) n + 1);
    *len += (size_t) n;
    return more;
}

static char *on_metrics(void *arg, size_t *len)
{
    struct relay *r = arg;
    size_t open = transport_open(r->transport);
    struct metrics_gauges g = {
        .connections = open,
        .handshaking = transport_count(r->transport) - open,
        .rooms = fanout_rooms(r->fanout),
        .queue_depth = writer_queued(r->writer),
        .writes_in_flight = writer_writing(r->writer),
        .max_connections = r->max_conns,
    };
    char *body = metrics_render(&r->metrics, &g, len);
    if (body && r->bus)
        body = append_redis_metrics(r, body, len);
    return body;
}

static const struct transport_events transport_events = {on_request, on_text, on_freeing};
static const struct routes_events routes_events = {on_opened, on_metrics};
static const struct writer_events writer_events = {on_batch_done, on_write_failed};

/* ------------------------------------------------- loop hooks and timers */

static void begin_stop(struct relay *r)
{
    int64_t now = timefmt_mono_ms();
    r->stop_phase = 1;
    r->drain_deadline_ms = now + 5000;
    r->stop_deadline_ms = now + 8000;
    routes_stop(r->routes);
    sessions_stop(r->sessions);
    listener_close(r->listener);
    log_info("stopping", "connections=%zu pending=%zu writing=%zu", transport_open(r->transport),
             writer_queued(r->writer), writer_writing(r->writer));
}

static void advance_stop(struct relay *r)
{
    int64_t now = timefmt_mono_ms();
    if (r->stop_phase == 1 && ((writer_queued(r->writer) == 0 && writer_writing(r->writer) == 0) ||
                               now >= r->drain_deadline_ms)) {
        writer_fail_pending(r->writer, "server shutting down");
        r->stop_phase = 2;
        transport_close_all(r->transport, 1001, "server shutting down");
    }
    if (r->stop_phase == 2 && (transport_count(r->transport) == 0 || now >= r->stop_deadline_ms))
        ev_stop(r->loop);
}

static void before_sleep(struct ev_loop *loop, void *data)
{
    struct relay *r = data;
    (void) loop;
    writer_kick(r->writer);
    transport_before_sleep(r->transport);
    if (r->stop_phase)
        advance_stop(r);
}

static void on_wake(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct relay *r = data;
    char buf[256];
    (void) loop;
    (void) mask;
    /* A short read emptied the pipe; a byte written after it wakes the
     * next pass (select() is level-triggered), so no second read() per
     * wake just to hear EAGAIN. */
    while (read(fd, buf, sizeof buf) == (ssize_t) sizeof buf) {
    }
    if (r->stop_requested && r->stop_phase == 0)
        begin_stop(r);
    workq_complete(r->sqlq);
    workq_complete(r->mongoq);
    workq_complete(r->healthq);
    workq_complete(r->writerq);
}

static int64_t cron(struct ev_loop *loop, int64_t id, void *data)
{
    struct relay *r = data;
    (void) loop;
    (void) id;
    int64_t now = timefmt_mono_ms();
    transport_sweep(r->transport, now);
    if (now >= r->heartbeat_ms) {
        /* Well within REDIS_PRESENCE_TTL: this relay's counts stay valid. */
        presence_heartbeat(r->presence);
        r->heartbeat_ms = now + RELAY_HEARTBEAT_MS;
    }
    if (r->stop_requested && r->stop_phase == 0)
        begin_stop(r);
    return RELAY_CRON_MS;
}

/* ------------------------------------------------------------ Redis bus */

/* user_frame: a frame for one user from another relay (the users'
 * channel): a ROOM goes to that user's connections here that have not
 * ENTERed its room, a PRESENCE to the connections watching that user. */
static void user_frame(struct relay *r, int64_t user_id, const char *frame, size_t len)
{
    int64_t room_id;
    if (redis_room_notice_room(frame, len, &room_id) == 0) {
        /* the common case (one per stored message), without a JSON parse */
        sessions_notify_user(r->sessions, user_id, room_id, frame, len);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(frame, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(j, "chatRoomId");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "ROOM") == 0 && cJSON_IsNumber(room))
        sessions_notify_user(r->sessions, user_id, (int64_t) room->valuedouble, frame, len);
    else if (cJSON_IsString(type) && strcmp(type->valuestring, "PRESENCE") == 0)
        presence_remote(r->presence, user_id,
                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "online")), frame, len);
    cJSON_Delete(j);
}

static void bus_message(void *arg, int64_t room_id, const char *payload, size_t len)
{
    struct relay *r = arg;
    uint64_t origin;
    int64_t seq;
    const char *frame;
    size_t flen;
    if (redis_payload_parse(payload, len, &origin, &seq, &frame, &flen) != 0) {
        log_warn("redis_bad_payload", "room=%lld bytes=%zu", (long long) room_id, len);
        return;
    }
    if (origin == r->origin)
        return; /* ours: delivered locally when the write came back */
    r->redis_in++;
    if (room_id == REDIS_USERS_ROOM)
        user_frame(r, seq, frame, flen); /* the users' channel: seq is the user */
    else if (seq == 0)
        fanout_event(r->fanout, room_id, frame, flen, NULL); /* READ, TYPING */
    else
        fanout_remote(r->fanout, room_id, seq, frame, flen);
}

static void bus_up(void *arg)
{
    struct relay *r = arg;
    log_info("redis_up", "side=subscriber rooms=%zu", fanout_rooms(r->fanout));
    r->redis_down_logged = 0;
    redis_pub_kick(r->pub);
    /* Whatever was published while we were away is in MongoDB. */
    fanout_resync(r->fanout);
}

static void bus_down(void *arg, const char *why)
{
    struct relay *r = arg;
    char q[256];
    r->redis_bus_errors++;
    if (r->redis_down_logged)
        return; /* retries with backoff; said once */
    r->redis_down_logged = 1;
    log_warn("redis_down", "side=subscriber err=%s local_delivery=continues retry=backoff",
             log_quote(q, sizeof q, why));
}

static void bus_subscribed(void *arg, int64_t room_id)
{
    struct relay *r = arg;
    fanout_room_subscribed(r->fanout, room_id);
}

static const struct redis_bus_events bus_events = {bus_message, bus_up, bus_subscribed, bus_down};

/* READ, TYPING, ROOM and PRESENCE frames on their way to the other
 * relays: the writer thread's Redis connection publishes them (the loop's
 * own is a subscriber and cannot), grouped between two write batches
 * (redis_outbox.h). */
static void publish_events(void *arg, const struct redis_event *ev, size_t n)
{
    redis_pub_events(arg, ev, n);
}

static void queue_event(struct relay *r, int64_t room_id, int64_t user_id, const char *frame,
                        size_t len)
{
    /* Best effort, and never a backlog in front of the message writes that
     * share the writer thread: past the bound an indicator is dropped. */
    if (redis_outbox_push(r->outbox, room_id, user_id, frame, len) == ERR_TOO_LARGE)
        r->metrics.events_dropped++;
}

static void publish_event(void *arg, int64_t room_id, const char *frame, size_t len)
{
    queue_event(arg, room_id, 0, frame, len);
}

static void publish_user(void *arg, int64_t user_id, const char *frame, size_t len)
{
    queue_event(arg, 0, user_id, frame, len);
}

/* ------------------------------------------------------------ lifecycle */
size_t relay_max_connections(const struct relay *r)
{
    return r->max_conns;
}

/* fds_reserved: descriptors the relay needs besides clients: stdio,
 * listener, wake pipe, one MySQL connection per SQL worker, per health
 * worker (2) and for the writer, MongoDB pool connections (readers,
 * health, the writer, monitoring), Redis (2), and the headroom above
 * max_connections where a handshake over the limit can still be answered
 * 503. */
static size_t fds_reserved(const struct config *cfg)
{
    return 3 + 1 + 2 + (size_t) cfg->relay_workers * 2 + 3 + 2 + 3 + 2 + RELAY_HEADROOM_FDS;
}

size_t relay_fds_needed(const struct config *cfg)
{
    return (size_t) cfg->max_connections + fds_reserved(cfg);
}

struct relay *relay_new(const struct config *cfg, char *errbuf, size_t errlen)
{
    struct relay *r = calloc(1, sizeof *r);
    int pfd[2];
    if (!r) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->wake_rd = r->wake_wr = -1;
    lastseq_init(&r->lastseq);

    size_t reserved = fds_reserved(cfg);
    char redis_host[REDIS_HOST_MAX];
    int redis_port = 0;
    if (cfg->redis_url[0] && redis_url_parse(cfg->redis_url, redis_host, &redis_port) != 0) {
        snprintf(errbuf, errlen, "redis_url: expected redis://host[:port], got \"%s\"",
                 cfg->redis_url);
        goto fail;
    }
    if (RAND_bytes((unsigned char *) &r->origin, sizeof r->origin) != 1)
        r->origin = ((uint64_t) getpid() << 32) ^ (uint64_t) timefmt_now_ms();
    if (!(r->loop = ev_new())) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    /* The loop watches descriptors below the process' limit (main.c raised
     * it for max_connections): a lower limit lowers max_connections. */
    r->max_conns = (size_t) cfg->max_connections;
    size_t fd_limit = (size_t) ev_fd_limit(r->loop);
    if (r->max_conns + reserved > fd_limit)
        r->max_conns = fd_limit > reserved + 1 ? fd_limit - reserved : 1;
    /* Every client, whatever its stage, fits in fd_slots; the headroom
     * above max_conns is never taken by WebSockets, so a new connection can
     * always displace one still in the HTTP stage and get its 503 or its
     * /healthz answer. */
    r->fd_slots = r->max_conns + RELAY_HEADROOM_FDS;
    size_t max_hs = (size_t) cfg->max_handshakes;
    if (max_hs == 0) {
        max_hs = r->max_conns / 4;
        if (max_hs < RELAY_HEADROOM_FDS)
            max_hs = RELAY_HEADROOM_FDS;
    }
    admission_init(&r->adm, max_hs, (size_t) cfg->max_handshakes_per_address,
                   cfg->handshake_limit_loopback, (size_t) cfg->max_connections_per_user);

    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    r->wake_rd = pfd[0];
    r->wake_wr = pfd[1];
    if (!(r->store = msgstore_new(cfg, errbuf, errlen)))
        goto fail;
    r->pub = redis_pub_new(redis_port ? redis_host : NULL, redis_port, r->origin);
    r->seqa = seqalloc_new(sqldb_new(cfg), load_last_seq, r->store);
    if (r->seqa)
        seqalloc_set_probe(r->seqa, probe_seq, r->store);
    if (!r->pub || !r->seqa) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    r->sqlq = workq_new(cfg->relay_workers, sql_thread_init, sql_thread_fini, r, r->wake_wr);
    r->mongoq = workq_new(cfg->relay_workers, NULL, NULL, r, r->wake_wr);
    r->healthq = workq_new(2, sql_thread_init, sql_thread_fini, r, r->wake_wr);
    r->writerq = workq_new(1, NULL, NULL, r, r->wake_wr);
    if (!r->sqlq || !r->mongoq || !r->healthq || !r->writerq) {
        snprintf(errbuf, errlen, "cannot start worker threads");
        goto fail;
    }
    r->writer = writer_new(cfg, r->writerq, r->store, r->seqa, r->pub, &r->lastseq, &r->metrics,
                           &writer_events, r);
    r->outbox = redis_outbox_new(r->writerq, RELAY_EVENTS_MAX, publish_events, r->pub);
    if (!r->writer || !r->outbox) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (ev_add(r->loop, r->wake_rd, EV_READ, on_wake, r) != 0 ||
        ev_timer_add(r->loop, RELAY_CRON_MS, cron, r) < 0) {
        snprintf(errbuf, errlen, "cannot set up the event loop");
        goto fail;
    }
    ev_set_before_sleep(r->loop, before_sleep, r);
    if (redis_port && !(r->bus = redis_bus_new(r->loop, redis_host, redis_port, &bus_events, r))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    /* The users' channel: frames for one user, whichever relay holds its
     * connections. */
    if (r->bus && redis_bus_want(r->bus, REDIS_USERS_ROOM) != 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    r->transport = transport_new(cfg, r->loop, &r->adm, &r->metrics, &transport_events, r);
    r->listener = r->transport ? listener_new(r->loop, r->transport, &r->adm, r->fd_slots) : NULL;
    r->routes = routes_new(cfg, &r->adm, &r->metrics, r->sqlq, r->healthq, r->store, r->max_conns,
                           &routes_events, r);
    r->fanout = fanout_new(cfg, r->loop, r->transport, r->sqlq, r->mongoq, r->store, &r->metrics,
                           &r->lastseq, r->bus);
    r->sessions = sessions_new(cfg, r->transport, r->writer, r->fanout, r->sqlq, &r->metrics);
    if (r->sessions && r->bus)
        sessions_set_publisher(r->sessions, publish_event, publish_user, r);
    r->presence = presence_new(r->transport, &r->adm, r->sqlq, r->bus ? r->writerq : NULL,
                               r->bus ? r->pub : NULL, publish_user, r);
    if (r->sessions && r->presence)
        sessions_set_presence(r->sessions, r->presence);
    if (r->fanout && r->sessions)
        fanout_set_on_empty(r->fanout, on_room_empty, r);
    if (!r->transport || !r->listener || !r->routes || !r->fanout || !r->sessions || !r->presence) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    return r;
fail:
    relay_free(r);
    return NULL;
}

int relay_listen(struct relay *r, char *errbuf, size_t errlen)
{
    return listener_open(r->listener, r->cfg, errbuf, errlen);
}

int relay_run(struct relay *r)
{
    return ev_run(r->loop);
}

void relay_request_stop(struct relay *r)
{
    r->stop_requested = 1;
    char b = 1;
    ssize_t w = write(r->wake_wr, &b, 1);
    (void) w;
}

void relay_free(struct relay *r)
{
    if (!r)
        return;
    /* Connections first (their sessions leave the room map), then the
     * workers, whose late completions find no connection to answer. */
    listener_free(r->listener);
    transport_free(r->transport);
    r->transport = NULL;
    redis_bus_free(r->bus); /* after the sessions, which unsubscribe */
    r->bus = NULL;
    /* Workers are idle after a drain; one blocked in a database call is
     * not waited for long, so SIGTERM still ends within 10 s. A job still
     * queued completes as cancelled. */
    int stuck = workq_free(r->sqlq, 500) != 0;
    stuck |= workq_free(r->mongoq, 500) != 0;
    stuck |= workq_free(r->healthq, 500) != 0;
    stuck |= workq_free(r->writerq, 500) != 0;
    if (!stuck)
        redis_outbox_free(r->outbox); /* else its job may still run */
    writer_free(r->writer);
    presence_free(r->presence);
    sessions_free(r->sessions);
    routes_free(r->routes);
    fanout_free(r->fanout);
    lastseq_deinit(&r->lastseq);
    admission_deinit(&r->adm);
    if (!stuck) {
        msgstore_free(r->store); /* else a blocked worker still uses it */
        redis_pub_free(r->pub);
        seqalloc_free(r->seqa);
    }
    if (r->wake_rd >= 0 && !stuck)
        close(r->wake_rd);
    if (r->wake_wr >= 0 && !stuck)
        close(r->wake_wr); /* a stuck worker would write to a reused fd */
    ev_free(r->loop);
    free(r);
}
