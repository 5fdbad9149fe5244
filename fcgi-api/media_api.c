/*
 * media_api.c - upload and download of room media (see media_api.h).
 *
 * The upload runs the body through media_scan (type by signature, pixel
 * size, metadata removed) straight into a GridFS upload stream: memory
 * stays at the scan's two 64 KiB windows and the driver's one chunk,
 * whatever the file's size. Any failure aborts the GridFS upload, which
 * deletes what was written.
 */
#include "media_api.h"
#include "errors.h"
#include "log.h"
#include "media_id.h"
#include "media_scan.h"
#include "media_thumb.h"
#include "mediastore.h"
#include "rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* member_or_404: 1 when the caller is in room; else 0 after answering. */
static int member_or_404(struct api_ctx *ctx, int64_t room, int64_t user, struct api_resp *resp)
{
    int rc = rooms_is_member(ctx->db, room, user);
    if (rc < 0) {
        api_resp_fail(resp, rc);
        return 0;
    }
    if (rc == 0)
        api_resp_error(resp, 404, "not_found", "no such chat room");
    return rc == 1;
}

/* check_limits: the hourly count and the quota; 0, or -1 after answering. */
static int check_limits(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const struct config *cfg = ctx->cfg;
    int64_t recent = 0, bytes = 0;
    if (!cfg->media_uploads_per_hour && !cfg->media_quota_mb)
        return 0;
    int rc = mediastore_usage(ctx->ms, cfg->mongo_database, req->user.id, now_ms() - 3600000,
                              &recent, &bytes);
    if (rc != 0) {
        api_resp_fail(resp, rc);
        return -1;
    }
    if (cfg->media_uploads_per_hour && recent >= cfg->media_uploads_per_hour) {
        api_resp_header(resp, "Retry-After", "3600");
        api_resp_error(resp, 429, "rate_limited", "at most %d uploads an hour",
                       cfg->media_uploads_per_hour);
        return -1;
    }
    int64_t left = (int64_t) cfg->media_quota_mb * 1048576 - bytes;
    if (cfg->media_quota_mb && (left <= 0 || req->content_length > left)) {
        api_resp_error(resp, 413, "quota_exceeded", "your stored media would exceed %d MiB",
                       cfg->media_quota_mb);
        return -1;
    }
    return 0;
}

static void answer_scan_error(struct api_resp *resp, int rc, const struct media_scan *s,
                              const struct config *cfg)
{
    switch (rc) {
    case ERR_TOO_LARGE:
        api_resp_error(resp, 413, "too_large", "a %s may have at most %d bytes",
                       media_kind_is_video(s->kind) ? "video" : "picture",
                       media_kind_is_video(s->kind) ? cfg->media_max_video_bytes
                                                    : cfg->media_max_image_bytes);
        break;
    case ERR_DENIED:
        api_resp_error(resp, 422, "too_many_pixels", "a picture may have at most %d pixels",
                       cfg->media_max_pixels);
        break;
    case ERR_INVALID:
        api_resp_error(resp, 400, "bad_request", "the file is damaged or incomplete");
        break;
    default:
        api_resp_fail(resp, rc == ERR_IO ? ERR_UNAVAILABLE : rc);
        break;
    }
}

/* make_thumb: the thumbnail of a stored picture, from the stored copy. A
 * picture without one still works (the page falls back to the picture),
 * so a failure is only logged. */
static void make_thumb(struct api_ctx *ctx, const unsigned char oid[MEDIA_OID_LEN], int64_t room,
                       const struct media_facts *facts, int orientation)
{
    struct media_reader *rd = NULL;
    void *thumb = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    const char *db = ctx->cfg->mongo_database;
    int rc = mediastore_reader_open(ctx->ms, db, oid, &rd);
    if (rc == 0)
        rc = media_thumb_make(facts->mime, orientation, mediastore_reader_read, rd, &thumb, &len,
                              &w, &h);
    mediastore_reader_close(rd);
    if (rc == 0)
        rc = mediastore_put_thumb(ctx->ms, db, oid, room, thumb, len, w, h);
    media_thumb_free(thumb);
    if (rc != 0)
        log_warn("media_thumb_failed", "type=%s err=%s", facts->mime, err_str(rc));
}

static void post_media(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const struct config *cfg = ctx->cfg;
    struct media_upload *up = NULL;
    unsigned char oid[MEDIA_OID_LEN];
    int64_t biggest = cfg->media_max_video_bytes > cfg->media_max_image_bytes
                          ? cfg->media_max_video_bytes
                          : cfg->media_max_image_bytes;
    if (req->content_length > biggest) {
        api_resp_error(resp, 413, "too_large", "the file may have at most %lld bytes",
                       (long long) biggest);
        return;
    }
    if (!member_or_404(ctx, req->path_id, req->user.id, resp) || check_limits(ctx, req, resp))
        return;
    struct media_scan *s = calloc(1, sizeof *s);
    if (!s) {
        api_resp_fail(resp, ERR_NOMEM);
        return;
    }
    s->read = req->read;
    s->read_arg = req->read_arg;
    s->max_in = biggest;
    s->max_pixels = cfg->media_max_pixels;
    int rc = media_scan_sniff(s);
    if (rc == ERR_INVALID) {
        api_resp_error(resp, 415, "unsupported_media_type",
                       "send a JPEG, PNG, GIF or WebP picture or an MP4 or WebM video");
        goto out;
    }
    s->max_in =
        media_kind_is_video(s->kind) ? cfg->media_max_video_bytes : cfg->media_max_image_bytes;
    if (rc == 0 && (req->content_length > s->max_in || s->in_bytes > s->max_in))
        rc = ERR_TOO_LARGE;
    if (rc == 0)
        rc = mediastore_upload_open(ctx->ms, cfg->mongo_database, req->path_id, req->user.id, oid,
                                    &up);
    if (rc == 0) {
        s->write = mediastore_upload_write;
        s->write_arg = up;
        rc = media_scan_copy(s);
    }
    /* A body that ended before its declared length is an aborted upload. */
    if (rc == 0 && req->content_length >= 0 && s->in_bytes != req->content_length)
        rc = ERR_INVALID;
    struct media_facts facts = {"", s->out_bytes, s->width, s->height};
    snprintf(facts.mime, sizeof facts.mime, "%s", media_kind_mime(s->kind));
    if (rc != 0) {
        mediastore_upload_abort(up);
        log_info("media_refused", "user=%lld room=%lld err=%s bytes=%lld", (long long) req->user.id,
                 (long long) req->path_id, err_str(rc), (long long) s->in_bytes);
        answer_scan_error(resp, rc, s, cfg);
        goto out;
    }
    if ((rc = mediastore_upload_finish(up, &facts)) != 0) {
        api_resp_fail(resp, rc);
        goto out;
    }
    if (!media_kind_is_video(s->kind))
        make_thumb(ctx, oid, req->path_id, &facts, s->orientation);
    char id[MEDIA_ID_LEN + 1];
    media_id_make(cfg->media_key, oid, req->path_id, &facts, id);
    cJSON *body = cJSON_CreateObject();
    int ok = body && cJSON_AddStringToObject(body, "id", id) &&
             cJSON_AddStringToObject(body, "type", facts.mime) &&
             cJSON_AddNumberToObject(body, "size", (double) facts.size) &&
             cJSON_AddNumberToObject(body, "width", facts.width) &&
             cJSON_AddNumberToObject(body, "height", facts.height);
    if (!ok) {
        cJSON_Delete(body);
        body = NULL;
    }
    log_info("media_stored", "user=%lld room=%lld type=%s bytes=%lld", (long long) req->user.id,
             (long long) req->path_id, facts.mime, (long long) facts.size);
    api_resp_json(resp, 201, body);
out:
    free(s);
}

int media_api_range(const char *h, int64_t len, int64_t *from, int64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9')
            return 0;
        long long n = strtoll(p + 1, &end, 10);
        if (*end || n <= 0)
            return n == 0 && !*end ? -1 : 0;
        *from = n >= len ? 0 : len - n;
        *to = len;
        return len > 0 ? 1 : -1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    long long a = strtoll(p, &end, 10);
    if (*end != '-')
        return 0;
    long long b = len - 1;
    if (end[1]) {
        if (end[1] < '0' || end[1] > '9')
            return 0;
        b = strtoll(end + 1, &end, 10);
        if (*end || b < a)
            return 0;
    }
    if (a >= len)
        return -1;
    *from = a;
    *to = (b >= len ? len - 1 : b) + 1;
    return 1;
}

/* A download in progress: what stream_media needs after the head. */
struct media_send {
    struct api_ctx *ctx;
    struct media_file file;
    int64_t from, to;
};

static int stream_media(void *arg, api_write_fn write, void *warg)
{
    struct media_send *ms = arg;
    int rc = mediastore_send(ms->ctx->ms, ms->ctx->cfg->mongo_database, &ms->file, ms->from, ms->to,
                             write, warg);
    if (rc != 0 && rc != ERR_IO)
        log_warn("media_send_failed", "err=%s", err_str(rc));
    return rc;
}

/* send_media: the file (or, with thumb, its thumbnail) of the id in the
 * path, to members of its room. */
static void send_media(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp, int thumb)
{
    unsigned char oid[MEDIA_OID_LEN], mac[MEDIA_MAC_LEN];
    struct media_send *ms = calloc(1, sizeof *ms);
    char etag[API_KEY_MAX + 16], val[96];
    if (!ms) {
        api_resp_fail(resp, ERR_NOMEM);
        return;
    }
    ms->ctx = ctx;
    int rc = media_id_parse(req->path_key, oid, mac);
    if (rc == 0)
        rc = mediastore_lookup(ctx->ms, ctx->cfg->mongo_database, oid, &ms->file);
    if (rc == 0 &&
        media_id_check(ctx->cfg->media_key, req->path_key, ms->file.room_id, &ms->file.facts) != 0)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_INVALID || rc == ERR_NOT_FOUND) {
        api_resp_error(resp, 404, "not_found", "no such media");
        goto fail;
    }
    if (rc != 0) {
        api_resp_fail(resp, rc);
        goto fail;
    }
    if (!member_or_404(ctx, ms->file.room_id, req->user.id, resp)) {
        if (resp->status == 404)
            api_resp_error(resp, 404, "not_found", "no such media");
        goto fail;
    }
    if (thumb) {
        rc = ms->file.has_thumb ? mediastore_lookup(ctx->ms, ctx->cfg->mongo_database,
                                                    ms->file.thumb_oid, &ms->file)
                                : ERR_NOT_FOUND;
        if (rc == ERR_NOT_FOUND)
            api_resp_error(resp, 404, "not_found", "no thumbnail for this media");
        else if (rc != 0)
            api_resp_fail(resp, rc);
        if (rc != 0)
            goto fail;
    }
    int64_t len = ms->file.facts.size;
    snprintf(etag, sizeof etag, "\"%s%s\"", req->path_key, thumb ? "-thumb" : "");
    api_resp_header(resp, "ETag", etag);
    api_resp_header(resp, "Cache-Control", "private, max-age=31536000, immutable");
    api_resp_header(resp, "X-Content-Type-Options", "nosniff");
    api_resp_header(resp, "Content-Security-Policy", "default-src 'none'; sandbox");
    api_resp_header(resp, "Accept-Ranges", "bytes");
    const char *inm = api_req_env(req, "HTTP_IF_NONE_MATCH");
    if (inm && strstr(inm, etag)) {
        api_resp_stream(resp, 304, stream_media, free, ms);
        ms->to = ms->from = 0;
        return;
    }
    int r = media_api_range(api_req_env(req, "HTTP_RANGE"), len, &ms->from, &ms->to);
    if (r < 0) {
        snprintf(val, sizeof val, "bytes */%lld", (long long) len);
        api_resp_header(resp, "Content-Range", val);
        api_resp_error(resp, 416, "range_not_satisfiable", "the file has %lld bytes",
                       (long long) len);
        goto fail;
    }
    if (r == 0) {
        ms->from = 0;
        ms->to = len;
    } else {
        snprintf(val, sizeof val, "bytes %lld-%lld/%lld", (long long) ms->from,
                 (long long) ms->to - 1, (long long) len);
        api_resp_header(resp, "Content-Range", val);
    }
    api_resp_header(resp, "Content-Type", ms->file.facts.mime);
    snprintf(val, sizeof val, "%lld", (long long) (ms->to - ms->from));
    api_resp_header(resp, "Content-Length", val);
    api_resp_stream(resp, r ? 206 : 200, stream_media, free, ms);
    return;
fail:
    free(ms);
}

static void get_media(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    send_media(ctx, req, resp, 0);
}

static void get_thumb(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    send_media(ctx, req, resp, 1);
}

static int media_init(struct api_ctx *ctx, char *err, size_t errlen)
{
    ctx->ms = msgstore_new(ctx->cfg, err, errlen);
    return ctx->ms ? 0 : -1;
}

static void media_deinit(struct api_ctx *ctx)
{
    msgstore_free(ctx->ms);
    ctx->ms = NULL;
}

static const struct api_route routes[] = {
    {"POST", "/api/v1/rooms/{id}/media", API_AUTH | API_RAW_BODY, post_media},
    {"GET", "/api/v1/media/{key}", API_AUTH, get_media},
    {"GET", "/api/v1/media/{key}/thumb", API_AUTH, get_thumb},
};

const struct api_app media_api_app = {"chat-media", routes, sizeof routes / sizeof routes[0],
                                      media_init, media_deinit};
