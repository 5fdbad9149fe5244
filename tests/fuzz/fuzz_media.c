/*
 * fuzz_media.c - the upload scanner (media_scan), which reads every byte
 * people upload before anything else does.
 *
 * The first input byte sets how many bytes each read hands over (1..256),
 * so block boundaries fall everywhere; the rest is the file. Properties: a
 * result is one of the documented codes; an accepted image has a size
 * within the pixel limit; the output is never much longer than the input
 * (only a JPEG's new orientation block is added); and scanning the output
 * again accepts it as the same kind and size and gives the very same
 * bytes: removal leaves nothing more to remove.
 */
#include "errors.h"
#include "fuzz.h"
#include "media_scan.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS 4000000
#define MAX_OUT    (1 << 20)

/* scan: one pass over the feed; the result code, the output in out. */
static int scan(struct media_scan *s, struct fuzz_feed *in, struct fuzz_sink *out)
{
    memset(s, 0, sizeof *s);
    s->read = fuzz_feed_read;
    s->read_arg = in;
    s->write = fuzz_sink_write;
    s->write_arg = out;
    s->max_in = MAX_OUT;
    s->max_pixels = MAX_PIXELS;
    int rc = media_scan_sniff(s);
    return rc ? rc : media_scan_copy(s);
}

int fuzz_media_one(const uint8_t *data, size_t size)
{
    if (size < 2 || size > MAX_OUT / 2)
        return 0;
    size_t step = (size_t) data[0] + 1;
    struct media_scan *s = malloc(sizeof *s), *t = malloc(sizeof *t);
    struct fuzz_sink a = {malloc(MAX_OUT), 0, MAX_OUT}, b = {malloc(MAX_OUT), 0, MAX_OUT};
    if (!s || !t || !a.p || !b.p)
        goto out;
    struct fuzz_feed in = {data + 1, size - 1, 0, step};
    int rc = scan(s, &in, &a);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_DENIED || rc == ERR_TOO_LARGE);
    if (rc != 0)
        goto out;
    FUZZ_CHECK(s->kind != MEDIA_NONE && media_kind_mime(s->kind) != NULL);
    FUZZ_CHECK(s->out_bytes == (int64_t) a.len && a.len <= size - 1 + 36);
    if (!media_kind_is_video(s->kind))
        FUZZ_CHECK(s->width > 0 && s->height > 0 && (int64_t) s->width * s->height <= MAX_PIXELS);

    struct fuzz_feed again = {a.p, a.len, 0, 4096};
    rc = scan(t, &again, &b);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(t->kind == s->kind && t->width == s->width && t->height == s->height);
    FUZZ_CHECK(b.len == a.len && memcmp(a.p, b.p, a.len) == 0);
out:
    free(s);
    free(t);
    free(a.p);
    free(b.p);
    return 0;
}

FUZZ_TARGET(fuzz_media_one)
