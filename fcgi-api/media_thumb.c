/*
 * media_thumb.c - thumbnails with libgd (see media_thumb.h).
 */
#include "media_thumb.h"
#include "errors.h"

#include <gd.h>
#include <stdarg.h>
#include <string.h>

/* A gdIOCtx reading through the caller's pull function. */
struct pull_ctx {
    gdIOCtx io; /* first: gd hands this pointer back */
    long (*read)(void *, char *, size_t);
    void *arg;
};

static int pull_buf(gdIOCtx *io, void *buf, int wanted)
{
    struct pull_ctx *p = (struct pull_ctx *) io;
    int got = 0;
    while (got < wanted) {
        long r = p->read(p->arg, (char *) buf + got, (size_t) (wanted - got));
        if (r <= 0)
            break;
        got += (int) r;
    }
    return got > 0 ? got : -1;
}

static int pull_c(gdIOCtx *io)
{
    unsigned char c;
    return pull_buf(io, &c, 1) == 1 ? c : EOF;
}

/* quiet: gd's warnings would go to stderr (the web server's error log);
 * a picture that does not decode is reported by the return code. */
static void quiet(int priority, const char *format, va_list args)
{
    (void) priority;
    (void) format;
    (void) args;
}

static gdImagePtr decode(const char *mime, gdIOCtx *io)
{
    gdSetErrorMethod(quiet);
    if (strcmp(mime, "image/jpeg") == 0)
        return gdImageCreateFromJpegCtxEx(io, 1);
    if (strcmp(mime, "image/png") == 0)
        return gdImageCreateFromPngCtx(io);
    if (strcmp(mime, "image/gif") == 0)
        return gdImageCreateFromGifCtx(io);
    if (strcmp(mime, "image/webp") == 0)
        return gdImageCreateFromWebpCtx(io);
    return NULL;
}

/* orient: a new image of src as it should be seen under EXIF orientation
 * o (2..8): mirrored and/or turned a quarter, half or three quarters. */
static gdImagePtr orient(gdImagePtr src, int o)
{
    int sw = gdImageSX(src), sh = gdImageSY(src), swap = o >= 5;
    gdImagePtr dst = gdImageCreateTrueColor(swap ? sh : sw, swap ? sw : sh);
    if (!dst)
        return NULL;
    gdImageAlphaBlending(dst, 0);
    gdImageSaveAlpha(dst, 1);
    /* Orientations 2-4 mirror across one or both axes; 5-8 first swap
     * the axes (a transpose), then mirror. */
    int flip_x = o == 2 || o == 3 || o == 7 || o == 8;
    int flip_y = o == 3 || o == 4 || o == 6 || o == 7;
    for (int y = 0; y < gdImageSY(dst); y++)
        for (int x = 0; x < gdImageSX(dst); x++) {
            int u = swap ? y : x, v = swap ? x : y;
            int sx = flip_x ? sw - 1 - u : u, sy = flip_y ? sh - 1 - v : v;
            gdImageSetPixel(dst, x, y, gdImageGetTrueColorPixel(src, sx, sy));
        }
    return dst;
}

int media_thumb_make(const char *mime, int orientation, long (*read)(void *, char *, size_t),
                     void *arg, void **out, size_t *len, int *w, int *h)
{
    struct pull_ctx p;
    memset(&p, 0, sizeof p);
    p.io.getC = pull_c;
    p.io.getBuf = pull_buf;
    p.read = read;
    p.arg = arg;
    gdImagePtr src = decode(mime, &p.io), small = NULL, upright = NULL;
    int rc = ERR_INVALID;
    if (!src)
        return ERR_INVALID;
    int sw = gdImageSX(src), sh = gdImageSY(src);
    double k = (double) MEDIA_THUMB_MAX / (sw > sh ? sw : sh);
    if (k > 1)
        k = 1;
    int tw = (int) (sw * k + 0.5), th = (int) (sh * k + 0.5);
    if (tw < 1)
        tw = 1;
    if (th < 1)
        th = 1;
    small = gdImageCreateTrueColor(tw, th);
    if (!small) {
        rc = ERR_NOMEM;
        goto out;
    }
    gdImageAlphaBlending(small, 0);
    gdImageSaveAlpha(small, 1);
    gdImageFill(small, 0, 0, gdTrueColorAlpha(0, 0, 0, gdAlphaTransparent));
    gdImageCopyResampled(small, src, 0, 0, 0, 0, tw, th, sw, sh);
    if (orientation >= 2 && orientation <= 8 && !(upright = orient(small, orientation))) {
        rc = ERR_NOMEM;
        goto out;
    }
    gdImagePtr fin = upright ? upright : small;
    int n = 0;
    void *webp = gdImageWebpPtrEx(fin, &n, 80);
    if (!webp || n <= 0) {
        rc = ERR_NOMEM;
        goto out;
    }
    *out = webp;
    *len = (size_t) n;
    *w = gdImageSX(fin);
    *h = gdImageSY(fin);
    rc = 0;
out:
    gdImageDestroy(src);
    if (small)
        gdImageDestroy(small);
    if (upright)
        gdImageDestroy(upright);
    return rc;
}

void media_thumb_free(void *thumb)
{
    gdFree(thumb);
}
