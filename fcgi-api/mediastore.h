/*
 * mediastore.h - uploaded pictures and videos in MongoDB GridFS (bucket
 * "media": collections media.files and media.chunks, next to
 * chat_messages).
 *
 * Uploads go through the driver's GridFS bucket API, written chunk by chunk
 * as the bytes arrive; the files document appears only when the upload is
 * finished, and an upload that fails is aborted, which deletes the chunks
 * already written, so no partial file is ever visible. The files document
 * carries in `metadata` the room, the uploader, what the upload found
 * (type, pixel size) and `ready`; only ready files are served. Reads fetch
 * the chunks of one file by `files_id` (and `n` for a range), never
 * anything of another file: one chunk per query.
 */
#ifndef CHAT_MEDIASTORE_H
#define CHAT_MEDIASTORE_H

#include "media_id.h"
#include "msgstore.h"

#include <stddef.h>
#include <stdint.h>

struct media_upload;

/* A stored file, as its files document describes it. */
struct media_file {
    unsigned char oid[MEDIA_OID_LEN];
    int64_t room_id, uploader_id;
    int64_t upload_ms; /* uploadDate */
    int chunk_size;
    struct media_facts facts; /* facts.size: the stored length */
    int has_thumb;
    unsigned char thumb_oid[MEDIA_OID_LEN]; /* when has_thumb */
};

struct media_reader;

/* mediastore_upload_open: start a file for room_id by user_id with a new
 * ObjectId (in oid). 0, or a project error code. */
int mediastore_upload_open(struct msgstore *ms, const char *database, int64_t room_id,
                           int64_t user_id, unsigned char oid[MEDIA_OID_LEN],
                           struct media_upload **out);

/* mediastore_upload_write: append n bytes (a media_scan writer; arg is the
 * struct media_upload). 0, or a project error code. */
int mediastore_upload_write(void *arg, const void *buf, size_t n);

/* mediastore_upload_finish: complete the file and mark it ready with
 * facts; releases up. On failure nothing of the file is left. */
int mediastore_upload_finish(struct media_upload *up, const struct media_facts *facts);

/* mediastore_upload_abort: drop the file and every chunk written; releases
 * up; NULL-safe. */
void mediastore_upload_abort(struct media_upload *up);

/* mediastore_lookup: the ready file oid. ERR_NOT_FOUND when there is none
 * (or it is not finished). */
int mediastore_lookup(struct msgstore *ms, const char *database,
                      const unsigned char oid[MEDIA_OID_LEN], struct media_file *f);

/* mediastore_reader_open: read the stored bytes of file oid in order;
 * mediastore_reader_read has the media_scan reader shape (arg: the
 * reader). */
int mediastore_reader_open(struct msgstore *ms, const char *database,
                           const unsigned char oid[MEDIA_OID_LEN], struct media_reader **out);
long mediastore_reader_read(void *arg, char *buf, size_t n);
void mediastore_reader_close(struct media_reader *r);

/* mediastore_put_thumb: store the thumbnail (WebP, w x h) of file parent
 * and record it in the parent's metadata. */
int mediastore_put_thumb(struct msgstore *ms, const char *database,
                         const unsigned char parent[MEDIA_OID_LEN], int64_t room_id,
                         const void *data, size_t len, int w, int h);

/* mediastore_send: write bytes [from, to) of f through write (an
 * api_write_fn), reading only the chunks that hold them. */
int mediastore_send(struct msgstore *ms, const char *database, const struct media_file *f,
                    int64_t from, int64_t to, int (*write)(void *, const char *, size_t),
                    void *warg);

/* mediastore_usage: of user_id's stored files, how many were uploaded
 * after since_ms and how many bytes all of them hold. */
int mediastore_usage(struct msgstore *ms, const char *database, int64_t user_id, int64_t since_ms,
                     int64_t *recent, int64_t *bytes);

/* mediastore_gc: remove files uploaded before cutoff_ms that no message
 * of their room names (media id made with key), and chunks of uploads
 * that never finished, older than cutoff_ms. Files found in a message are
 * marked so they are not looked at again. Counts in *removed / *kept. */
int mediastore_gc(struct msgstore *ms, const char *database, const unsigned char *key,
                  int64_t cutoff_ms, int *removed, int *kept);

#endif
