/*
 * benchstore.c - seeding and tidying the bigstore scenario's databases
 * (see benchstore.h). Cold code: a few hundred calls per run.
 */
#include "benchstore.h"

#include "config.h"
#include "errors.h"
#include "msgstore.h"
#include "sqldb.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER_COLLECTION "bench_store"
#define MARKER_ID         "shape"
#define MARKER_VERSION    1
/* Removing a run's 100,000 messages takes longer than the relay's
 * 3-second socket timeout on a slow store. */
#define SLOW_OP_MS 600000

struct benchstore {
    struct config cfg; /* msgstore borrows it */
    struct msgstore *ms;
    struct sqldb *db;
    mongoc_client_t *client;
};

struct benchstore *benchstore_open(char *err, size_t errlen)
{
    struct benchstore *bs = calloc(1, sizeof *bs);
    mongoc_uri_t *uri = NULL;
    bson_error_t berr;
    if (!bs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (config_load(&bs->cfg, NULL, err, errlen) != 0)
        goto fail;
    if (!(bs->ms = msgstore_new(&bs->cfg, err, errlen)))
        goto fail;
    if (!(bs->db = sqldb_new(&bs->cfg))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* msgstore_new ran mongoc_init and quieted the driver's log */
    if (!(uri = mongoc_uri_new_with_error(bs->cfg.mongo_uri, &berr))) {
        snprintf(err, errlen, "mongo_uri: %s", berr.message);
        goto fail;
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, SLOW_OP_MS);
    if (!(bs->client = mongoc_client_new_from_uri(uri))) {
        snprintf(err, errlen, "mongoc client did not start");
        goto fail;
    }
    mongoc_uri_destroy(uri);
    return bs;
fail:
    mongoc_uri_destroy(uri);
    benchstore_close(bs);
    return NULL;
}

void benchstore_close(struct benchstore *bs)
{
    if (!bs)
        return;
    if (bs->client)
        mongoc_client_destroy(bs->client);
    sqldb_free(bs->db);
    msgstore_free(bs->ms);
    free(bs);
}

const char *benchstore_database(const struct benchstore *bs)
{
    return bs->cfg.mongo_database;
}

static mongoc_collection_t *coll(struct benchstore *bs, const char *name)
{
    return mongoc_client_get_collection(bs->client, bs->cfg.mongo_database, name);
}

static int mongo_err(const bson_error_t *e)
{
    return e->domain == MONGOC_ERROR_STREAM || e->domain == MONGOC_ERROR_SERVER_SELECTION
               ? ERR_UNAVAILABLE
               : ERR_INTERNAL;
}

static int64_t get_i64(const bson_t *doc, const char *key, int *ok)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    *ok = 0;
    return 0;
}

int benchstore_marker_get(struct benchstore *bs, struct benchstore_marker *m)
{
    mongoc_collection_t *c = coll(bs, MARKER_COLLECTION);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(MARKER_ID));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, NULL, NULL);
    const bson_t *doc;
    bson_error_t err;
    int rc = ERR_NOT_FOUND;
    memset(m, 0, sizeof *m);
    if (mongoc_cursor_next(cur, &doc)) {
        int ok = 1;
        bson_iter_t it;
        if (get_i64(doc, "version", &ok) != MARKER_VERSION)
            ok = 0;
        m->plan.messages = get_i64(doc, "messages", &ok);
        m->plan.rooms = (int) get_i64(doc, "rooms", &ok);
        m->plan.big_room_msgs = get_i64(doc, "bigRoomMessages", &ok);
        m->big_room = get_i64(doc, "bigRoom", &ok);
        m->first_room = get_i64(doc, "firstRoom", &ok);
        m->last_room = get_i64(doc, "lastRoom", &ok);
        if (bson_iter_init_find(&it, doc, "seedSeconds") && BSON_ITER_HOLDS_NUMBER(&it))
            m->seed_seconds = bson_iter_as_double(&it);
        m->seq_columns = bson_iter_init_find(&it, doc, "seqColumns") && BSON_ITER_HOLDS_BOOL(&it) &&
                         bson_iter_bool(&it);
        if (bson_iter_init_find(&it, doc, "prefix") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(m->prefix, sizeof m->prefix, "%s", bson_iter_utf8(&it, NULL));
        else
            ok = 0;
        rc = ok ? 0 : ERR_NOT_FOUND;
    } else if (mongoc_cursor_error(cur, &err)) {
        rc = mongo_err(&err);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(c);
    return rc;
}

int benchstore_marker_put(struct benchstore *bs, const struct benchstore_marker *m)
{
    mongoc_collection_t *c = coll(bs, MARKER_COLLECTION);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(MARKER_ID));
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8(MARKER_ID), "version", BCON_INT32(MARKER_VERSION), "messages",
                 BCON_INT64(m->plan.messages), "rooms", BCON_INT64(m->plan.rooms),
                 "bigRoomMessages", BCON_INT64(m->plan.big_room_msgs), "prefix",
                 BCON_UTF8(m->prefix), "bigRoom", BCON_INT64(m->big_room), "firstRoom",
                 BCON_INT64(m->first_room), "lastRoom", BCON_INT64(m->last_room), "seedSeconds",
                 BCON_DOUBLE(m->seed_seconds), "seqColumns", BCON_BOOL(m->seq_columns != 0));
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    bson_error_t err;
    int rc = 0;
    if (!mongoc_collection_replace_one(c, filter, doc, opts, NULL, &err))
        rc = mongo_err(&err);
    bson_destroy(opts);
    bson_destroy(doc);
    bson_destroy(filter);
    mongoc_collection_destroy(c);
    return rc;
}

int benchstore_count(struct benchstore *bs, int64_t *n)
{
    mongoc_collection_t *c = coll(bs, "chat_messages");
    bson_t filter = BSON_INITIALIZER;
    bson_error_t err;
    int64_t k = mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL, &err);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
    if (k < 0)
        return mongo_err(&err);
    *n = k;
    return 0;
}

/* delete_many: remove what filter matches from collection name. */
static int delete_many(struct benchstore *bs, const char *name, const bson_t *filter,
                       int64_t *deleted)
{
    mongoc_collection_t *c = coll(bs, name);
    bson_t reply;
    bson_error_t err;
    bson_iter_t it;
    int rc = 0;
    if (!mongoc_collection_delete_many(c, filter, NULL, &reply, &err))
        rc = mongo_err(&err);
    else if (deleted)
        *deleted = bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it)
                       ? bson_iter_as_int64(&it)
                       : -1;
    bson_destroy(&reply);
    mongoc_collection_destroy(c);
    return rc;
}

/* Room ids collected from MySQL, for deleting room by room. */
struct room_ids {
    int64_t *ids;
    size_t n, cap;
    int nomem;
};

static int collect_room(void *arg, const struct sqldb_col *cols, size_t ncols)
{
    struct room_ids *r = arg;
    (void) ncols;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        int64_t *more = realloc(r->ids, cap * sizeof *more);
        if (!more) {
            r->nomem = 1;
            return 1; /* stops the fetch */
        }
        r->ids = more;
        r->cap = cap;
    }
    r->ids[r->n++] = cols[0].i64;
    return 0;
}

/* delete_rooms: the messages of every room of the store's MySQL schema
 * whose id is outside [first, last] (first > last: every room), one
 * deleteMany per room. Room by room because a filter that matches many
 * documents fails on FerretDB over PostgreSQL (it deletes by listing every
 * _id as a bind parameter, and PostgreSQL takes at most 65,535), and an
 * equality on chatRoomId is what its index serves. */
static int delete_rooms(struct benchstore *bs, int64_t first, int64_t last, int64_t *deleted)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(first), SQLDB_ARG_I64(last)};
    struct sqldb_col col = SQLDB_COL_I64();
    struct room_ids r = {0};
    int64_t total = 0;
    int rc = sqldb_stmt_query(bs->db, "SELECT id FROM chat_rooms WHERE id < ? OR id > ?", args, 2,
                              &col, 1, collect_room, &r);
    if (r.nomem)
        rc = ERR_NOMEM;
    for (size_t i = 0; rc >= 0 && i < r.n; i++) {
        bson_t *filter = BCON_NEW("chatRoomId", BCON_INT64(r.ids[i]));
        int64_t n = 0;
        rc = delete_many(bs, "chat_messages", filter, &n);
        bson_destroy(filter);
        total += n > 0 ? n : 0;
    }
    free(r.ids);
    if (deleted)
        *deleted = total;
    return rc < 0 ? rc : 0;
}

int benchstore_delete_outside(struct benchstore *bs, int64_t first, int64_t last, int64_t *deleted)
{
    return delete_rooms(bs, first, last, deleted);
}

int benchstore_wipe(struct benchstore *bs)
{
    bson_t all = BSON_INITIALIZER;
    int rc = delete_many(bs, MARKER_COLLECTION, &all, NULL);
    if (rc == 0)
        rc = delete_rooms(bs, 1, 0, NULL);
    /* Messages of rooms MySQL no longer has (its schema was dropped alone):
     * few enough, one deleteMany takes them. */
    int64_t left = 0;
    if (rc == 0 && (rc = benchstore_count(bs, &left)) == 0 && left > 0)
        rc = delete_many(bs, "chat_messages", &all, NULL);
    bson_destroy(&all);
    return rc;
}

int benchstore_insert(struct benchstore *bs, struct chat_message *msgs, size_t n)
{
    int *status = calloc(n ? n : 1, sizeof *status);
    if (!status)
        return ERR_NOMEM;
    int rc = msgstore_insert_many(bs->ms, msgs, n, status);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (status[i] != 0)
            rc = status[i];
    free(status);
    return rc;
}

int benchstore_seq_columns(struct benchstore *bs, int *present)
{
    struct sqldb_col col = SQLDB_COL_I64();
    int rc = sqldb_stmt_row(bs->db,
                            "SELECT COUNT(*) FROM information_schema.COLUMNS "
                            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'chat_rooms' "
                            "AND COLUMN_NAME IN ('seq_issued', 'last_seq')",
                            NULL, 0, &col, 1);
    if (rc != 0)
        return rc;
    if (col.i64 == 1)
        return ERR_INVALID;
    *present = col.i64 == 2;
    return 0;
}

int benchstore_seq_raise(struct benchstore *bs, int64_t room_id, int64_t seq)
{
    struct sqldb_arg args[] = {SQLDB_ARG_I64(seq), SQLDB_ARG_I64(seq), SQLDB_ARG_I64(room_id)};
    return sqldb_stmt_exec(bs->db,
                           "UPDATE chat_rooms SET seq_issued = GREATEST(seq_issued, ?), "
                           "last_seq = GREATEST(last_seq, ?) WHERE id = ?",
                           args, 3, NULL, NULL);
}
