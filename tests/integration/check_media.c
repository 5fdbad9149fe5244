/*
 * check_media.c - pictures and videos through the stack: upload, the
 * message that shows one, download, and every rule around them (type by
 * bytes, sizes, pixel bombs, rooms, ranges, metadata removal, aborted
 * uploads, clean-up of uploads never sent).
 */
#include "api_helpers.h"
#include "http_client.h"
#include "relay_helpers.h"
#include "run_cmd.h"
#include "testenv.h"

#include <arpa/inet.h>
#include <check.h>
#include <mongoc/mongoc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/media/"

static char out[8192];

static const char *bin_dir(void)
{
    const char *d = getenv("CHAT_BIN_DIR");
    return d && *d ? d : "build/san/bin";
}

/* slurp: a fixture file (caller frees). */
static unsigned char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fixture %s", path);
    unsigned char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static int64_t json_int(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "field %s", k);
    return (int64_t) v->valuedouble;
}

/* upload: POST the bytes to the room's media route as jwt. */
static void upload(const char *jwt, int64_t room, const void *data, size_t len,
                   const char *content_type, struct http_resp *r)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/rooms/%lld/media", (long long) room);
    ck_assert_int_eq(http_request("POST", path, jwt, content_type, data, len, r), 0);
}

/* upload_ok: upload and expect 201; the media id in id (33 bytes). */
static void upload_ok(const char *jwt, int64_t room, const void *data, size_t len, char *id,
                      cJSON **answer)
{
    struct http_resp r;
    upload(jwt, room, data, len, "application/octet-stream", &r);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r.json, "id");
    ck_assert(cJSON_IsString(v));
    snprintf(id, 33, "%s", v->valuestring);
    if (answer)
        *answer = cJSON_Duplicate(r.json, 1);
    http_resp_free(&r);
}

static void download(const char *jwt, const char *id, const char *range, struct http_resp *r)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/media/%s", id);
    if (!range) {
        api_get(path, jwt, r);
        return;
    }
    /* curl sends a Range header given as a bearer-free request: build it by
     * hand through a raw socket to keep http_client simple. */
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n%s\r\n"
                     "Connection: close\r\n\r\n",
                     path, jwt, range);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *base = testenv_web_base();
    const char *port = strrchr(base, ':');
    if (port)
        sa.sin_port = htons((uint16_t) strtol(port + 1, NULL, 10));
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, req, (size_t) n), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t k;
    while ((k = read(fd, buf + len, cap - len)) > 0)
        len += (size_t) k;
    close(fd);
    buf[len] = '\0';
    memset(r, 0, sizeof *r);
    r->status = strtol(buf + 9, NULL, 10);
    char *sep = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(sep);
    *sep = '\0';
    r->headers = strdup(buf);
    r->len = len - (size_t) (sep + 4 - buf);
    r->body = malloc(r->len + 1);
    memcpy(r->body, sep + 4, r->len);
    r->body[r->len] = '\0';
    free(buf);
}

/* ------------------------------------------------------------ GridFS counts */

static int64_t count_docs(const char *collection, const bson_t *filter)
{
    static int inited;
    if (!inited) {
        mongoc_init();
        mongoc_log_set_handler(NULL, NULL); /* FerretDB lacks endSessions */
        inited = 1;
    }
    const struct config *cfg = testenv_config();
    bson_error_t e;
    mongoc_client_t *c = mongoc_client_new(cfg->mongo_uri);
    ck_assert_ptr_nonnull(c);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, cfg->mongo_database, collection);
    bson_t empty = BSON_INITIALIZER;
    int64_t n =
        mongoc_collection_count_documents(coll, filter ? filter : &empty, NULL, NULL, NULL, &e);
    ck_assert_msg(n >= 0, "count %s: %s", collection, e.message);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return n;
}

/* wait_count: poll the chunk count until want(n) holds or 10 s pass. */
static int64_t wait_chunks(int64_t target, int above)
{
    int64_t n = 0;
    for (int i = 0; i < 200; i++) {
        n = count_docs("media.chunks", NULL);
        if (above ? n > target : n == target)
            return n;
        usleep(50000);
    }
    return n;
}

/* ------------------------------------------------------------ fixtures */

/* put_bytes: n bytes of s (no NUL) at p. */
static void put_bytes(unsigned char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
}

/* jpeg_with_gps: tiny.jpg with an EXIF block after SOI that holds an
 * Orientation of 6 (rotate) and a GPS IFD whose strings carry `marker`. */
static unsigned char *jpeg_with_gps(const char *marker, size_t *len)
{
    size_t n;
    unsigned char *jpg = slurp("tiny.jpg", &n);
    unsigned char exif[256];
    size_t m = strlen(marker) + 1;
    /* big-endian TIFF: IFD0 with Orientation and GPSInfo, then a GPS IFD
     * with one ASCII entry (GPSMapDatum) pointing at marker. */
    unsigned char tiff[200] = {'M',  'M',  0, 42, 0, 0, 0, 8,
                               0,    2, /* two entries */
                               0x01, 0x12, 0, 3,  0, 0, 0, 1,
                               0,    6,    0, 0, /* Orientation 6 */
                               0x88, 0x25, 0, 4,  0, 0, 0, 1,
                               0,    0,    0, 38, /* GPS IFD at 38 */
                               0,    0,    0, 0,  /* no next IFD */
                               0,    1,           /* GPS IFD: one entry */
                               0x00, 0x12, 0, 2,  0, 0, 0, (unsigned char) m,
                               0,    0,    0, 56, 0, 0, 0, 0};
    memcpy(tiff + 56, marker, m);
    size_t tiff_len = 56 + m;
    size_t seg = 2 + 6 + tiff_len;
    exif[0] = 0xFF;
    exif[1] = 0xE1;
    exif[2] = (unsigned char) (seg >> 8);
    exif[3] = (unsigned char) seg;
    put_bytes(exif + 4, "Exif\0\0", 6);
    memcpy(exif + 10, tiff, tiff_len);
    size_t exif_len = 2 + seg;
    unsigned char *res = malloc(n + exif_len);
    memcpy(res, jpg, 2);
    memcpy(res + 2, exif, exif_len);
    memcpy(res + 2 + exif_len, jpg + 2, n - 2);
    *len = n + exif_len;
    free(jpg);
    return res;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/* mp4_with_gps: a minimal ISO-BMFF file (ftyp, moov with a trak/tkhd of
 * 320x240 and a udta holding marker, mdat). Not playable, but every box is
 * well formed. */
static unsigned char *mp4_with_gps(const char *marker, size_t *len)
{
    unsigned char *b = calloc(1, 1024);
    size_t p = 0, m = strlen(marker);
    put_be32(b + p, 20);
    put_bytes(b + p + 4, "ftypisom\0\0\0\0isom", 16);
    p += 20;
    size_t moov = p, tkhd_len = 8 + 84, trak_len = 8 + tkhd_len, udta_len = 8 + m;
    put_be32(b + p, (uint32_t) (8 + trak_len + udta_len));
    put_bytes(b + p + 4, "moov", 4);
    p += 8;
    put_be32(b + p, (uint32_t) trak_len);
    put_bytes(b + p + 4, "trak", 4);
    p += 8;
    put_be32(b + p, (uint32_t) tkhd_len);
    put_bytes(b + p + 4, "tkhd", 4);
    put_be32(b + p + 8 + 76, 320u << 16);
    put_be32(b + p + 8 + 80, 240u << 16);
    p += tkhd_len;
    put_be32(b + p, (uint32_t) udta_len);
    put_bytes(b + p + 4, "udta", 4);
    put_bytes(b + p + 8, marker, m);
    p += udta_len;
    ck_assert_uint_eq(p - moov, 8 + trak_len + udta_len);
    put_be32(b + p, 16);
    put_bytes(b + p + 4, "mdat01234567", 12);
    p += 16;
    *len = p;
    return b;
}

/* ------------------------------------------------------------ tests */

struct two {
    char *ja, *jb, *jc;
    int64_t a, b, c, room;
};

static void two_open(struct two *t)
{
    t->ja = api_login("media_a", &t->a);
    t->jb = api_login("media_b", &t->b);
    t->jc = api_login("media_c", &t->c);
    t->room = api_room(t->ja, t->b, NULL);
}

static void two_close(struct two *t)
{
    free(t->ja);
    free(t->jb);
    free(t->jc);
}

START_TEST(test_media_upload_each_image_type_and_download)
{
    struct two t;
    two_open(&t);
    static const char *const files[] = {"tiny.jpg", "tiny.png", "tiny.gif", "tiny.webp"};
    static const char *const types[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
    for (int i = 0; i < 4; i++) {
        size_t n;
        unsigned char *data = slurp(files[i], &n);
        char id[33];
        cJSON *ans = NULL;
        /* the client's Content-Type is ignored: the bytes decide */
        upload_ok(t.ja, t.room, data, n, id, &ans);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ans, "type")->valuestring, types[i]);
        ck_assert_int_eq(json_int(ans, "width"), 64);
        ck_assert_int_eq(json_int(ans, "height"), 48);
        int64_t size = json_int(ans, "size");
        cJSON_Delete(ans);

        struct http_resp r;
        char h[128];
        download(t.jb, id, NULL, &r); /* the other member */
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.len, (size_t) size);
        ck_assert_str_eq(http_header(&r, "Content-Type", h, sizeof h), types[i]);
        ck_assert_ptr_nonnull(strstr(http_header(&r, "Cache-Control", h, sizeof h), "private"));
        ck_assert_str_eq(http_header(&r, "X-Content-Type-Options", h, sizeof h), "nosniff");
        ck_assert_ptr_nonnull(http_header(&r, "ETag", h, sizeof h));
        if (i > 0) /* nothing to strip from libgd's PNG, GIF and WebP */
            ck_assert_int_eq(memcmp(r.body, data, n), 0);
        else /* the JPEG loses libgd's comment and nothing else */
            ck_assert_uint_lt(r.len, n);
        http_resp_free(&r);
        free(data);
    }
    two_close(&t);
}
END_TEST

START_TEST(test_media_type_decided_by_bytes)
{
    struct two t;
    two_open(&t);
    struct http_resp r;
    static const char text[] =
        "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    upload(t.ja, t.room, text, sizeof text - 1, "image/png", &r);
    ck_assert_int_eq(r.status, 415);
    ck_assert_str_eq(http_error_code(&r), "unsupported_media_type");
    http_resp_free(&r);
    /* a HEIF picture (ftyp, brand heic) is not an MP4 */
    static const unsigned char heic[] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c',
                                         0, 0, 0, 0,  'm', 'i', 'f', '1', 'h', 'e', 'i', 'c'};
    upload(t.ja, t.room, heic, sizeof heic, "video/mp4", &r);
    ck_assert_int_eq(r.status, 415);
    http_resp_free(&r);
    /* a PNG signature with a broken body: recognised, then refused */
    static const unsigned char bad_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0,
                                            13,   'I', 'H', 'D', 'R',  0,    0,    0,    1, 0, 0};
    upload(t.ja, t.room, bad_png, sizeof bad_png, "image/png", &r);
    ck_assert_int_eq(r.status, 400);
    http_resp_free(&r);
    two_close(&t);
}
END_TEST

START_TEST(test_media_oversized_refused)
{
    struct two t;
    two_open(&t);
    const struct config *cfg = testenv_config();
    /* a JPEG start and then more bytes than a picture may have */
    size_t n = (size_t) cfg->media_max_image_bytes + 1;
    unsigned char *big = calloc(1, n);
    static const unsigned char head[] = {0xFF, 0xD8, 0xFF, 0xFE, 0xFF, 0xFF};
    memcpy(big, head, sizeof head);
    struct http_resp r;
    upload(t.ja, t.room, big, n, NULL, &r);
    ck_assert_msg(r.status == 413, "got %ld %s", r.status, r.body);
    ck_assert_str_eq(http_error_code(&r), "too_large");
    http_resp_free(&r);
    free(big);
    /* past the largest video the web server itself refuses the body */
    n = (size_t) cfg->media_max_video_bytes + 1;
    big = calloc(1, n);
    memcpy(big, head, sizeof head);
    upload(t.ja, t.room, big, n, NULL, &r);
    ck_assert_msg(r.status == 413, "got %ld", r.status);
    http_resp_free(&r);
    free(big);
    two_close(&t);
}
END_TEST

START_TEST(test_media_pixel_bomb_refused)
{
    struct two t;
    two_open(&t);
    /* a PNG that declares 50000 x 50000 pixels in 60 bytes */
    unsigned char png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                             0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    put_be32(png + 16, 50000);
    put_be32(png + 20, 50000);
    png[24] = 8;
    png[25] = 2;
    struct http_resp r;
    upload(t.ja, t.room, png, sizeof png, NULL, &r);
    ck_assert_msg(r.status == 422, "got %ld %s", r.status, r.body);
    ck_assert_str_eq(http_error_code(&r), "too_many_pixels");
    http_resp_free(&r);
    /* a JPEG whose frame header says 65000 x 65000 */
    static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xC0, 0,    11, 8,    0xFD, 0xE8,
                                        0xFD, 0xE8, 1,    1,    0x11, 0,  0xFF, 0xD9};
    upload(t.ja, t.room, jpg, sizeof jpg, NULL, &r);
    ck_assert_msg(r.status == 422, "got %ld %s", r.status, r.body);
    http_resp_free(&r);
    two_close(&t);
}
END_TEST

START_TEST(test_media_strangers_get_404)
{
    struct two t;
    two_open(&t);
    size_t n;
    unsigned char *png = slurp("tiny.png", &n);
    struct http_resp r, missing;
    /* c is not in the room: no upload, no download, the same 404 as a
     * missing id */
    upload(t.jc, t.room, png, n, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
    char id[33];
    upload_ok(t.ja, t.room, png, n, id, NULL);
    download(t.jc, id, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    char forged[33];
    memcpy(forged, id, 33);
    forged[31] = forged[31] == 'A' ? 'B' : 'A'; /* another MAC */
    download(t.ja, forged, NULL, &missing);
    ck_assert_int_eq(missing.status, 404);
    ck_assert_str_eq(r.body, missing.body);
    http_resp_free(&r);
    http_resp_free(&missing);
    ck_assert_int_eq(http_request("GET", "/api/v1/media/AAAA", NULL, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 401);
    http_resp_free(&r);
    free(png);
    two_close(&t);
}
END_TEST

START_TEST(test_media_ranges)
{
    struct two t;
    two_open(&t);
    /* larger than one GridFS chunk (255 KiB), so a range spans chunks */
    size_t n = 600000, m;
    unsigned char *data = mp4_with_gps("nothing", &m);
    unsigned char *big = malloc(n);
    memcpy(big, data, m - 16);
    put_be32(big + m - 16, (uint32_t) (n - (m - 16)));
    put_bytes(big + m - 12, "mdat", 4);
    for (size_t i = m - 8; i < n; i++)
        big[i] = (unsigned char) (i * 7);
    char id[33];
    upload_ok(t.ja, t.room, big, n, id, NULL);
    struct http_resp r;
    char h[128];
    download(t.jb, id, "Range: bytes=261000-262000", &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_str_eq(http_header(&r, "Content-Range", h, sizeof h), "bytes 261000-262000/600000");
    ck_assert_uint_eq(r.len, 1001);
    ck_assert_int_eq(memcmp(r.body, big + 261000, 1001), 0);
    http_resp_free(&r);
    download(t.jb, id, "Range: bytes=-10", &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 10);
    ck_assert_int_eq(memcmp(r.body, big + n - 10, 10), 0);
    http_resp_free(&r);
    download(t.jb, id, "Range: bytes=599990-", &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 10);
    http_resp_free(&r);
    download(t.jb, id, "Range: bytes=600000-", &r);
    ck_assert_int_eq(r.status, 416);
    ck_assert_str_eq(http_header(&r, "Content-Range", h, sizeof h), "bytes */600000");
    http_resp_free(&r);
    download(t.jb, id, "X-Nothing: 1", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, n);
    ck_assert_int_eq(memcmp(r.body + 200, big + 200, n - 200), 0); /* past the blanked udta */
    char etag[64], inm[96];
    http_header(&r, "ETag", etag, sizeof etag);
    http_resp_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    download(t.jb, id, inm, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.len, 0);
    http_resp_free(&r);
    free(big);
    free(data);
    two_close(&t);
}
END_TEST

START_TEST(test_media_metadata_removed)
{
    struct two t;
    two_open(&t);
    static const char marker[] = "GPS-51.5007N-0.1246W";
    size_t n;
    unsigned char *jpg = jpeg_with_gps(marker, &n);
    ck_assert_ptr_nonnull(memmem(jpg, n, marker, sizeof marker - 1));
    char id[33];
    cJSON *ans = NULL;
    upload_ok(t.ja, t.room, jpg, n, id, &ans);
    /* orientation 6: the picture stands 48 wide and 64 high */
    ck_assert_int_eq(json_int(ans, "width"), 48);
    ck_assert_int_eq(json_int(ans, "height"), 64);
    cJSON_Delete(ans);
    struct http_resp r;
    download(t.jb, id, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(memmem(r.body, r.len, marker, sizeof marker - 1));
    /* no GPS IFD pointer (tag 0x8825) is left, the orientation is */
    static const unsigned char gps_tag[] = {0x88, 0x25};
    static const unsigned char orient[] = {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6};
    ck_assert_ptr_null(memmem(r.body, r.len, gps_tag, 2));
    ck_assert_ptr_nonnull(memmem(r.body, r.len, orient, sizeof orient));
    http_resp_free(&r);
    free(jpg);

    /* the same for a video's place in its udta box */
    unsigned char *mp4 = mp4_with_gps(marker, &n);
    upload_ok(t.ja, t.room, mp4, n, id, &ans);
    ck_assert_int_eq(json_int(ans, "width"), 320);
    ck_assert_int_eq(json_int(ans, "height"), 240);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ans, "type")->valuestring, "video/mp4");
    cJSON_Delete(ans);
    download(t.jb, id, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, n); /* the box became `free`, offsets unchanged */
    ck_assert_ptr_null(memmem(r.body, r.len, marker, sizeof marker - 1));
    ck_assert_ptr_nonnull(memmem(r.body, r.len, "free", 4));
    http_resp_free(&r);
    free(mp4);
    two_close(&t);
}
END_TEST

/* webp_size: the pixel size a WebP file declares. */
static void webp_size(const unsigned char *b, size_t n, int *w, int *h)
{
    ck_assert_uint_ge(n, 30);
    ck_assert_int_eq(memcmp(b, "RIFF", 4), 0);
    ck_assert_int_eq(memcmp(b + 8, "WEBP", 4), 0);
    if (!memcmp(b + 12, "VP8X", 4)) {
        *w = 1 + (b[24] | b[25] << 8 | b[26] << 16);
        *h = 1 + (b[27] | b[28] << 8 | b[29] << 16);
    } else if (!memcmp(b + 12, "VP8 ", 4)) {
        *w = (b[26] | b[27] << 8) & 0x3FFF;
        *h = (b[28] | b[29] << 8) & 0x3FFF;
    } else {
        ck_assert_int_eq(memcmp(b + 12, "VP8L", 4), 0);
        uint32_t bits = (uint32_t) b[21] | (uint32_t) b[22] << 8 | (uint32_t) b[23] << 16 |
                        (uint32_t) b[24] << 24;
        *w = 1 + (int) (bits & 0x3FFF);
        *h = 1 + (int) ((bits >> 14) & 0x3FFF);
    }
}

/* thumb_of: GET the thumbnail of id as jwt; its status, and its pixel
 * size when 200. */
static long thumb_of(const char *jwt, const char *id, int *w, int *h)
{
    char path[128], ct[64];
    struct http_resp r;
    snprintf(path, sizeof path, "/api/v1/media/%s/thumb", id);
    api_get(path, jwt, &r);
    long status = r.status;
    if (status == 200) {
        ck_assert_str_eq(http_header(&r, "Content-Type", ct, sizeof ct), "image/webp");
        webp_size((const unsigned char *) r.body, r.len, w, h);
    }
    http_resp_free(&r);
    return status;
}

/* Pictures get a small upright WebP thumbnail; videos none. */
START_TEST(test_media_thumbnails)
{
    struct two t;
    two_open(&t);
    size_t n;
    char id[33];
    int w = 0, h = 0;
    unsigned char *photo = slurp("photo.jpg", &n);
    upload_ok(t.ja, t.room, photo, n, id, NULL);
    ck_assert_int_eq(thumb_of(t.jb, id, &w, &h), 200);
    ck_assert_int_eq(w, 320); /* 480 x 320 fitted into 320 x 320 */
    ck_assert_int_eq(h, 213);
    ck_assert_int_eq(thumb_of(t.jc, id, &w, &h), 404); /* a stranger */
    free(photo);

    /* a portrait phone photo (stored 64 x 48, EXIF orientation 6) */
    unsigned char *jpg = jpeg_with_gps("GPS-X", &n);
    upload_ok(t.ja, t.room, jpg, n, id, NULL);
    ck_assert_int_eq(thumb_of(t.jb, id, &w, &h), 200);
    ck_assert_int_eq(w, 48);
    ck_assert_int_eq(h, 64);
    free(jpg);

    unsigned char *mp4 = mp4_with_gps("x", &n);
    upload_ok(t.ja, t.room, mp4, n, id, NULL);
    ck_assert_int_eq(thumb_of(t.jb, id, &w, &h), 404);
    free(mp4);
    two_close(&t);
}
END_TEST

/* A client that sends part of a body and disconnects. */
START_TEST(test_media_abort_leaves_nothing)
{
    struct two t;
    two_open(&t);
    int64_t before = count_docs("media.chunks", NULL), files = count_docs("media.files", NULL);
    size_t n;
    unsigned char *png = slurp("tiny.png", &n);
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST /api/v1/rooms/%lld/media HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Length: 4000000\r\n\r\n",
                      (long long) t.room, t.ja);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *port = strrchr(testenv_web_base(), ':');
    if (port)
        sa.sin_port = htons((uint16_t) strtol(port + 1, NULL, 10));
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, head, (size_t) hn), hn);
    /* a PNG's signature and header, then an ancillary chunk of 3.5 MB
     * (copied as it arrives): 1.5 MB of it are sent */
    ck_assert_int_eq(write(fd, png, 33), 33);
    unsigned char ch[8];
    put_be32(ch, 3500000);
    put_bytes(ch + 4, "abCd", 4);
    ck_assert_int_eq(write(fd, ch, 8), 8);
    static unsigned char filler[65536];
    for (int i = 0; i < 23; i++)
        ck_assert_int_eq(write(fd, filler, sizeof filler), (ssize_t) sizeof filler);
    /* chunks of the upload are being written... */
    ck_assert_msg(wait_chunks(before, 1) > before, "no chunk was written during the upload");
    close(fd);
    /* ...and are gone once the program sees the body end early */
    ck_assert_int_eq(wait_chunks(before, 0), before);
    ck_assert_int_eq(count_docs("media.files", NULL), files);
    free(png);
    two_close(&t);
}
END_TEST

/* send_png_message: an IMAGE message showing the uploaded tiny.png id. */
static void send_png_message(struct ws_client *c, int64_t room, const char *cmid, const char *id,
                             int64_t size)
{
    rh_sendf(c,
             "{\"chatType\":\"IMAGE\",\"chatRoomId\":%lld,\"clientMsgId\":\"%s\",\"media\":{"
             "\"id\":\"%s\",\"name\":\"a.png\",\"type\":\"image/png\",\"size\":%lld,"
             "\"width\":64,\"height\":48}}",
             (long long) room, cmid, id, (long long) size);
}

/* The message that shows an upload, through the relay: same room only. */
START_TEST(test_media_message_same_room_only)
{
    struct rh_pair p, q;
    rh_pair_open(&p, "media_msg", rh_port());
    rh_pair_open(&q, "media_other", rh_port());
    size_t n;
    unsigned char *png = slurp("tiny.png", &n);
    char id[33];
    cJSON *ans = NULL;
    upload_ok(p.a.jwt, p.room, png, n, id, &ans);
    int64_t size = json_int(ans, "size");
    cJSON_Delete(ans);
    /* q.a tries to show p's picture in q's room */
    send_png_message(&q.ca, q.room, "x1", id, size);
    cJSON *e = rh_expect_error(&q.ca, "bad_request");
    ck_assert_str_eq(rh_str(e, "message"), "no such media in this room");
    cJSON_Delete(e);
    /* in its own room it is delivered with its facts */
    send_png_message(&p.ca, p.room, "x2", id, size);
    cJSON *m = rh_expect(&p.cb, "MESSAGE");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(m, "chatMessage");
    ck_assert_str_eq(rh_str(cm, "chatType"), "IMAGE");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(cm, "media");
    ck_assert_str_eq(rh_str(md, "id"), id);
    ck_assert_str_eq(rh_str(md, "name"), "a.png");
    ck_assert_int_eq(rh_int(md, "width"), 64);
    cJSON_Delete(m);
    /* and history has it too */
    struct http_resp r;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/chat/%lld", (long long) p.room);
    api_get(path, p.b.jwt, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, id));
    http_resp_free(&r);
    free(png);
    rh_pair_close(&p);
    rh_pair_close(&q);
}
END_TEST

START_TEST(test_media_gc_removes_unsent_uploads)
{
    struct rh_pair p;
    rh_pair_open(&p, "media_gc", rh_port());
    size_t n;
    unsigned char *png = slurp("tiny.png", &n);
    char sent[33], unsent[33];
    cJSON *ans = NULL;
    upload_ok(p.a.jwt, p.room, png, n, sent, &ans);
    int64_t size = json_int(ans, "size");
    cJSON_Delete(ans);
    upload_ok(p.a.jwt, p.room, png, n, unsent, NULL);
    send_png_message(&p.ca, p.room, "g1", sent, size);
    cJSON_Delete(rh_expect(&p.ca, "ACK"));
    /* only uploads older than the age given go: with a day, nothing */
    ck_assert_msg(run_cmd(out, sizeof out, "%s/chatctl media-gc 86400", bin_dir()) == 0, "%s", out);
    struct http_resp r;
    download(p.b.jwt, unsent, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert_msg(run_cmd(out, sizeof out, "%s/chatctl media-gc 0", bin_dir()) == 0, "%s", out);
    ck_assert_msg(strstr(out, "removed") != NULL, "%s", out);
    download(p.b.jwt, unsent, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
    download(p.b.jwt, sent, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    free(png);
    rh_pair_close(&p);
}
END_TEST

/* The hourly count, through the program run as CGI with its own settings. */
START_TEST(test_media_upload_rate_limited)
{
    struct two t;
    two_open(&t);
    for (int i = 0; i < 3; i++) {
        int rc = run_cmd(out, sizeof out,
                         "CHAT_MEDIA_UPLOADS_PER_HOUR=2 REQUEST_METHOD=POST "
                         "REQUEST_URI=/api/v1/rooms/%lld/media HTTP_AUTHORIZATION='Bearer %s' "
                         "CONTENT_LENGTH=$(stat -c %%s " FIXTURES
                         "tiny.png) %s/chat-media < " FIXTURES "tiny.png",
                         (long long) t.room, t.ja, bin_dir());
        ck_assert_msg(rc == 0, "%s", out);
        ck_assert_msg(strstr(out, i < 2 ? "Status: 201" : "Status: 429") != NULL, "upload %d: %s",
                      i, out);
    }
    /* and the quota */
    int rc = run_cmd(out, sizeof out,
                     "CHAT_MEDIA_QUOTA_MB=1 REQUEST_METHOD=POST "
                     "REQUEST_URI=/api/v1/rooms/%lld/media HTTP_AUTHORIZATION='Bearer %s' "
                     "CONTENT_LENGTH=2000000 %s/chat-media < /dev/null",
                     (long long) t.room, t.ja, bin_dir());
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "Status: 413") && strstr(out, "quota_exceeded"), "%s", out);
    two_close(&t);
}
END_TEST

Suite *media_suite(void)
{
    Suite *s = suite_create("media");
    TCase *tc = tcase_create("media");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_media_upload_each_image_type_and_download);
    tcase_add_test(tc, test_media_type_decided_by_bytes);
    tcase_add_test(tc, test_media_oversized_refused);
    tcase_add_test(tc, test_media_pixel_bomb_refused);
    tcase_add_test(tc, test_media_strangers_get_404);
    tcase_add_test(tc, test_media_ranges);
    tcase_add_test(tc, test_media_metadata_removed);
    tcase_add_test(tc, test_media_thumbnails);
    tcase_add_test(tc, test_media_abort_leaves_nothing);
    tcase_add_test(tc, test_media_message_same_room_only);
    tcase_add_test(tc, test_media_gc_removes_unsent_uploads);
    tcase_add_test(tc, test_media_upload_rate_limited);
    suite_add_tcase(s, tc);
    return s;
}
