/*
 * mediastore.c - GridFS access for media (see mediastore.h).
 *
 * Each call pops a client from the msgstore's pool for its duration. The
 * upload holds one client for the whole upload: the bucket's stream keeps
 * it.
 */
#include "mediastore.h"
#include "errors.h"

#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET "media"

/* gfs: a client of the pool with the media bucket of one database open,
 * and the upload or download stream in use, if any. */
struct gfs {
    struct msgstore *ms;
    mongoc_client_t *client;
    mongoc_database_t *db;
    mongoc_gridfs_bucket_t *bucket;
    mongoc_stream_t *stream;
    bson_oid_t oid; /* the file of the stream */
};

struct media_upload {
    struct gfs g;
};

struct media_reader {
    struct gfs g;
};

static void gfs_close(struct gfs *g)
{
    if (g->stream)
        mongoc_stream_destroy(g->stream);
    if (g->bucket)
        mongoc_gridfs_bucket_destroy(g->bucket);
    if (g->db)
        mongoc_database_destroy(g->db);
    msgstore_client_push(g->ms, g->client);
    memset(g, 0, sizeof *g);
}

/* gfs_open: *g ready for database's bucket; on failure nothing is held. */
static int gfs_open(struct msgstore *ms, const char *database, struct gfs *g)
{
    bson_error_t e;
    memset(g, 0, sizeof *g);
    g->ms = ms;
    if (!(g->client = msgstore_client_pop(ms)))
        return ERR_NOMEM;
    g->db = mongoc_client_get_database(g->client, database);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&opts, "bucketName", BUCKET);
    g->bucket = mongoc_gridfs_bucket_new(g->db, &opts, NULL, &e);
    bson_destroy(&opts);
    if (!g->bucket) {
        gfs_close(g);
        return msgstore_error(&e);
    }
    return 0;
}

/* gfs_upload: start a file with a new ObjectId (g->oid) and metadata. */
static int gfs_upload(struct gfs *g, const char *filename, const bson_t *metadata)
{
    bson_error_t e;
    bson_oid_init(&g->oid, NULL);
    bson_value_t id = {.value_type = BSON_TYPE_OID};
    id.value.v_oid = g->oid;
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&opts, "metadata", metadata);
    g->stream =
        mongoc_gridfs_bucket_open_upload_stream_with_id(g->bucket, &id, filename, &opts, &e);
    bson_destroy(&opts);
    return g->stream ? 0 : msgstore_error(&e);
}

/* stream_error: the project code of the stream's last error. */
static int stream_error(mongoc_stream_t *stream)
{
    bson_error_t e;
    return mongoc_gridfs_bucket_stream_error(stream, &e) ? msgstore_error(&e) : ERR_UNAVAILABLE;
}

/* gfs_finish: close the upload (the files document appears), then, when
 * set is not NULL, $set it on that document; on failure the file is
 * deleted again. */
static int gfs_finish(struct gfs *g, const bson_t *set)
{
    bson_error_t e;
    if (mongoc_stream_close(g->stream) != 0) {
        int rc = stream_error(g->stream);
        mongoc_gridfs_bucket_abort_upload(g->stream);
        return rc;
    }
    if (!set)
        return 0;
    mongoc_collection_t *files = mongoc_database_get_collection(g->db, BUCKET ".files");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&g->oid));
    bson_t update = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&update, "$set", set);
    int rc = 0;
    if (!mongoc_collection_update_one(files, filter, &update, NULL, NULL, &e)) {
        rc = msgstore_error(&e);
        bson_value_t id = {.value_type = BSON_TYPE_OID};
        id.value.v_oid = g->oid;
        mongoc_gridfs_bucket_delete_by_id(g->bucket, &id, NULL);
    }
    bson_destroy(filter);
    bson_destroy(&update);
    mongoc_collection_destroy(files);
    return rc;
}

int mediastore_upload_open(struct msgstore *ms, const char *database, int64_t room_id,
                           int64_t user_id, unsigned char oid[MEDIA_OID_LEN],
                           struct media_upload **out)
{
    struct media_upload *up = calloc(1, sizeof *up);
    if (!up)
        return ERR_NOMEM;
    int rc = gfs_open(ms, database, &up->g);
    if (rc == 0) {
        bson_t *meta = BCON_NEW("room", BCON_INT64(room_id), "uploader", BCON_INT64(user_id),
                                "ready", BCON_BOOL(false));
        rc = gfs_upload(&up->g, "upload", meta);
        bson_destroy(meta);
        if (rc != 0)
            gfs_close(&up->g);
    }
    if (rc != 0) {
        free(up);
        return rc;
    }
    memcpy(oid, up->g.oid.bytes, MEDIA_OID_LEN);
    *out = up;
    return 0;
}

int mediastore_upload_write(void *arg, const void *buf, size_t n)
{
    struct media_upload *up = arg;
    ssize_t w = mongoc_stream_write(up->g.stream, (void *) buf, n, 0);
    return w == (ssize_t) n ? 0 : stream_error(up->g.stream);
}

void mediastore_upload_abort(struct media_upload *up)
{
    if (!up)
        return;
    mongoc_gridfs_bucket_abort_upload(up->g.stream); /* deletes the chunks written */
    gfs_close(&up->g);
    free(up);
}

int mediastore_upload_finish(struct media_upload *up, const struct media_facts *facts)
{
    bson_t *set = BCON_NEW("metadata.type", BCON_UTF8(facts->mime), "metadata.width",
                           BCON_INT32(facts->width), "metadata.height", BCON_INT32(facts->height),
                           "metadata.ready", BCON_BOOL(true));
    int rc = gfs_finish(&up->g, set);
    bson_destroy(set);
    gfs_close(&up->g);
    free(up);
    return rc;
}

static int64_t doc_int(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;
    bson_iter_init(&it, doc);
    return bson_iter_find_descendant(&it, path, &sub) && BSON_ITER_HOLDS_NUMBER(&sub)
               ? bson_iter_as_int64(&sub)
               : -1;
}

/* doc_to_file: *f from a files document; ERR_NOT_FOUND unless ready. */
static int doc_to_file(const bson_t *doc, struct media_file *f)
{
    bson_iter_t it, sub;
    memset(f, 0, sizeof *f);
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
        return ERR_NOT_FOUND;
    memcpy(f->oid, bson_iter_oid(&it)->bytes, MEDIA_OID_LEN);
    bson_iter_init(&it, doc);
    if (!bson_iter_find_descendant(&it, "metadata.ready", &sub) || !bson_iter_as_bool(&sub))
        return ERR_NOT_FOUND;
    bson_iter_init(&it, doc);
    if (!bson_iter_find_descendant(&it, "metadata.type", &sub) || !BSON_ITER_HOLDS_UTF8(&sub))
        return ERR_NOT_FOUND;
    snprintf(f->facts.mime, sizeof f->facts.mime, "%s", bson_iter_utf8(&sub, NULL));
    f->room_id = doc_int(doc, "metadata.room");
    f->uploader_id = doc_int(doc, "metadata.uploader");
    f->facts.width = (int) doc_int(doc, "metadata.width");
    f->facts.height = (int) doc_int(doc, "metadata.height");
    f->facts.size = doc_int(doc, "length");
    f->chunk_size = (int) doc_int(doc, "chunkSize");
    if (bson_iter_init_find(&it, doc, "uploadDate") && BSON_ITER_HOLDS_DATE_TIME(&it))
        f->upload_ms = bson_iter_date_time(&it);
    bson_iter_init(&it, doc);
    if (bson_iter_find_descendant(&it, "metadata.thumb", &sub) && BSON_ITER_HOLDS_OID(&sub)) {
        memcpy(f->thumb_oid, bson_iter_oid(&sub)->bytes, MEDIA_OID_LEN);
        f->has_thumb = 1;
    }
    if (f->room_id <= 0 || f->facts.size < 0 || f->chunk_size <= 0)
        return ERR_NOT_FOUND;
    return 0;
}

/* files_each: find(filter, opts) on media.files, fn called on each
 * document until it returns non-zero (which is returned). */
static int files_each(struct msgstore *ms, const char *database, const bson_t *filter,
                      const bson_t *opts, int (*fn)(const bson_t *doc, void *arg), void *arg)
{
    bson_error_t e;
    const bson_t *doc;
    int rc = 0;
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    mongoc_collection_t *files = mongoc_client_get_collection(client, database, BUCKET ".files");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, opts, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc))
        rc = fn(doc, arg);
    if (rc == 0 && mongoc_cursor_error(cur, &e))
        rc = msgstore_error(&e);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(files);
    msgstore_client_push(ms, client);
    return rc;
}

/* found_file: files_each callback filling the struct media_file at arg;
 * 1 when the file is ready. */
static int found_file(const bson_t *doc, void *arg)
{
    return doc_to_file(doc, arg) == 0 ? 1 : ERR_NOT_FOUND;
}

int mediastore_lookup(struct msgstore *ms, const char *database,
                      const unsigned char oid[MEDIA_OID_LEN], struct media_file *f)
{
    bson_oid_t id;
    memcpy(id.bytes, oid, MEDIA_OID_LEN);
    bson_t *filter = BCON_NEW("_id", BCON_OID(&id));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    int rc = files_each(ms, database, filter, opts, found_file, f);
    bson_destroy(filter);
    bson_destroy(opts);
    return rc == 1 ? 0 : rc == 0 ? ERR_NOT_FOUND : rc;
}

void mediastore_reader_close(struct media_reader *r)
{
    if (!r)
        return;
    gfs_close(&r->g);
    free(r);
}

int mediastore_reader_open(struct msgstore *ms, const char *database,
                           const unsigned char oid[MEDIA_OID_LEN], struct media_reader **out)
{
    bson_error_t e;
    struct media_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ERR_NOMEM;
    int rc = gfs_open(ms, database, &r->g);
    if (rc == 0) {
        bson_value_t id = {.value_type = BSON_TYPE_OID};
        memcpy(id.value.v_oid.bytes, oid, MEDIA_OID_LEN);
        r->g.stream = mongoc_gridfs_bucket_open_download_stream(r->g.bucket, &id, &e);
        if (!r->g.stream) {
            rc = msgstore_error(&e);
            gfs_close(&r->g);
        }
    }
    if (rc != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

long mediastore_reader_read(void *arg, char *buf, size_t n)
{
    struct media_reader *r = arg;
    ssize_t k = mongoc_stream_read(r->g.stream, buf, n, 1, 0);
    return k < 0 ? -1 : (long) k;
}

int mediastore_put_thumb(struct msgstore *ms, const char *database,
                         const unsigned char parent[MEDIA_OID_LEN], int64_t room_id,
                         const void *data, size_t len, int w, int h)
{
    struct gfs g;
    bson_oid_t poid;
    memcpy(poid.bytes, parent, MEDIA_OID_LEN);
    int rc = gfs_open(ms, database, &g);
    if (rc != 0)
        return rc;
    bson_t *meta = BCON_NEW("room", BCON_INT64(room_id), "thumbOf", BCON_OID(&poid), "type",
                            BCON_UTF8("image/webp"), "width", BCON_INT32(w), "height",
                            BCON_INT32(h), "ready", BCON_BOOL(true));
    rc = gfs_upload(&g, "thumb", meta);
    bson_destroy(meta);
    if (rc == 0 && mongoc_stream_write(g.stream, (void *) data, len, 0) != (ssize_t) len) {
        rc = stream_error(g.stream);
        mongoc_gridfs_bucket_abort_upload(g.stream);
    } else if (rc == 0) {
        rc = gfs_finish(&g, NULL);
    }
    /* The thumbnail is complete; now the picture names it. */
    if (rc == 0) {
        bson_error_t e;
        mongoc_collection_t *files = mongoc_database_get_collection(g.db, BUCKET ".files");
        bson_t *filter = BCON_NEW("_id", BCON_OID(&poid));
        bson_t *update = BCON_NEW("$set", "{", "metadata.thumb", BCON_OID(&g.oid), "}");
        if (!mongoc_collection_update_one(files, filter, update, NULL, NULL, &e)) {
            rc = msgstore_error(&e);
            bson_value_t id = {.value_type = BSON_TYPE_OID};
            id.value.v_oid = g.oid;
            mongoc_gridfs_bucket_delete_by_id(g.bucket, &id, NULL);
        }
        bson_destroy(filter);
        bson_destroy(update);
        mongoc_collection_destroy(files);
    }
    gfs_close(&g);
    return rc;
}

/* send_chunk: the part of chunk doc (number n) that falls in [from, to). */
static int send_chunk(const bson_t *doc, const struct media_file *f, int64_t n, int64_t from,
                      int64_t to, int (*write)(void *, const char *, size_t), void *warg)
{
    bson_iter_t it;
    const uint8_t *data = NULL;
    uint32_t len = 0;
    bson_subtype_t sub;
    if (doc_int(doc, "n") != n || !bson_iter_init_find(&it, doc, "data") ||
        !BSON_ITER_HOLDS_BINARY(&it))
        return ERR_INTERNAL;
    bson_iter_binary(&it, &sub, &len, &data);
    int64_t base = n * f->chunk_size;
    int64_t a = from > base ? from - base : 0;
    int64_t b = to - base < (int64_t) len ? to - base : (int64_t) len;
    return a < b ? write(warg, (const char *) data + a, (size_t) (b - a)) : ERR_INTERNAL;
}

/* send_query: the chunks first..last of one query, in order. */
static int send_query(mongoc_collection_t *chunks, const bson_t *filter, const bson_t *opts,
                      const struct media_file *f, int64_t first, int64_t last, int64_t from,
                      int64_t to, int (*write)(void *, const char *, size_t), void *warg)
{
    bson_error_t e;
    const bson_t *doc;
    int rc = 0;
    int64_t n = first;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(chunks, filter, opts, NULL);
    while (rc == 0 && n <= last && mongoc_cursor_next(cur, &doc))
        rc = send_chunk(doc, f, n++, from, to, write, warg);
    if (rc == 0 && mongoc_cursor_error(cur, &e))
        rc = msgstore_error(&e);
    else if (rc == 0 && n != last + 1)
        rc = ERR_INTERNAL; /* a chunk is missing */
    mongoc_cursor_destroy(cur);
    return rc;
}

int mediastore_send(struct msgstore *ms, const char *database, const struct media_file *f,
                    int64_t from, int64_t to, int (*write)(void *, const char *, size_t),
                    void *warg)
{
    bson_oid_t id;
    int rc = 0;
    if (from >= to)
        return 0;
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    memcpy(id.bytes, f->oid, MEDIA_OID_LEN);
    mongoc_collection_t *chunks = mongoc_client_get_collection(client, database, BUCKET ".chunks");
    int64_t first = from / f->chunk_size, last = (to - 1) / f->chunk_size;
    int64_t total = (f->facts.size + f->chunk_size - 1) / f->chunk_size;
    if ((last - first + 1) * 2 > total) {
        /* Most of the file (a whole download, or a player's "bytes=0-"):
         * one query. FerretDB applies the n range and the sort itself,
         * after fetching the file's chunks by files_id. */
        bson_t *filter = BCON_NEW("files_id", BCON_OID(&id), "n", "{", "$gte", BCON_INT64(first),
                                  "$lte", BCON_INT64(last), "}");
        bson_t *opts = BCON_NEW("sort", "{", "n", BCON_INT32(1), "}", "batchSize", BCON_INT32(4));
        rc = send_query(chunks, filter, opts, f, first, last, from, to, write, warg);
        bson_destroy(filter);
        bson_destroy(opts);
    } else {
        /* A part (a player seeking): one query per chunk, both fields by
         * equality, which the store answers from one index (see
         * ferretdb-pg/0003_media_chunks_file_n_gin.sql), reading only the
         * chunks asked for. */
        bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
        for (int64_t n = first; rc == 0 && n <= last; n++) {
            bson_t *filter = BCON_NEW("files_id", BCON_OID(&id), "n", BCON_INT32((int32_t) n));
            rc = send_query(chunks, filter, opts, f, n, n, from, to, write, warg);
            bson_destroy(filter);
        }
        bson_destroy(opts);
    }
    mongoc_collection_destroy(chunks);
    msgstore_client_push(ms, client);
    return rc;
}

/* What mediastore_usage counts. */
struct usage {
    int64_t since_ms, recent, bytes;
};

static int count_usage(const bson_t *doc, void *arg)
{
    struct usage *u = arg;
    bson_iter_t it;
    int64_t len = doc_int(doc, "length");
    u->bytes += len > 0 ? len : 0;
    if (bson_iter_init_find(&it, doc, "uploadDate") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
        bson_iter_date_time(&it) > u->since_ms)
        u->recent++;
    return 0;
}

int mediastore_usage(struct msgstore *ms, const char *database, int64_t user_id, int64_t since_ms,
                     int64_t *recent, int64_t *bytes)
{
    struct usage u = {since_ms, 0, 0};
    bson_t *filter = BCON_NEW("metadata.uploader", BCON_INT64(user_id));
    bson_t *opts =
        BCON_NEW("projection", "{", "length", BCON_INT32(1), "uploadDate", BCON_INT32(1), "}");
    int rc = files_each(ms, database, filter, opts, count_usage, &u);
    bson_destroy(filter);
    bson_destroy(opts);
    *recent = u.recent;
    *bytes = u.bytes;
    return rc;
}

/* referenced: 1 when a message of f's room carries f's media id. */
static int referenced(mongoc_database_t *db, const unsigned char *key, const struct media_file *f)
{
    bson_error_t e;
    char id[MEDIA_ID_LEN + 1];
    media_id_make(key, f->oid, f->room_id, &f->facts, id);
    mongoc_collection_t *msgs = mongoc_database_get_collection(db, "chat_messages");
    bson_t *filter = BCON_NEW("chatRoomId", BCON_INT64(f->room_id), "mediaId", BCON_UTF8(id));
    int64_t n = mongoc_collection_count_documents(msgs, filter, NULL, NULL, NULL, &e);
    bson_destroy(filter);
    mongoc_collection_destroy(msgs);
    return n < 0 ? msgstore_error(&e) : n > 0;
}

/* gc_orphan_chunks: chunks whose upload never finished (no files
 * document), of uploads started before cutoff_ms. */
static int gc_orphan_chunks(mongoc_database_t *db, int64_t cutoff_ms, int *removed)
{
    bson_error_t e;
    bson_t reply;
    bson_iter_t it, arr;
    bson_t *cmd = BCON_NEW("distinct", BUCKET ".chunks", "key", "files_id");
    int rc = 0;
    if (!mongoc_database_command_simple(db, cmd, NULL, &reply, &e)) {
        bson_destroy(cmd);
        bson_destroy(&reply);
        return msgstore_error(&e);
    }
    bson_destroy(cmd);
    mongoc_collection_t *files = mongoc_database_get_collection(db, BUCKET ".files");
    mongoc_collection_t *chunks = mongoc_database_get_collection(db, BUCKET ".chunks");
    if (bson_iter_init_find(&it, &reply, "values") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr)) {
        while (rc == 0 && bson_iter_next(&arr)) {
            if (!BSON_ITER_HOLDS_OID(&arr))
                continue;
            const bson_oid_t *oid = bson_iter_oid(&arr);
            if ((int64_t) bson_oid_get_time_t(oid) * 1000 >= cutoff_ms)
                continue;
            bson_t *filter = BCON_NEW("_id", BCON_OID(oid));
            int64_t n = mongoc_collection_count_documents(files, filter, NULL, NULL, NULL, &e);
            bson_destroy(filter);
            if (n < 0) {
                rc = msgstore_error(&e);
                break;
            }
            if (n > 0)
                continue;
            filter = BCON_NEW("files_id", BCON_OID(oid));
            if (!mongoc_collection_delete_many(chunks, filter, NULL, NULL, &e))
                rc = msgstore_error(&e);
            else
                (*removed)++;
            bson_destroy(filter);
        }
    }
    bson_destroy(&reply);
    mongoc_collection_destroy(files);
    mongoc_collection_destroy(chunks);
    return rc;
}

int mediastore_gc(struct msgstore *ms, const char *database, const unsigned char *key,
                  int64_t cutoff_ms, int *removed, int *kept)
{
    bson_error_t e;
    const bson_t *doc;
    int rc = 0;
    *removed = *kept = 0;
    struct gfs g;
    if ((rc = gfs_open(ms, database, &g)) != 0)
        return rc;
    mongoc_database_t *db = g.db;
    mongoc_gridfs_bucket_t *bucket = g.bucket;
    mongoc_collection_t *files = mongoc_database_get_collection(db, BUCKET ".files");
    /* Thumbnails (metadata.thumbOf) go with their picture. */
    bson_t *filter = BCON_NEW("uploadDate", "{", "$lt", BCON_DATE_TIME(cutoff_ms), "}",
                              "metadata.referenced", "{", "$ne", BCON_BOOL(true), "}",
                              "metadata.thumbOf", "{", "$exists", BCON_BOOL(false), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, NULL, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        struct media_file f;
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
            continue;
        bson_value_t id = {.value_type = BSON_TYPE_OID};
        bson_oid_copy(bson_iter_oid(&it), &id.value.v_oid);
        int ref = doc_to_file(doc, &f) == 0 ? referenced(db, key, &f) : 0;
        if (ref < 0) {
            rc = ref;
        } else if (ref) {
            bson_t *sel = BCON_NEW("_id", BCON_OID(&id.value.v_oid));
            bson_t *upd = BCON_NEW("$set", "{", "metadata.referenced", BCON_BOOL(true), "}");
            if (!mongoc_collection_update_one(files, sel, upd, NULL, NULL, &e))
                rc = msgstore_error(&e);
            bson_destroy(sel);
            bson_destroy(upd);
            (*kept)++;
        } else if (!mongoc_gridfs_bucket_delete_by_id(bucket, &id, &e)) {
            rc = msgstore_error(&e);
        } else {
            (*removed)++;
            if (f.has_thumb) {
                bson_value_t tid = {.value_type = BSON_TYPE_OID};
                memcpy(tid.value.v_oid.bytes, f.thumb_oid, MEDIA_OID_LEN);
                if (!mongoc_gridfs_bucket_delete_by_id(bucket, &tid, &e))
                    rc = msgstore_error(&e);
            }
        }
    }
    if (rc == 0 && mongoc_cursor_error(cur, &e))
        rc = msgstore_error(&e);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(files);
    if (rc == 0)
        rc = gc_orphan_chunks(db, cutoff_ms, removed);
    gfs_close(&g);
    return rc;
}
