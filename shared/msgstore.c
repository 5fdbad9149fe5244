/*
 * msgstore.c - chat_messages in MongoDB through a mongoc client pool (see
 * msgstore.h).
 *
 * Every function pops a client from the pool, does one or two round trips
 * and pushes the client back, so any number of threads may call in. Filters
 * and documents are built from typed C values only (BSON_APPEND_INT64 and
 * friends); nothing a client sent is ever parsed as BSON or JSON here.
 *
 * Timeouts: unless the URI says otherwise, server selection, connect and
 * socket timeouts are all cfg->mongo_timeout_ms, so a server that is down or
 * paused turns into ERR_UNAVAILABLE within that time instead of a hang.
 */
#include "msgstore.h"
#include "errors.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLLECTION "chat_messages"

struct msgstore {
    const struct config *cfg;      /* borrowed for the store's lifetime */
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    mongoc_write_concern_t *wc;    /* cfg->mongo_write_concern */
};

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

static void mongoc_global_init(void)
{
    mongoc_init();
    /* The driver's own log lines (e.g. FerretDB lacking endSessions) would
     * bypass the project's key=value log; errors reach callers as codes. */
    mongoc_log_set_handler(NULL, NULL);
    atexit(mongoc_cleanup);
}

/* Server error codes that mean "not reachable / not primary right now"
 * rather than "your request is wrong": the caller may retry later. */
static int transient_server_code(uint32_t code)
{
    switch (code) {
    case 6:     /* HostUnreachable */
    case 7:     /* HostNotFound */
    case 50:    /* MaxTimeMSExpired */
    case 64:    /* WriteConcernFailed */
    case 89:    /* NetworkTimeout */
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
    case 13436: /* NotPrimaryOrSecondary */
        return 1;
    default:
        return 0;
    }
}

/* map_error: project error code for a driver error. */
static int map_error(const bson_error_t *e)
{
    switch (e->domain) {
    case MONGOC_ERROR_STREAM:
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_WRITE_CONCERN:
        return ERR_UNAVAILABLE;
    default:
        break;
    }
    if (e->code == 11000 || e->code == 11001)
        return ERR_CONFLICT;
    if (transient_server_code(e->code))
        return ERR_UNAVAILABLE;
    if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
        return ERR_UNAVAILABLE;
    return ERR_INTERNAL;
}

static void set_default_timeout(mongoc_uri_t *uri, const char *option, int32_t ms)
{
    if (!mongoc_uri_has_option(uri, option))
        mongoc_uri_set_option_as_int32(uri, option, ms);
}

/* parse_write_concern: "majority", or a whole number of nodes (>= 0). */
static mongoc_write_concern_t *parse_write_concern(const char *s, int32_t timeout_ms)
{
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    if (!wc)
        return NULL;
    if (strcmp(s, "majority") == 0) {
        mongoc_write_concern_set_wmajority(wc, timeout_ms);
        return wc;
    }
    char *end;
    long w = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || w < 0 || w > 50) {
        mongoc_write_concern_destroy(wc);
        return NULL;
    }
    mongoc_write_concern_set_w(wc, (int32_t) w);
    if (w > 1)
        mongoc_write_concern_set_wtimeout_int64(wc, timeout_ms);
    return wc;
}

struct msgstore *msgstore_new(const struct config *cfg, char *errbuf, size_t errlen)
{
    bson_error_t err;
    struct msgstore *ms;

    pthread_once(&mongoc_once, mongoc_global_init);
    if (!(ms = calloc(1, sizeof *ms))) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    ms->cfg = cfg;
    if (!(ms->uri = mongoc_uri_new_with_error(cfg->mongo_uri, &err))) {
        snprintf(errbuf, errlen, "mongo_uri: %s", err.message);
        goto fail;
    }
    set_default_timeout(ms->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, cfg->mongo_timeout_ms);
    set_default_timeout(ms->uri, MONGOC_URI_CONNECTTIMEOUTMS, cfg->mongo_timeout_ms);
    set_default_timeout(ms->uri, MONGOC_URI_SOCKETTIMEOUTMS, cfg->mongo_timeout_ms);
    if (!(ms->wc = parse_write_concern(cfg->mongo_write_concern, cfg->mongo_timeout_ms))) {
        snprintf(errbuf, errlen, "mongo_write_concern: expected \"majority\" or a number, got \"%s\"",
                 cfg->mongo_write_concern);
        goto fail;
    }
    if (!(ms->pool = mongoc_client_pool_new_with_error(ms->uri, &err))) {
        snprintf(errbuf, errlen, "mongo_uri: %s", err.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(ms->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(ms->pool, "chat");
    return ms;
fail:
    msgstore_free(ms);
    return NULL;
}

void msgstore_free(struct msgstore *ms)
{
    if (!ms)
        return;
    if (ms->pool)
        mongoc_client_pool_destroy(ms->pool);
    mongoc_write_concern_destroy(ms->wc);
    mongoc_uri_destroy(ms->uri);
    free(ms);
}

/* dup_utf8: a malloc'd copy of the string at iter, or NULL when absent. */
static int dup_utf8(const bson_t *doc, const char *key, char **out)
{
    bson_iter_t it;
    *out = NULL;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    uint32_t len;
    const char *s = bson_iter_utf8(&it, &len);
    if (!(*out = malloc((size_t) len + 1)))
        return ERR_NOMEM;
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return 0;
}

static int get_int64(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it))
        return ERR_INTERNAL;
    *out = bson_iter_as_int64(&it);
    return 0;
}

/* copy_utf8: the string at key into out (cap bytes, cut to fit); "" when
 * absent. */
static void copy_utf8(const bson_t *doc, const char *key, char *out, size_t cap)
{
    bson_iter_t it;
    out[0] = '\0';
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(out, cap, "%s", bson_iter_utf8(&it, NULL));
}

/* doc_to_media: the media fields of a stored media message. */
static int doc_to_media(const bson_t *doc, struct chat_media **out)
{
    int64_t v;
    struct chat_media *md = calloc(1, sizeof *md);
    if (!md)
        return ERR_NOMEM;
    copy_utf8(doc, "mediaId", md->id, sizeof md->id);
    copy_utf8(doc, "mediaName", md->name, sizeof md->name);
    copy_utf8(doc, "mediaType", md->facts.mime, sizeof md->facts.mime);
    md->facts.size = get_int64(doc, "mediaSize", &v) == 0 ? v : 0;
    md->facts.width = get_int64(doc, "mediaWidth", &v) == 0 ? (int) v : 0;
    md->facts.height = get_int64(doc, "mediaHeight", &v) == 0 ? (int) v : 0;
    *out = md;
    return 0;
}

/* doc_to_message: fill *m from a stored document. ERR_INTERNAL for a
 * document that lacks a required field, ERR_NOMEM. On error *m is cleared. */
static int doc_to_message(const bson_t *doc, struct chat_message *m)
{
    bson_iter_t it;
    int rc = ERR_INTERNAL;

    memset(m, 0, sizeof *m);
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
        goto out;
    bson_oid_to_string(bson_iter_oid(&it), m->id);
    if (get_int64(doc, "chatRoomId", &m->room_id) || get_int64(doc, "seq", &m->seq) ||
        get_int64(doc, "senderId", &m->sender_id))
        goto out;
    if (!bson_iter_init_find(&it, doc, "chatType") || !BSON_ITER_HOLDS_UTF8(&it))
        goto out;
    const char *type = bson_iter_utf8(&it, NULL);
    m->type = strcmp(type, "IMAGE") == 0   ? CHAT_IMAGE
              : strcmp(type, "VIDEO") == 0 ? CHAT_VIDEO
                                           : CHAT_TEXT;
    if (bson_iter_init_find(&it, doc, "createdAt") && BSON_ITER_HOLDS_DATE_TIME(&it))
        m->created_at_ms = bson_iter_date_time(&it);
    if ((rc = dup_utf8(doc, "clientMsgId", &m->client_msg_id)))
        goto out;
    if (m->type == CHAT_TEXT)
        rc = dup_utf8(doc, "message", &m->message);
    else if (bson_iter_init_find(&it, doc, "mediaId"))
        rc = doc_to_media(doc, &m->media);
    else if (!(rc = dup_utf8(doc, "imageUrl", &m->image_url)))
        rc = dup_utf8(doc, "imageName", &m->image_name);
    if (rc)
        goto out;
    if (!m->client_msg_id && !(m->client_msg_id = strdup(""))) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = 0;
out:
    if (rc)
        chat_message_clear(m);
    return rc;
}

/* find_messages: run find(filter, opts) and collect at most cap messages
 * into a new array. */
static int find_messages(struct msgstore *ms, const bson_t *filter, const bson_t *opts,
                         size_t cap, struct chat_message **out, size_t *n)
{
    mongoc_client_t *client = mongoc_client_pool_pop(ms->pool);
    mongoc_collection_t *coll = NULL;
    mongoc_cursor_t *cur = NULL;
    struct chat_message *arr = NULL;
    const bson_t *doc;
    bson_error_t err;
    size_t count = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (!client)
        return ERR_UNAVAILABLE;
    if (cap && !(arr = calloc(cap, sizeof *arr))) {
        rc = ERR_NOMEM;
        goto out;
    }
    coll = mongoc_client_get_collection(client, ms->cfg->mongo_database, COLLECTION);
    cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    while (rc == 0 && count < cap && mongoc_cursor_next(cur, &doc)) {
        if ((rc = doc_to_message(doc, &arr[count])) == 0)
            count++;
    }
    if (rc == 0 && mongoc_cursor_error(cur, &err))
        rc = map_error(&err);
out:
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(ms->pool, client);
    if (rc) {
        chat_message_array_free(arr, count);
        return rc;
    }
    *out = arr;
    *n = count;
    return 0;
}

int msgstore_page(struct msgstore *ms, int64_t room_id, int64_t before, int64_t after, int limit,
                  struct chat_message **out, size_t *n, int *more)
{
    bson_t filter = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort;
    int newer = after >= 0;
    int rc;

    *out = NULL;
    *n = 0;
    *more = 0;
    if (limit < 1)
        return ERR_INVALID;
    BSON_APPEND_INT64(&filter, "chatRoomId", room_id);
    if (newer || before > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "seq", &range);
        if (newer)
            BSON_APPEND_INT64(&range, "$gt", after);
        else
            BSON_APPEND_INT64(&range, "$lt", before);
        bson_append_document_end(&filter, &range);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", newer ? 1 : -1);
    bson_append_document_end(&opts, &sort);
    /* One extra row tells whether another page exists. */
    BSON_APPEND_INT64(&opts, "limit", (int64_t) limit + 1);

    rc = find_messages(ms, &filter, &opts, (size_t) limit + 1, out, n);
    if (rc == 0 && *n > (size_t) limit) {
        *more = 1;
        chat_message_clear(&(*out)[limit]);
        *n = (size_t) limit;
    }
    if (rc == 0 && !newer) {
        /* Fetched newest first; the contract wants oldest first. */
        for (size_t i = 0, j = *n ? *n - 1 : 0; i < j; i++, j--) {
            struct chat_message t = (*out)[i];
            (*out)[i] = (*out)[j];
            (*out)[j] = t;
        }
    }
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

/* message_to_doc: the stored form of m, built from typed fields only. */
static void message_to_doc(const struct chat_message *m, const bson_oid_t *oid, bson_t *doc)
{
    BSON_APPEND_OID(doc, "_id", oid);
    BSON_APPEND_INT64(doc, "chatRoomId", m->room_id);
    BSON_APPEND_INT64(doc, "seq", m->seq);
    BSON_APPEND_INT64(doc, "senderId", m->sender_id);
    BSON_APPEND_UTF8(doc, "chatType", chat_type_name(m->type));
    if (m->type == CHAT_TEXT) {
        BSON_APPEND_UTF8(doc, "message", m->message ? m->message : "");
    } else if (m->media) {
        /* Top-level fields: FerretDB hands a top-level equality to its
         * storage, so `chatctl media-gc` finds a media id's message through
         * the room's index. */
        BSON_APPEND_UTF8(doc, "mediaId", m->media->id);
        BSON_APPEND_UTF8(doc, "mediaName", m->media->name);
        BSON_APPEND_UTF8(doc, "mediaType", m->media->facts.mime);
        BSON_APPEND_INT64(doc, "mediaSize", m->media->facts.size);
        BSON_APPEND_INT64(doc, "mediaWidth", m->media->facts.width);
        BSON_APPEND_INT64(doc, "mediaHeight", m->media->facts.height);
    } else {
        BSON_APPEND_UTF8(doc, "imageUrl", m->image_url ? m->image_url : "");
        if (m->image_name)
            BSON_APPEND_UTF8(doc, "imageName", m->image_name);
    }
    BSON_APPEND_UTF8(doc, "clientMsgId", m->client_msg_id ? m->client_msg_id : "");
    BSON_APPEND_DATE_TIME(doc, "createdAt", m->created_at_ms);
}

/* apply_write_errors: per-message codes from reply.writeErrors; returns 0
 * when every entry was understood. */
static int apply_write_errors(const bson_t *reply, size_t n, int *status)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return ERR_INTERNAL;
    while (bson_iter_next(&arr)) {
        bson_iter_t e, f;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e))
            return ERR_INTERNAL;
        int64_t index = -1, code = 0;
        if (bson_iter_find(&e, "index") && BSON_ITER_HOLDS_NUMBER(&e))
            index = bson_iter_as_int64(&e);
        if (!bson_iter_recurse(&arr, &f))
            return ERR_INTERNAL;
        if (bson_iter_find(&f, "code") && BSON_ITER_HOLDS_NUMBER(&f))
            code = bson_iter_as_int64(&f);
        if (index < 0 || (uint64_t) index >= n)
            return ERR_INTERNAL;
        status[index] = (code == 11000 || code == 11001) ? ERR_CONFLICT : ERR_INTERNAL;
    }
    return 0;
}

int msgstore_insert_many(struct msgstore *ms, struct chat_message *msgs, size_t n, int *status)
{
    mongoc_client_t *client;
    mongoc_collection_t *coll = NULL;
    bson_t *docs = NULL;
    const bson_t **ptrs = NULL;
    bson_t opts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_error_t err;
    int rc = 0;

    if (n == 0)
        return 0;
    if (!(client = mongoc_client_pool_pop(ms->pool)))
        return ERR_UNAVAILABLE;
    docs = calloc(n, sizeof *docs);
    ptrs = calloc(n, sizeof(const bson_t *));
    if (!docs || !ptrs) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        bson_oid_to_string(&oid, msgs[i].id);
        bson_init(&docs[i]);
        message_to_doc(&msgs[i], &oid, &docs[i]);
        ptrs[i] = &docs[i];
        status[i] = 0;
    }
    /* Unordered: one message hitting a unique index must not stop the rest. */
    BSON_APPEND_BOOL(&opts, "ordered", false);
    if (!mongoc_write_concern_append(ms->wc, &opts)) {
        rc = ERR_INTERNAL;
        goto out;
    }
    coll = mongoc_client_get_collection(client, ms->cfg->mongo_database, COLLECTION);
    bson_destroy(&reply);
    if (!mongoc_collection_insert_many(coll, ptrs, n, &opts, &reply, &err)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "writeConcernErrors"))
            rc = ERR_UNAVAILABLE;
        else if (bson_iter_init_find(&it, &reply, "writeErrors"))
            rc = apply_write_errors(&reply, n, status);
        else
            rc = map_error(&err);
        if (rc == ERR_CONFLICT)   /* a whole-command duplicate error without writeErrors */
            rc = ERR_INTERNAL;
    }
out:
    if (docs) {
        for (size_t i = 0; i < n && ptrs && ptrs[i]; i++)
            bson_destroy(&docs[i]);
    }
    free(docs);
    free(ptrs);
    bson_destroy(&opts);
    bson_destroy(&reply);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(ms->pool, client);
    return rc;
}

int msgstore_find_client_msg(struct msgstore *ms, int64_t room_id, int64_t sender_id,
                             const char *client_msg_id, struct chat_message *out)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    struct chat_message *arr;
    size_t n;

    memset(out, 0, sizeof *out);
    BSON_APPEND_INT64(&filter, "chatRoomId", room_id);
    BSON_APPEND_INT64(&filter, "senderId", sender_id);
    BSON_APPEND_UTF8(&filter, "clientMsgId", client_msg_id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    int rc = find_messages(ms, &filter, &opts, 1, &arr, &n);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc)
        return rc;
    if (n == 0) {
        free(arr);
        return ERR_NOT_FOUND;
    }
    *out = arr[0];   /* the strings move to *out */
    free(arr);
    return 0;
}

int msgstore_last_seq(struct msgstore *ms, int64_t room_id, int64_t *seq)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    struct chat_message *arr;
    size_t n;

    *seq = 0;
    BSON_APPEND_INT64(&filter, "chatRoomId", room_id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", 1);
    int rc = find_messages(ms, &filter, &opts, 1, &arr, &n);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc)
        return rc;
    if (n == 1)
        *seq = arr[0].seq;
    chat_message_array_free(arr, n);
    return 0;
}

int msgstore_ping(struct msgstore *ms)
{
    mongoc_client_t *client = mongoc_client_pool_pop(ms->pool);
    bson_t cmd = BSON_INITIALIZER;
    bson_error_t err;
    int rc = 0;

    if (!client)
        return ERR_UNAVAILABLE;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    if (!mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL, &err))
        rc = ERR_UNAVAILABLE;
    bson_destroy(&cmd);
    mongoc_client_pool_push(ms->pool, client);
    return rc;
}

mongoc_client_t *msgstore_client_pop(struct msgstore *ms)
{
    return mongoc_client_pool_pop(ms->pool);
}

void msgstore_client_push(struct msgstore *ms, mongoc_client_t *client)
{
    if (client)
        mongoc_client_pool_push(ms->pool, client);
}

int msgstore_error(const bson_error_t *e)
{
    return map_error(e);
}
