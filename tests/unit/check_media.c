/*
 * check_media.c - the media pieces that need no server: type sniffing and
 * metadata removal (media_scan), media ids, the Range parser, thumbnails.
 */
#include "errors.h"
#include "fuzz.h"
#include "media_api.h"
#include "media_id.h"
#include "media_scan.h"
#include "media_thumb.h"

#include <check.h>
#include <gd.h>
#include <stdlib.h>
#include <string.h>

/* scan: sniff and copy data through media_scan, step bytes a read
 * (fuzz_feed); the result code, the output in k (caller frees k->p). */
static int scan(const void *data, size_t len, size_t step, struct media_scan *s,
                struct fuzz_sink *k)
{
    static struct fuzz_feed src;
    src = (struct fuzz_feed){data, len, 0, step};
    memset(s, 0, sizeof *s);
    *k = (struct fuzz_sink){malloc(1 << 20), 0, 1 << 20};
    s->read = fuzz_feed_read;
    s->read_arg = &src;
    s->write = fuzz_sink_write;
    s->write_arg = k;
    s->max_in = 1 << 20;
    s->max_pixels = 1000000;
    int rc = media_scan_sniff(s);
    return rc ? rc : media_scan_copy(s);
}

static unsigned char *gd_bytes(const char *kind, int w, int h, int *n)
{
    gdImagePtr im = gdImageCreateTrueColor(w, h);
    gdImageFilledRectangle(im, 0, 0, w / 2, h / 2, gdTrueColor(255, 0, 0));
    void *d = !strcmp(kind, "png")    ? gdImagePngPtr(im, n)
              : !strcmp(kind, "jpeg") ? gdImageJpegPtr(im, n, 90)
              : !strcmp(kind, "gif")  ? gdImageGifPtr(im, n)
                                      : gdImageWebpPtr(im, n);
    gdImageDestroy(im);
    unsigned char *c = malloc((size_t) *n);
    memcpy(c, d, (size_t) *n);
    gdFree(d);
    return c;
}

START_TEST(test_media_scan_kinds_and_sizes)
{
    static const char *const kinds[] = {"png", "jpeg", "gif", "webp"};
    static const enum media_kind want[] = {MEDIA_PNG, MEDIA_JPEG, MEDIA_GIF, MEDIA_WEBP};
    for (int i = 0; i < 4; i++)
        for (size_t step = 1; step <= 4096; step *= 8) {
            int n;
            unsigned char *img = gd_bytes(kinds[i], 37, 21, &n);
            struct media_scan *s = malloc(sizeof *s);
            struct fuzz_sink k;
            ck_assert_int_eq(scan(img, (size_t) n, step, s, &k), 0);
            ck_assert_int_eq(s->kind, want[i]);
            ck_assert_int_eq(s->width, 37);
            ck_assert_int_eq(s->height, 21);
            ck_assert_int_eq(s->in_bytes, n);
            ck_assert_int_eq(s->out_bytes, (int64_t) k.len);
            /* what comes out still decodes to the same picture */
            gdImagePtr back = i == 0   ? gdImageCreateFromPngPtr((int) k.len, k.p)
                              : i == 1 ? gdImageCreateFromJpegPtr((int) k.len, k.p)
                              : i == 2 ? gdImageCreateFromGifPtr((int) k.len, k.p)
                                       : gdImageCreateFromWebpPtr((int) k.len, k.p);
            ck_assert_ptr_nonnull(back);
            ck_assert_int_eq(gdImageSX(back), 37);
            gdImageDestroy(back);
            free(k.p);
            free(s);
            free(img);
        }
}
END_TEST

START_TEST(test_media_scan_refusals)
{
    struct media_scan *s = malloc(sizeof *s);
    struct fuzz_sink k;
    ck_assert_int_eq(scan("hello, world", 12, 64, s, &k), ERR_INVALID);
    ck_assert_int_eq(s->kind, MEDIA_NONE);
    free(k.p);
    int n;
    unsigned char *png = gd_bytes("png", 2000, 1000, &n); /* 2 Mpx > 1 Mpx */
    ck_assert_int_eq(scan(png, (size_t) n, 4096, s, &k), ERR_DENIED);
    free(k.p);
    free(png);
    png = gd_bytes("png", 20, 10, &n);
    ck_assert_int_eq(scan(png, 40, 4096, s, &k), ERR_INVALID); /* truncated */
    free(k.p);
    free(png);
    /* GIF: the screen is small, one frame is huge */
    unsigned char gif[32] = {'G',  'I', 'F', '8', '9', 'a',  10,   0,    10,   0, 0, 0, 0,
                             0x2C, 0,   0,   0,   0,   0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 0};
    ck_assert_int_eq(scan(gif, 25, 4096, s, &k), ERR_DENIED);
    free(k.p);
    free(s);
}
END_TEST

/* PNG text chunks and GIF comments are dropped; the image stays. */
START_TEST(test_media_scan_strips_png_text_and_gif_comment)
{
    int n;
    unsigned char *png = gd_bytes("png", 8, 8, &n);
    static const unsigned char text[] = {0, 0,   0,   9,   't', 'E', 'X', 't', 'G', 'P', 'S',
                                         0, '5', '1', 'N', 'x', 'y', 0,   0,   0,   0};
    unsigned char *withtext = malloc((size_t) n + sizeof text);
    memcpy(withtext, png, 33); /* signature + IHDR */
    memcpy(withtext + 33, text, sizeof text);
    memcpy(withtext + 33 + sizeof text, png + 33, (size_t) n - 33);
    struct media_scan *s = malloc(sizeof *s);
    struct fuzz_sink k;
    ck_assert_int_eq(scan(withtext, (size_t) n + sizeof text, 7, s, &k), 0);
    ck_assert_uint_eq(k.len, (size_t) n);
    ck_assert_int_eq(memcmp(k.p, png, (size_t) n), 0);
    free(k.p);

    unsigned char *gif = gd_bytes("gif", 8, 8, &n);
    static const unsigned char comment[] = {0x21, 0xFE, 4, 'G', 'P', 'S', '!', 0};
    size_t head = 13 + (gif[10] & 0x80 ? 3u << ((gif[10] & 7) + 1) : 0);
    unsigned char *withc = malloc((size_t) n + sizeof comment);
    memcpy(withc, gif, head);
    memcpy(withc + head, comment, sizeof comment);
    memcpy(withc + head + sizeof comment, gif + head, (size_t) n - head);
    ck_assert_int_eq(scan(withc, (size_t) n + sizeof comment, 5, s, &k), 0);
    ck_assert_uint_eq(k.len, (size_t) n);
    ck_assert_int_eq(memcmp(k.p, gif, (size_t) n), 0);
    free(k.p);
    free(withc);
    free(gif);
    free(withtext);
    free(png);
    free(s);
}
END_TEST

START_TEST(test_media_id_binds_room_and_facts)
{
    unsigned char key[MEDIA_KEY_LEN] = {9}, other[MEDIA_KEY_LEN] = {8};
    unsigned char oid[MEDIA_OID_LEN] = {1, 2, 3}, got[MEDIA_OID_LEN], mac[MEDIA_MAC_LEN];
    struct media_facts f = {"image/png", 10, 2, 3}, g = f;
    char id[MEDIA_ID_LEN + 1];
    media_id_make(key, oid, 5, &f, id);
    ck_assert_uint_eq(strlen(id), MEDIA_ID_LEN);
    ck_assert_int_eq(media_id_parse(id, got, mac), 0);
    ck_assert_int_eq(memcmp(got, oid, MEDIA_OID_LEN), 0);
    ck_assert_int_eq(media_id_check(key, id, 5, &f), 0);
    ck_assert_int_eq(media_id_check(key, id, 6, &f), ERR_INVALID);
    ck_assert_int_eq(media_id_check(other, id, 5, &f), ERR_INVALID);
    g.height = 4;
    ck_assert_int_eq(media_id_check(key, id, 5, &g), ERR_INVALID);
    ck_assert_int_eq(media_id_check(key, "short", 5, &f), ERR_INVALID);
}
END_TEST

START_TEST(test_media_range_parse)
{
    int64_t a = -1, b = -1;
    ck_assert_int_eq(media_api_range(NULL, 100, &a, &b), 0);
    ck_assert_int_eq(media_api_range("bytes=0-9", 100, &a, &b), 1);
    ck_assert(a == 0 && b == 10);
    ck_assert_int_eq(media_api_range("bytes=90-", 100, &a, &b), 1);
    ck_assert(a == 90 && b == 100);
    ck_assert_int_eq(media_api_range("bytes=90-500", 100, &a, &b), 1);
    ck_assert(a == 90 && b == 100);
    ck_assert_int_eq(media_api_range("bytes=-30", 100, &a, &b), 1);
    ck_assert(a == 70 && b == 100);
    ck_assert_int_eq(media_api_range("bytes=-300", 100, &a, &b), 1);
    ck_assert(a == 0 && b == 100);
    ck_assert_int_eq(media_api_range("bytes=100-", 100, &a, &b), -1);
    ck_assert_int_eq(media_api_range("bytes=-0", 100, &a, &b), -1);
    /* not understood: served whole */
    ck_assert_int_eq(media_api_range("bytes=5-1", 100, &a, &b), 0);
    ck_assert_int_eq(media_api_range("bytes=0-1,5-6", 100, &a, &b), 0);
    ck_assert_int_eq(media_api_range("items=0-1", 100, &a, &b), 0);
    ck_assert_int_eq(media_api_range("bytes=x-1", 100, &a, &b), 0);
}
END_TEST

/* Each EXIF orientation: where the red top-left quarter of the stored
 * picture ends up once turned upright (0 top-left, 1 top-right, 2
 * bottom-right, 3 bottom-left), and the upright size. */
START_TEST(test_media_thumb_turns_upright)
{
    static const int corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
    int n;
    unsigned char *png = gd_bytes("png", 600, 400, &n);
    for (int o = 1; o <= 8; o++) {
        struct fuzz_feed src = {png, (size_t) n, 0, 1000};
        void *thumb = NULL;
        size_t len = 0;
        int w = 0, h = 0;
        ck_assert_int_eq(
            media_thumb_make("image/png", o, fuzz_feed_read, &src, &thumb, &len, &w, &h), 0);
        ck_assert_int_eq(w, o >= 5 ? 213 : 320);
        ck_assert_int_eq(h, o >= 5 ? 320 : 213);
        gdImagePtr t = gdImageCreateFromWebpPtr((int) len, thumb);
        ck_assert_ptr_nonnull(t);
        const int xs[4] = {5, w - 5, w - 5, 5}, ys[4] = {5, 5, h - 5, h - 5};
        for (int c = 0; c < 4; c++) {
            int red = gdTrueColorGetRed(gdImageGetTrueColorPixel(t, xs[c], ys[c]));
            ck_assert_msg(c == corner[o] ? red > 200 : red < 50,
                          "orientation %d, corner %d: red %d", o, c, red);
        }
        gdImageDestroy(t);
        media_thumb_free(thumb);
    }
    struct fuzz_feed bad = {(const uint8_t *) "nope", 4, 0, 4};
    void *thumb = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    ck_assert_int_eq(media_thumb_make("image/png", 1, fuzz_feed_read, &bad, &thumb, &len, &w, &h),
                     ERR_INVALID);
    free(png);
}
END_TEST

Suite *media_suite(void)
{
    Suite *s = suite_create("media");
    TCase *tc = tcase_create("media");
    tcase_add_test(tc, test_media_scan_kinds_and_sizes);
    tcase_add_test(tc, test_media_scan_refusals);
    tcase_add_test(tc, test_media_scan_strips_png_text_and_gif_comment);
    tcase_add_test(tc, test_media_id_binds_room_and_facts);
    tcase_add_test(tc, test_media_range_parse);
    tcase_add_test(tc, test_media_thumb_turns_upright);
    suite_add_tcase(s, tc);
    return s;
}
