/*
 * mongostub_store.c - the command subset of the bench's stand-in store (see
 * mongostub_store.h).
 *
 * The subset is what the relay's mongo-c-driver 1.23 pool was seen to send
 * (the stand-in tallies every command and names the unknown ones): the
 * handshake and monitoring hello/isMaster, ping (/healthz), insert into
 * chat_messages, find, endSessions when the pool closes. getMore and
 * killCursors close what a find could have left open (every cursor here is
 * exhausted at once). The hello answer copies what FerretDB v1.24 says
 * about itself, so the driver behaves the same against both (sessions,
 * wire version, batch sizes).
 */
#include "mongostub_store.h"

#include "i64map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stubstore {
    struct i64map newest; /* room id -> bson_t *: the room's newest document */
    int32_t connection_ids;
};

struct stubstore *stubstore_new(void)
{
    struct stubstore *st = calloc(1, sizeof *st);
    if (st)
        i64map_init(&st->newest);
    return st;
}

void stubstore_free(struct stubstore *st)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    if (!st)
        return;
    while (i64map_next(&st->newest, &pos, &key, &val))
        bson_destroy(val);
    i64map_deinit(&st->newest);
    free(st);
}

size_t stubstore_rooms(const struct stubstore *st)
{
    return i64map_len(&st->newest);
}

static void reply_error(bson_t *reply, int32_t code, const char *name, const char *msg)
{
    bson_reinit(reply);
    BSON_APPEND_DOUBLE(reply, "ok", 0.0);
    BSON_APPEND_UTF8(reply, "errmsg", msg);
    BSON_APPEND_INT32(reply, "code", code);
    BSON_APPEND_UTF8(reply, "codeName", name);
}

static void reply_ok(bson_t *reply)
{
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

/* number_of: the number at key in doc, 1 when there, else 0. */
static int number_of(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it))
        return 0;
    *out = bson_iter_as_int64(&it);
    return 1;
}

/* subdoc_of: the document at key in doc viewed in place, 1 when there. */
static int subdoc_of(const bson_t *doc, const char *key, bson_t *out)
{
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, doc, key) ||
        !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
        return 0;
    if (BSON_ITER_HOLDS_ARRAY(&it))
        bson_iter_array(&it, &len, &data);
    else
        bson_iter_document(&it, &len, &data);
    return bson_init_static(out, data, len) ? 1 : 0;
}

/* hello: what FerretDB v1.24.2 answers, with the field naming the caller's
 * variant of the command (isMaster vs hello). */
static int cmd_hello(struct stubstore *st, const bson_t *cmd, const char *name, bson_t *reply)
{
    BSON_APPEND_BOOL(reply, strcmp(name, "hello") == 0 ? "isWritablePrimary" : "ismaster", true);
    if (bson_has_field(cmd, "helloOk"))
        BSON_APPEND_BOOL(reply, "helloOk", true);
    BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16777216);
    BSON_APPEND_INT32(reply, "maxMessageSizeBytes", 48000000);
    BSON_APPEND_INT32(reply, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(reply, "localTime", (int64_t) time(NULL) * 1000);
    BSON_APPEND_INT32(reply, "logicalSessionTimeoutMinutes", 30);
    BSON_APPEND_INT32(reply, "connectionId", ++st->connection_ids);
    BSON_APPEND_INT32(reply, "minWireVersion", 0);
    BSON_APPEND_INT32(reply, "maxWireVersion", 21);
    BSON_APPEND_BOOL(reply, "readOnly", false);
    reply_ok(reply);
    return STUBSTORE_ANSWERED;
}

static int cmd_build_info(bson_t *reply)
{
    bson_t arr;
    BSON_APPEND_UTF8(reply, "version", "7.0.0");
    BSON_APPEND_ARRAY_BEGIN(reply, "versionArray", &arr);
    BSON_APPEND_INT32(&arr, "0", 7);
    BSON_APPEND_INT32(&arr, "1", 0);
    BSON_APPEND_INT32(&arr, "2", 0);
    BSON_APPEND_INT32(&arr, "3", 0);
    bson_append_array_end(reply, &arr);
    BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16777216);
    reply_ok(reply);
    return STUBSTORE_ANSWERED;
}

/* keep_newest: doc becomes its room's kept document when its seq is the
 * highest seen for the room. Documents without both numbers are counted
 * but not kept. */
static int keep_newest(struct stubstore *st, const bson_t *doc)
{
    int64_t room, seq, kept_seq;
    if (!number_of(doc, "chatRoomId", &room) || !number_of(doc, "seq", &seq) || room <= 0)
        return 0;
    bson_t *old = i64map_get(&st->newest, room);
    if (old && number_of(old, "seq", &kept_seq) && kept_seq >= seq)
        return 0;
    bson_t *copy = bson_copy(doc);
    if (!copy || i64map_put(&st->newest, room, copy) != 0) {
        bson_destroy(copy);
        return -1;
    }
    bson_destroy(old);
    return 0;
}

static int cmd_insert(struct stubstore *st, const bson_t *cmd, bson_t *reply)
{
    bson_t docs;
    bson_iter_t it;
    int32_t n = 0;
    if (!subdoc_of(cmd, "documents", &docs) || !bson_iter_init(&it, &docs)) {
        reply_error(reply, 9, "FailedToParse", "insert: no documents");
        return STUBSTORE_MALFORMED;
    }
    while (bson_iter_next(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_t doc;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len))
            continue;
        if (keep_newest(st, &doc) != 0) {
            reply_error(reply, 1, "InternalError", "insert: out of memory");
            return STUBSTORE_MALFORMED;
        }
        n++;
    }
    BSON_APPEND_INT32(reply, "n", n);
    reply_ok(reply);
    return STUBSTORE_ANSWERED;
}

/* newest_query: the room of a find the kept documents answer right: the
 * filter is {chatRoomId: N} alone and the sort {seq: -1}. 0 otherwise. */
static int64_t newest_query(const bson_t *cmd)
{
    bson_t filter, sort;
    int64_t room = 0, dir = 0;
    if (!subdoc_of(cmd, "filter", &filter) || bson_count_keys(&filter) != 1 ||
        !number_of(&filter, "chatRoomId", &room))
        return 0;
    if (!subdoc_of(cmd, "sort", &sort) || bson_count_keys(&sort) != 1 ||
        !number_of(&sort, "seq", &dir) || dir != -1)
        return 0;
    return room;
}

/* cursor_reply: an exhausted cursor (id 0) on ns whose batch batch_key
 * holds doc (or nothing when doc is NULL). */
static void cursor_reply(bson_t *reply, const char *ns, const char *batch_key, const bson_t *doc)
{
    bson_t cur, batch;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
    BSON_APPEND_ARRAY_BEGIN(&cur, batch_key, &batch);
    if (doc)
        BSON_APPEND_DOCUMENT(&batch, "0", doc);
    bson_append_array_end(&cur, &batch);
    BSON_APPEND_INT64(&cur, "id", 0);
    BSON_APPEND_UTF8(&cur, "ns", ns);
    bson_append_document_end(reply, &cur);
    reply_ok(reply);
}

/* ns_of: "<$db>.<the command's collection>" into ns. */
static void ns_of(const bson_t *cmd, const char *name, char *ns, size_t cap)
{
    bson_iter_t it;
    const char *db = "test", *coll = "";
    if (bson_iter_init_find(&it, cmd, "$db") && BSON_ITER_HOLDS_UTF8(&it))
        db = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, cmd, name) && BSON_ITER_HOLDS_UTF8(&it))
        coll = bson_iter_utf8(&it, NULL);
    snprintf(ns, cap, "%s.%s", db, coll);
}

static int cmd_find(struct stubstore *st, const bson_t *cmd, bson_t *reply)
{
    char ns[256];
    int64_t room = newest_query(cmd), limit = 0;
    const bson_t *doc = NULL;
    ns_of(cmd, "find", ns, sizeof ns);
    if (room > 0 && (!number_of(cmd, "limit", &limit) || limit != 0))
        doc = i64map_get(&st->newest, room);
    cursor_reply(reply, ns, "firstBatch", doc);
    return STUBSTORE_ANSWERED;
}

static int cmd_get_more(const bson_t *cmd, bson_t *reply)
{
    char ns[256];
    ns_of(cmd, "collection", ns, sizeof ns);
    cursor_reply(reply, ns, "nextBatch", NULL);
    return STUBSTORE_ANSWERED;
}

/* killCursors: every cursor was exhausted when it was returned, so every id
 * asked for is unknown. */
static int cmd_kill_cursors(const bson_t *cmd, bson_t *reply)
{
    bson_t ids;
    bson_iter_t it;
    if (subdoc_of(cmd, "cursors", &ids) && bson_iter_init(&it, &ids)) {
        bson_t arr;
        BSON_APPEND_ARRAY_BEGIN(reply, "cursorsNotFound", &arr);
        while (bson_iter_next(&it))
            if (BSON_ITER_HOLDS_INT64(&it))
                BSON_APPEND_INT64(&arr, bson_iter_key(&it), bson_iter_int64(&it));
        bson_append_array_end(reply, &arr);
    }
    reply_ok(reply);
    return STUBSTORE_ANSWERED;
}

int stubstore_command(struct stubstore *st, const bson_t *cmd, bson_t *reply)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it)) {
        reply_error(reply, 9, "FailedToParse", "empty command");
        return STUBSTORE_MALFORMED;
    }
    const char *name = bson_iter_key(&it);
    if (strcmp(name, "hello") == 0 || strcmp(name, "isMaster") == 0 ||
        strcmp(name, "ismaster") == 0)
        return cmd_hello(st, cmd, name, reply);
    if (strcmp(name, "insert") == 0)
        return cmd_insert(st, cmd, reply);
    if (strcmp(name, "find") == 0)
        return cmd_find(st, cmd, reply);
    if (strcmp(name, "getMore") == 0)
        return cmd_get_more(cmd, reply);
    if (strcmp(name, "killCursors") == 0)
        return cmd_kill_cursors(cmd, reply);
    if (strcmp(name, "buildInfo") == 0 || strcmp(name, "buildinfo") == 0)
        return cmd_build_info(reply);
    if (strcmp(name, "ping") == 0 || strcmp(name, "endSessions") == 0) {
        reply_ok(reply);
        return STUBSTORE_ANSWERED;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "no such command: '%s' (the bench stand-in answers a subset)", name);
    reply_error(reply, 59, "CommandNotFound", msg);
    return STUBSTORE_UNKNOWN;
}
