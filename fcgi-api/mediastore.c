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

struct media_upload {
    struct msgstore *ms;
    mongoc_client_t *client;
    mongoc_database_t *db;
    mongoc_gridfs_bucket_t *bucket;
    mongoc_stream_t *stream;
    bson_oid_t oid;
};

static void upload_free(struct media_upload *up)
{
    if (up->stream)
        mongoc_stream_destroy(up->stream);
    if (up->bucket)
        mongoc_gridfs_bucket_destroy(up->bucket);
    if (up->db)
        mongoc_database_destroy(up->db);
    msgstore_client_push(up->ms, up->client);
    free(up);
}

int mediastore_upload_open(struct msgstore *ms, const char *database, int64_t room_id,
                           int64_t user_id, unsigned char oid[MEDIA_OID_LEN],
                           struct media_upload **out)
{
    bson_error_t e;
    int rc = ERR_NOMEM;
    struct media_upload *up = calloc(1, sizeof *up);
    if (!up)
        return ERR_NOMEM;
    up->ms = ms;
    if (!(up->client = msgstore_client_pop(ms)))
        goto fail;
    up->db = mongoc_client_get_database(up->client, database);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&opts, "bucketName", BUCKET);
    up->bucket = mongoc_gridfs_bucket_new(up->db, &opts, NULL, &e);
    bson_destroy(&opts);
    if (!up->bucket) {
        rc = msgstore_error(&e);
        goto fail;
    }
    bson_oid_init(&up->oid, NULL);
    bson_value_t id = {.value_type = BSON_TYPE_OID};
    id.value.v_oid = up->oid;
    bson_t *uopts = BCON_NEW("metadata", "{", "room", BCON_INT64(room_id), "uploader",
                             BCON_INT64(user_id), "ready", BCON_BOOL(false), "}");
    up->stream = mongoc_gridfs_bucket_open_upload_stream_with_id(up->bucket, &id, "upload", uopts, &e);
    bson_destroy(uopts);
    if (!up->stream) {
        rc = msgstore_error(&e);
        goto fail;
    }
    memcpy(oid, up->oid.bytes, MEDIA_OID_LEN);
    *out = up;
    return 0;
fail:
    upload_free(up);
    return rc;
}

int mediastore_upload_write(void *arg, const void *buf, size_t n)
{
    struct media_upload *up = arg;
    bson_error_t e;
    ssize_t w = mongoc_stream_write(up->stream, (void *) buf, n, 0);
    if (w == (ssize_t) n)
        return 0;
    return mongoc_gridfs_bucket_stream_error(up->stream, &e) ? msgstore_error(&e) : ERR_IO;
}

void mediastore_upload_abort(struct media_upload *up)
{
    if (!up)
        return;
    mongoc_gridfs_bucket_abort_upload(up->stream); /* deletes the chunks written */
    upload_free(up);
}

int mediastore_upload_finish(struct media_upload *up, const struct media_facts *facts)
{
    bson_error_t e;
    int rc = 0;
    if (mongoc_stream_close(up->stream) != 0) {
        rc = mongoc_gridfs_bucket_stream_error(up->stream, &e) ? msgstore_error(&e) : ERR_IO;
        mediastore_upload_abort(up);
        return rc;
    }
    mongoc_collection_t *files = mongoc_database_get_collection(up->db, BUCKET ".files");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&up->oid));
    bson_t *update = BCON_NEW("$set", "{", "metadata.type", BCON_UTF8(facts->mime), "metadata.width",
                              BCON_INT32(facts->width), "metadata.height",
                              BCON_INT32(facts->height), "metadata.ready", BCON_BOOL(true), "}");
    if (!mongoc_collection_update_one(files, filter, update, NULL, NULL, &e)) {
        rc = msgstore_error(&e);
        bson_value_t id = {.value_type = BSON_TYPE_OID};
        id.value.v_oid = up->oid;
        mongoc_gridfs_bucket_delete_by_id(up->bucket, &id, NULL);
    }
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(files);
    upload_free(up);
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

int mediastore_lookup(struct msgstore *ms, const char *database,
                      const unsigned char oid[MEDIA_OID_LEN], struct media_file *f)
{
    bson_error_t e;
    const bson_t *doc;
    bson_oid_t id;
    int rc = ERR_NOT_FOUND;
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    memcpy(id.bytes, oid, MEDIA_OID_LEN);
    mongoc_collection_t *files = mongoc_client_get_collection(client, database, BUCKET ".files");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&id));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, opts, NULL);
    if (mongoc_cursor_next(cur, &doc))
        rc = doc_to_file(doc, f);
    else if (mongoc_cursor_error(cur, &e))
        rc = msgstore_error(&e);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(files);
    msgstore_client_push(ms, client);
    return rc;
}

/* open_bucket: the media bucket of database on client. */
static mongoc_gridfs_bucket_t *open_bucket(mongoc_database_t *db, bson_error_t *e)
{
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&opts, "bucketName", BUCKET);
    mongoc_gridfs_bucket_t *b = mongoc_gridfs_bucket_new(db, &opts, NULL, e);
    bson_destroy(&opts);
    return b;
}

struct media_reader {
    struct msgstore *ms;
    mongoc_client_t *client;
    mongoc_database_t *db;
    mongoc_gridfs_bucket_t *bucket;
    mongoc_stream_t *stream;
};

void mediastore_reader_close(struct media_reader *r)
{
    if (!r)
        return;
    if (r->stream)
        mongoc_stream_destroy(r->stream);
    if (r->bucket)
        mongoc_gridfs_bucket_destroy(r->bucket);
    if (r->db)
        mongoc_database_destroy(r->db);
    msgstore_client_push(r->ms, r->client);
    free(r);
}

int mediastore_reader_open(struct msgstore *ms, const char *database,
                           const unsigned char oid[MEDIA_OID_LEN], struct media_reader **out)
{
    bson_error_t e;
    int rc = ERR_NOMEM;
    struct media_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ERR_NOMEM;
    r->ms = ms;
    if (!(r->client = msgstore_client_pop(ms)))
        goto fail;
    r->db = mongoc_client_get_database(r->client, database);
    bson_value_t id = {.value_type = BSON_TYPE_OID};
    memcpy(id.value.v_oid.bytes, oid, MEDIA_OID_LEN);
    if (!(r->bucket = open_bucket(r->db, &e)) ||
        !(r->stream = mongoc_gridfs_bucket_open_download_stream(r->bucket, &id, &e))) {
        rc = msgstore_error(&e);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    mediastore_reader_close(r);
    return rc;
}

long mediastore_reader_read(void *arg, char *buf, size_t n)
{
    struct media_reader *r = arg;
    ssize_t k = mongoc_stream_read(r->stream, buf, n, 1, 0);
    return k < 0 ? -1 : (long) k;
}

int mediastore_put_thumb(struct msgstore *ms, const char *database,
                         const unsigned char parent[MEDIA_OID_LEN], int64_t room_id,
                         const void *data, size_t len, int w, int h)
{
    bson_error_t e;
    int rc = 0;
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    mongoc_database_t *db = mongoc_client_get_database(client, database);
    mongoc_gridfs_bucket_t *bucket = open_bucket(db, &e);
    mongoc_stream_t *s = NULL;
    bson_oid_t poid, toid;
    memcpy(poid.bytes, parent, MEDIA_OID_LEN);
    bson_oid_init(&toid, NULL);
    bson_value_t id = {.value_type = BSON_TYPE_OID};
    id.value.v_oid = toid;
    bson_t *opts = BCON_NEW("metadata", "{", "room", BCON_INT64(room_id), "thumbOf",
                            BCON_OID(&poid), "type", BCON_UTF8("image/webp"), "width",
                            BCON_INT32(w), "height", BCON_INT32(h), "ready", BCON_BOOL(true), "}");
    if (!bucket ||
        !(s = mongoc_gridfs_bucket_open_upload_stream_with_id(bucket, &id, "thumb", opts, &e))) {
        rc = msgstore_error(&e);
        goto out;
    }
    if (mongoc_stream_write(s, (void *) data, len, 0) != (ssize_t) len) {
        mongoc_gridfs_bucket_abort_upload(s);
        rc = ERR_UNAVAILABLE;
        goto out;
    }
    if (mongoc_stream_close(s) != 0) {
        rc = mongoc_gridfs_bucket_stream_error(s, &e) ? msgstore_error(&e) : ERR_UNAVAILABLE;
        goto out;
    }
    mongoc_collection_t *files = mongoc_database_get_collection(db, BUCKET ".files");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&poid));
    bson_t *update = BCON_NEW("$set", "{", "metadata.thumb", BCON_OID(&toid), "}");
    if (!mongoc_collection_update_one(files, filter, update, NULL, NULL, &e)) {
        rc = msgstore_error(&e);
        mongoc_gridfs_bucket_delete_by_id(bucket, &id, NULL);
    }
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(files);
out:
    if (s)
        mongoc_stream_destroy(s);
    bson_destroy(opts);
    if (bucket)
        mongoc_gridfs_bucket_destroy(bucket);
    mongoc_database_destroy(db);
    msgstore_client_push(ms, client);
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

int mediastore_usage(struct msgstore *ms, const char *database, int64_t user_id, int64_t since_ms,
                     int64_t *recent, int64_t *bytes)
{
    bson_error_t e;
    const bson_t *doc;
    int rc = 0;
    *recent = *bytes = 0;
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    mongoc_collection_t *files = mongoc_client_get_collection(client, database, BUCKET ".files");
    bson_t *filter = BCON_NEW("metadata.uploader", BCON_INT64(user_id));
    bson_t *opts = BCON_NEW("projection", "{", "length", BCON_INT32(1), "uploadDate",
                            BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        int64_t len = doc_int(doc, "length");
        *bytes += len > 0 ? len : 0;
        if (bson_iter_init_find(&it, doc, "uploadDate") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
            bson_iter_date_time(&it) > since_ms)
            (*recent)++;
    }
    if (mongoc_cursor_error(cur, &e))
        rc = msgstore_error(&e);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(files);
    msgstore_client_push(ms, client);
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
    mongoc_client_t *client = msgstore_client_pop(ms);
    if (!client)
        return ERR_NOMEM;
    mongoc_database_t *db = mongoc_client_get_database(client, database);
    mongoc_gridfs_bucket_t *bucket = open_bucket(db, &e);
    if (!bucket) {
        rc = msgstore_error(&e);
        goto out;
    }
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
    mongoc_gridfs_bucket_destroy(bucket);
out:
    mongoc_database_destroy(db);
    msgstore_client_push(ms, client);
    return rc;
}
