/*
 * redis_bus.c - Redis pub/sub subscriber on the relay's ev loop (see
 * redis_bus.h).
 *
 * hiredis's async context needs five hooks (add/del read, add/del write,
 * cleanup); here they map onto ev_add/ev_del of the context's socket, and
 * ev's callback hands readiness back to redisAsyncHandleRead/Write. hiredis
 * frees the context itself after a failed connect or a lost connection
 * (after calling our callback), so every callback first checks that the
 * context is still the current one and forgets it before returning.
 *
 * Per room: want (a local member exists) and state (IDLE: not subscribed,
 * SUB: SUBSCRIBE sent, UNSUB: UNSUBSCRIBE sent, answer pending). Cold:
 * the per-message path is one hash lookup and a callback.
 */
#include "redis_bus.h"

#include "decimal.h"
#include "errors.h"
#include "ev.h"
#include "i64map.h"
#include "timefmt.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUS_TICK_MS        250
#define BUS_GRACE_MS       2000 /* a room stays subscribed this long after its last member left */
#define BUS_CONNECT_MAX_MS 2000 /* a connect attempt that takes longer is abandoned */
#define BUS_BACKOFF_MIN_MS 100
#define BUS_BACKOFF_MAX_MS 5000

#define CHANNEL_PREFIX "chat:room:"

enum room_state { BR_IDLE, BR_SUB, BR_UNSUB };

struct bus_room {
    int want;
    enum room_state state;
    int64_t unwant_at_ms; /* monotonic; when want == 0 */
};

struct redis_bus {
    struct ev_loop *loop;
    char host[REDIS_HOST_MAX];
    int port;
    struct redis_bus_events ev;
    void *arg;
    redisAsyncContext *ac; /* NULL while disconnected */
    int fd;                /* ac's socket, for the ev hooks */
    int connected;
    int broken;         /* a hook could not watch the socket */
    int64_t attempt_ms; /* when the current connect began */
    int64_t retry_ms;   /* next connect attempt (when ac == NULL) */
    int backoff_ms;
    int64_t timer;
    int freeing;
    size_t nsub;         /* rooms in state BR_SUB */
    struct i64map rooms; /* room id -> struct bus_room */
};

/* ------------------------------------------------------------- helpers */

int redis_url_parse(const char *url, char host[REDIS_HOST_MAX], int *port)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return ERR_INVALID;
    const char *h = url + sizeof scheme - 1;
    size_t hl = strcspn(h, ":/");
    if (hl == 0 || hl >= REDIS_HOST_MAX || memchr(h, '@', hl))
        return ERR_INVALID; /* no credentials in the URL: none are supported */
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 6379;
    const char *p = h + hl;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535 || (*end != '\0' && *end != '/'))
            return ERR_INVALID;
        *port = (int) v;
        p = end;
    }
    if (*p != '\0' && *p != '/')
        return ERR_INVALID;
    return 0;
}

void redis_channel(char *buf, size_t cap, int64_t room_id)
{
    snprintf(buf, cap, CHANNEL_PREFIX "%" PRId64, room_id);
}

char *redis_payload_format(uint64_t origin, int64_t seq, const char *frame, size_t frame_len,
                           size_t *len)
{
    char head[64];
    int n = snprintf(head, sizeof head, "%016" PRIx64 ":%" PRId64 ":", origin, seq);
    if (n <= 0 || frame_len > SIZE_MAX - (size_t) n - 1)
        return NULL;
    char *out = malloc((size_t) n + frame_len + 1);
    if (!out)
        return NULL;
    memcpy(out, head, (size_t) n);
    memcpy(out + n, frame, frame_len);
    out[(size_t) n + frame_len] = '\0';
    *len = (size_t) n + frame_len;
    return out;
}

int redis_payload_parse(const char *payload, size_t len, uint64_t *origin, int64_t *seq,
                        const char **frame, size_t *frame_len)
{
    /* 16 hex digits, ':', 1..18 digits (no overflow: seqs and ids stay
     * below 2^53), ':', then at least "{}". */
    if (len < 16 + 1 + 1 + 1 + 2)
        return ERR_INVALID;
    uint64_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        char ch = payload[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return ERR_INVALID;
        o = o << 4 | (uint64_t) d;
    }
    if (payload[16] != ':')
        return ERR_INVALID;
    size_t i = 17;
    int64_t s = 0;
    size_t digits = 0;
    while (i < len && payload[i] >= '0' && payload[i] <= '9' && digits < 18) {
        s = s * 10 + (payload[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || i >= len || payload[i] != ':' || s < 0)
        return ERR_INVALID;
    i++;
    if (len - i < 2 || payload[i] != '{')
        return ERR_INVALID;
    *origin = o;
    *seq = s;
    *frame = payload + i;
    *frame_len = len - i;
    return 0;
}

int redis_room_notice_room(const char *frame, size_t len, int64_t *room)
{
    static const char head[] = "{\"type\":\"ROOM\",\"chatRoomId\":";
    size_t hl = sizeof head - 1, i = hl;
    if (len <= hl || memcmp(frame, head, hl) != 0)
        return ERR_INVALID;
    while (i < len && frame[i] >= '0' && frame[i] <= '9')
        i++;
    if (i >= len || (frame[i] != ',' && frame[i] != '}'))
        return ERR_INVALID;
    return dec_parse(frame + hl, i - hl, room) == 0 ? 0 : ERR_INVALID;
}

/* -------------------------------------------------------- ev adapter */

static void on_fd(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct redis_bus *b = data;
    (void) loop;
    (void) fd;
    if (b->ac && (mask & EV_READ))
        redisAsyncHandleRead(b->ac); /* may drop b->ac (connection lost) */
    if (b->ac && (mask & EV_WRITE))
        redisAsyncHandleWrite(b->ac);
}

static void hook_watch(struct redis_bus *b, int mask, int on)
{
    if (on) {
        /* Over the loop's descriptor limit, or out of memory: the tick drops it. */
        if (ev_add(b->loop, b->fd, mask, on_fd, b) != 0)
            b->broken = 1;
    } else {
        ev_del(b->loop, b->fd, mask);
    }
}

static void hook_add_read(void *p)
{
    hook_watch(p, EV_READ, 1);
}
static void hook_del_read(void *p)
{
    hook_watch(p, EV_READ, 0);
}
static void hook_add_write(void *p)
{
    hook_watch(p, EV_WRITE, 1);
}
static void hook_del_write(void *p)
{
    hook_watch(p, EV_WRITE, 0);
}
static void hook_cleanup(void *p)
{
    hook_watch(p, EV_READ | EV_WRITE, 0);
}

/* ------------------------------------------------------ subscriptions */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void room_subscribe(struct redis_bus *b, int64_t id, struct bus_room *br)
{
    char ch[64];
    redis_channel(ch, sizeof ch, id);
    if (redisAsyncCommand(b->ac, on_reply, NULL, "SUBSCRIBE %s", ch) == REDIS_OK) {
        br->state = BR_SUB;
        b->nsub++;
    }
}

static void room_unsubscribe(struct redis_bus *b, int64_t id, struct bus_room *br)
{
    char ch[64];
    redis_channel(ch, sizeof ch, id);
    if (redisAsyncCommand(b->ac, on_reply, NULL, "UNSUBSCRIBE %s", ch) == REDIS_OK) {
        br->state = BR_UNSUB;
        b->nsub--;
    }
}

static int parse_channel(const redisReply *r, int64_t *id)
{
    size_t pl = sizeof CHANNEL_PREFIX - 1;
    if (r->type != REDIS_REPLY_STRING || r->len <= pl || r->len > pl + 19 ||
        memcmp(r->str, CHANNEL_PREFIX, pl) != 0)
        return ERR_INVALID;
    return dec_parse(r->str + pl, r->len - pl, id) == 0 ? 0 : ERR_INVALID;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_bus *b = ac->data;
    redisReply *r = reply;
    int64_t id;
    (void) privdata;
    if (!r || !b || b->freeing || ac != b->ac || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || parse_channel(r->element[1], &id) != 0)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0) {
        if (r->element[2]->type == REDIS_REPLY_STRING)
            b->ev.message(b->arg, id, r->element[2]->str, r->element[2]->len);
        return;
    }
    struct bus_room *br = i64map_get(&b->rooms, id);
    if (strcmp(kind, "subscribe") == 0) {
        if (br && br->state == BR_SUB)
            b->ev.subscribed(b->arg, id);
        return;
    }
    if (strcmp(kind, "unsubscribe") != 0)
        return;
    if (!br || br->state != BR_UNSUB)
        return;
    br->state = BR_IDLE;
    if (br->want)
        room_subscribe(b, id, br);
    else
        free(i64map_del(&b->rooms, id));
}

/* reset_rooms: drop rooms nobody wants and mark the rest unsubscribed
 * (after a disconnect every subscription is gone). */
static void reset_rooms(struct redis_bus *b)
{
    size_t pos = 0;
    int64_t id;
    void *val;
    int64_t drop[64];
    size_t ndrop;
    do {
        ndrop = 0;
        pos = 0;
        while (i64map_next(&b->rooms, &pos, &id, &val)) {
            struct bus_room *br = val;
            br->state = BR_IDLE;
            if (!br->want && ndrop < 64)
                drop[ndrop++] = id;
        }
        for (size_t i = 0; i < ndrop; i++)
            free(i64map_del(&b->rooms, drop[i]));
    } while (ndrop == 64);
    b->nsub = 0;
}

/* ------------------------------------------------------- connection */

static void lost(struct redis_bus *b, const char *why)
{
    b->ac = NULL;
    b->connected = 0;
    b->broken = 0;
    reset_rooms(b);
    b->retry_ms = timefmt_mono_ms() + b->backoff_ms;
    b->backoff_ms = b->backoff_ms * 2 > BUS_BACKOFF_MAX_MS ? BUS_BACKOFF_MAX_MS : b->backoff_ms * 2;
    if (!b->freeing)
        b->ev.down(b->arg, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_bus *b = ac->data;
    if (!b || ac != b->ac)
        return;
    if (status != REDIS_OK) {
        lost(b, ac->errstr[0] ? ac->errstr : "connect failed"); /* hiredis frees ac */
        return;
    }
    b->connected = 1;
    b->backoff_ms = BUS_BACKOFF_MIN_MS;
    size_t pos = 0;
    int64_t id;
    void *val;
    while (i64map_next(&b->rooms, &pos, &id, &val)) {
        struct bus_room *br = val;
        if (br->want && br->state == BR_IDLE)
            room_subscribe(b, id, br);
    }
    b->ev.up(b->arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_bus *b = ac->data;
    (void) status;
    if (!b || ac != b->ac)
        return;
    lost(b, ac->errstr[0] ? ac->errstr : "connection closed"); /* hiredis frees ac */
}

static void start_connect(struct redis_bus *b)
{
    redisAsyncContext *ac = redisAsyncConnect(b->host, b->port);
    b->attempt_ms = timefmt_mono_ms();
    if (!ac) {
        b->ac = NULL;
        lost(b, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        b->ac = NULL;
        lost(b, why);
        return;
    }
    b->ac = ac;
    b->fd = ac->c.fd;
    ac->data = b;
    ac->ev.data = b;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* watches for the connect to finish */
}

/* drop: abandon the current context ourselves (timeout, unwatchable fd). */
static void drop(struct redis_bus *b, const char *why)
{
    redisAsyncContext *ac = b->ac;
    b->ac = NULL; /* so the callbacks redisAsyncFree makes are ignored */
    redisAsyncFree(ac);
    lost(b, why);
}

static int64_t tick(struct ev_loop *loop, int64_t id, void *data)
{
    struct redis_bus *b = data;
    int64_t now = timefmt_mono_ms();
    (void) loop;
    (void) id;
    if (b->ac && b->broken) {
        drop(b, "the event loop cannot watch the socket");
    } else if (b->ac && !b->connected && now - b->attempt_ms > BUS_CONNECT_MAX_MS) {
        drop(b, "connect timed out");
    } else if (!b->ac && now >= b->retry_ms) {
        start_connect(b);
    }
    if (b->connected) {
        size_t pos = 0;
        int64_t room;
        void *val;
        while (i64map_next(&b->rooms, &pos, &room, &val)) {
            struct bus_room *br = val;
            if (!br->want && br->state == BR_SUB && now >= br->unwant_at_ms)
                room_unsubscribe(b, room, br);
        }
    }
    return BUS_TICK_MS;
}

struct redis_bus *redis_bus_new(struct ev_loop *loop, const char *host, int port,
                                const struct redis_bus_events *ev, void *arg)
{
    struct redis_bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->loop = loop;
    snprintf(b->host, sizeof b->host, "%s", host);
    b->port = port;
    b->ev = *ev;
    b->arg = arg;
    b->fd = -1;
    b->backoff_ms = BUS_BACKOFF_MIN_MS;
    i64map_init(&b->rooms);
    if ((b->timer = ev_timer_add(loop, BUS_TICK_MS, tick, b)) < 0) {
        i64map_deinit(&b->rooms);
        free(b);
        return NULL;
    }
    start_connect(b);
    return b;
}

void redis_bus_free(struct redis_bus *b)
{
    if (!b)
        return;
    b->freeing = 1;
    if (b->ac) {
        redisAsyncContext *ac = b->ac;
        b->ac = NULL;
        redisAsyncFree(ac);
    }
    ev_timer_del(b->loop, b->timer);
    size_t pos = 0;
    int64_t id;
    void *val;
    while (i64map_next(&b->rooms, &pos, &id, &val))
        free(val);
    i64map_deinit(&b->rooms);
    free(b);
}

int redis_bus_want(struct redis_bus *b, int64_t room_id)
{
    struct bus_room *br = i64map_get(&b->rooms, room_id);
    if (!br) {
        if (!(br = calloc(1, sizeof *br)))
            return ERR_NOMEM;
        if (i64map_put(&b->rooms, room_id, br) != 0) {
            free(br);
            return ERR_NOMEM;
        }
    }
    br->want = 1;
    if (b->connected && br->state == BR_IDLE)
        room_subscribe(b, room_id, br);
    return 0; /* BR_UNSUB: re-subscribed when the UNSUBSCRIBE is answered */
}

void redis_bus_unwant(struct redis_bus *b, int64_t room_id)
{
    struct bus_room *br = i64map_get(&b->rooms, room_id);
    if (!br)
        return;
    br->want = 0;
    br->unwant_at_ms = timefmt_mono_ms() + BUS_GRACE_MS;
    if (br->state == BR_IDLE)
        free(i64map_del(&b->rooms, room_id));
}

int redis_bus_up(const struct redis_bus *b)
{
    return b->connected;
}

size_t redis_bus_subscribed(const struct redis_bus *b)
{
    return b->nsub;
}
