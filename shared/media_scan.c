/*
 * media_scan.c - signature, size and metadata removal for uploads (see
 * media_scan.h). Each format is a short walk over its own block structure;
 * the primitives below pull input through the window and push output
 * through a staging buffer of the same size.
 */
#include "media_scan.h"
#include "errors.h"

#include <string.h>

/* ------------------------------------------------------------ primitives */

static int fill(struct media_scan *s)
{
    if (s->pos < s->len || s->eof)
        return 0;
    s->pos = s->len = 0;
    long r = s->read(s->read_arg, (char *) s->in, sizeof s->in);
    if (r < 0)
        return ERR_IO;
    if (r == 0) {
        s->eof = 1;
        return 0;
    }
    s->len = (size_t) r;
    s->in_bytes += r;
    return s->in_bytes > s->max_in ? ERR_TOO_LARGE : 0;
}

static int flush(struct media_scan *s)
{
    if (!s->out_len)
        return 0;
    int rc = s->write(s->write_arg, s->out, s->out_len);
    s->out_bytes += (int64_t) s->out_len;
    s->out_len = 0;
    return rc;
}

static int put(struct media_scan *s, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        size_t k = sizeof s->out - s->out_len;
        if (k > n)
            k = n;
        memcpy(s->out + s->out_len, c, k);
        s->out_len += k;
        c += k;
        n -= k;
        int rc = s->out_len == sizeof s->out ? flush(s) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* take: consume exactly n input bytes, copying them into dst (may be NULL)
 * and, with out set, to the output; ERR_INVALID when the input ends first. */
static int take(struct media_scan *s, void *dst, uint64_t n, int out)
{
    unsigned char *d = dst;
    while (n) {
        int rc = fill(s);
        if (rc)
            return rc;
        if (s->pos == s->len)
            return ERR_INVALID;
        size_t k = s->len - s->pos;
        if (k > n)
            k = (size_t) n;
        if (d) {
            memcpy(d, s->in + s->pos, k);
            d += k;
        }
        if (out && (rc = put(s, s->in + s->pos, k)))
            return rc;
        s->pos += k;
        n -= k;
    }
    return 0;
}

/* get: exactly n input bytes into dst (NULL: skip them). */
static int get(struct media_scan *s, void *dst, uint64_t n)
{
    return take(s, dst, n, 0);
}

/* getc_: one input byte, or < 0 (ERR_INVALID at the end). */
static int getc_(struct media_scan *s)
{
    unsigned char c;
    int rc = get(s, &c, 1);
    return rc ? rc : c;
}

/* pass: copy n input bytes to the output. */
static int pass(struct media_scan *s, uint64_t n)
{
    return take(s, NULL, n, 1);
}

/* zero: skip n input bytes and write n zero bytes in their place. */
static int zero(struct media_scan *s, uint64_t n)
{
    static const unsigned char z[4096];
    int rc = get(s, NULL, n);
    while (!rc && n) {
        size_t k = n > sizeof z ? sizeof z : (size_t) n;
        rc = put(s, z, k);
        n -= k;
    }
    return rc;
}

/* rest: everything up to the end, copied to the output with out set,
 * else dropped. */
static int rest(struct media_scan *s, int out)
{
    for (;;) {
        int rc = fill(s);
        if (rc)
            return rc;
        if (s->pos == s->len)
            return 0;
        if (out && (rc = put(s, s->in + s->pos, s->len - s->pos)))
            return rc;
        s->pos = s->len;
    }
}

static int pass_rest(struct media_scan *s)
{
    return rest(s, 1);
}

static int drop_rest(struct media_scan *s)
{
    return rest(s, 0);
}

/* at_end: 1 when the input is exhausted, 0 when more follows, < 0 error. */
static int at_end(struct media_scan *s)
{
    int rc = fill(s);
    return rc ? rc : s->pos == s->len;
}

/* set_fourcc: write a four-character box or chunk name (no NUL). */
static void set_fourcc(unsigned char *p, const char name[4])
{
    memcpy(p, name, 4);
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned) p[0] << 8 | p[1];
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned) p[1] << 8 | p[0];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

/* set_size: record an image's size and refuse it above max_pixels. */
static int set_size(struct media_scan *s, uint64_t w, uint64_t h)
{
    if (w == 0 || h == 0 || w > 1000000 || h > 1000000)
        return ERR_INVALID;
    if (w * h > (uint64_t) s->max_pixels)
        return ERR_DENIED;
    s->width = (int) w;
    s->height = (int) h;
    return 0;
}

/* ------------------------------------------------------------ JPEG */

/* exif_orientation: the Orientation tag (1..8) of an APP1 EXIF payload
 * (starting at "Exif\0\0"), or 0. */
static int exif_orientation(const unsigned char *p, size_t n)
{
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0)
        return 0;
    const unsigned char *t = p + 6;
    size_t tn = n - 6;
    int little = t[0] == 'I' && t[1] == 'I';
    if (!little && !(t[0] == 'M' && t[1] == 'M'))
        return 0;
    uint32_t ifd = little ? le32(t + 4) : be32(t + 4);
    if (ifd > tn || tn - ifd < 2)
        return 0;
    unsigned count = little ? le16(t + ifd) : be16(t + ifd);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t) i * 12;
        if (e + 12 > tn)
            return 0;
        unsigned tag = little ? le16(t + e) : be16(t + e);
        if (tag == 0x0112) {
            unsigned v = little ? le16(t + e + 8) : be16(t + e + 8);
            return v >= 1 && v <= 8 ? (int) v : 0;
        }
    }
    return 0;
}

/* put_orientation: a minimal APP1 EXIF segment with only Orientation. */
static int put_orientation(struct media_scan *s, int orientation)
{
    static const unsigned char head[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
                                         'M',  'M',  0,    42,   0,   0,   0,   8,   0, 1,
                                         0x01, 0x12, 0,    3,    0,   0,   0,   1};
    unsigned char tail[8] = {0, (unsigned char) orientation, 0, 0, 0, 0, 0, 0};
    int rc = put(s, head, sizeof head);
    return rc ? rc : put(s, tail, sizeof tail);
}

static int is_sof(int m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* jpeg_entropy: copy entropy-coded data up to the next real marker, which
 * is returned (without its 0xFF). */
static int jpeg_entropy(struct media_scan *s)
{
    for (;;) {
        int rc = fill(s);
        if (rc)
            return rc;
        if (s->pos == s->len)
            return ERR_INVALID;
        unsigned char *p = s->in + s->pos;
        unsigned char *ff = memchr(p, 0xFF, s->len - s->pos);
        size_t k = ff ? (size_t) (ff - p) : s->len - s->pos;
        if (k && (rc = put(s, p, k)))
            return rc;
        s->pos += k;
        if (!ff)
            continue;
        s->pos++; /* the 0xFF */
        int d;
        while ((d = getc_(s)) == 0xFF)
            ;
        if (d < 0)
            return d;
        if (d == 0x00 || (d >= 0xD0 && d <= 0xD7)) {
            unsigned char two[2] = {0xFF, (unsigned char) d};
            if ((rc = put(s, two, 2)))
                return rc;
            continue;
        }
        return d;
    }
}

static int scan_jpeg(struct media_scan *s)
{
    unsigned char seg[1024];
    int rc, orientation = 0, wrote_orientation = 0, sized = 0;
    if ((rc = get(s, seg, 2)) || (rc = put(s, seg, 2)))
        return rc;
    int m = -1;
    for (;;) {
        if (m < 0) {
            int c = getc_(s);
            if (c != 0xFF)
                return c < 0 ? c : ERR_INVALID;
            while ((m = getc_(s)) == 0xFF)
                ;
            if (m < 0)
                return m;
        }
        int marker = m;
        m = -1;
        if (marker == 0xD9) {
            static const unsigned char eoi[2] = {0xFF, 0xD9};
            if (!sized)
                return ERR_INVALID;
            rc = put(s, eoi, 2);
            return rc ? rc : drop_rest(s);
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            unsigned char two[2] = {0xFF, (unsigned char) marker};
            if ((rc = put(s, two, 2)))
                return rc;
            continue;
        }
        unsigned char lb[2];
        if ((rc = get(s, lb, 2)))
            return rc;
        unsigned len = be16(lb);
        if (len < 2)
            return ERR_INVALID;
        size_t body = len - 2, head = body < sizeof seg ? body : sizeof seg;
        if (marker >= 0xE0 && marker <= 0xEF) {
            /* APPn: keep JFIF, ICC and Adobe; note the EXIF orientation. */
            if ((rc = get(s, seg, head)))
                return rc;
            int keep = (marker == 0xE0 && head >= 5 && memcmp(seg, "JFIF", 5) == 0) ||
                       (marker == 0xE2 && head >= 12 && memcmp(seg, "ICC_PROFILE", 12) == 0) ||
                       (marker == 0xEE && head >= 5 && memcmp(seg, "Adobe", 5) == 0);
            if (marker == 0xE1 && !orientation)
                s->orientation = orientation = exif_orientation(seg, head);
            if (!keep) {
                if ((rc = get(s, NULL, body - head)))
                    return rc;
                continue;
            }
            unsigned char hd[4] = {0xFF, (unsigned char) marker, lb[0], lb[1]};
            if ((rc = put(s, hd, 4)) || (rc = put(s, seg, head)) || (rc = pass(s, body - head)))
                return rc;
            continue;
        }
        if (marker == 0xFE) { /* comment */
            if ((rc = get(s, NULL, body)))
                return rc;
            continue;
        }
        if (orientation > 1 && !wrote_orientation) {
            if ((rc = put_orientation(s, orientation)))
                return rc;
            wrote_orientation = 1;
        }
        unsigned char hd[4] = {0xFF, (unsigned char) marker, lb[0], lb[1]};
        if ((rc = put(s, hd, 4)))
            return rc;
        if (is_sof(marker)) {
            if (body < 5 || body > sizeof seg)
                return ERR_INVALID;
            if ((rc = get(s, seg, body)))
                return rc;
            uint64_t h = be16(seg + 1), w = be16(seg + 3);
            if ((rc = set_size(s, orientation >= 5 ? h : w, orientation >= 5 ? w : h)) ||
                (rc = put(s, seg, body)))
                return rc;
            sized = 1;
            continue;
        }
        if ((rc = pass(s, body)))
            return rc;
        if (marker == 0xDA) {
            if (!sized)
                return ERR_INVALID;
            m = jpeg_entropy(s);
            if (m < 0)
                return m;
        }
    }
}

/* ------------------------------------------------------------ PNG */

static int scan_png(struct media_scan *s)
{
    unsigned char b[25];
    int rc;
    if ((rc = get(s, b, 8)) || (rc = put(s, b, 8)))
        return rc;
    int first = 1;
    for (;;) {
        if ((rc = get(s, b, 8)))
            return rc;
        uint32_t len = be32(b);
        if (len > 0x7FFFFFFFu)
            return ERR_INVALID;
        if (first) {
            if (memcmp(b + 4, "IHDR", 4) != 0 || len != 13)
                return ERR_INVALID;
            if ((rc = get(s, b + 8, 17)) || (rc = set_size(s, be32(b + 8), be32(b + 12))) ||
                (rc = put(s, b, 25)))
                return rc;
            first = 0;
            continue;
        }
        const unsigned char *t = b + 4;
        if (!memcmp(t, "tEXt", 4) || !memcmp(t, "zTXt", 4) || !memcmp(t, "iTXt", 4) ||
            !memcmp(t, "eXIf", 4) || !memcmp(t, "tIME", 4)) {
            if ((rc = get(s, NULL, (uint64_t) len + 4)))
                return rc;
            continue;
        }
        if ((rc = put(s, b, 8)) || (rc = pass(s, (uint64_t) len + 4)))
            return rc;
        if (!memcmp(t, "IEND", 4))
            return drop_rest(s);
    }
}

/* ------------------------------------------------------------ GIF */

/* gif_blocks: copy (or, with keep 0, drop) a run of data sub-blocks. */
static int gif_blocks(struct media_scan *s, int keep)
{
    for (;;) {
        int n = getc_(s);
        if (n < 0)
            return n;
        unsigned char c = (unsigned char) n;
        int rc = keep ? put(s, &c, 1) : 0;
        if (rc)
            return rc;
        if (n == 0)
            return 0;
        if ((rc = keep ? pass(s, (uint64_t) n) : get(s, NULL, (uint64_t) n)))
            return rc;
    }
}

static int scan_gif(struct media_scan *s)
{
    unsigned char b[16];
    int rc;
    if ((rc = get(s, b, 13)) || (rc = set_size(s, le16(b + 6), le16(b + 8))) ||
        (rc = put(s, b, 13)))
        return rc;
    if ((b[10] & 0x80) && (rc = pass(s, 3u << ((b[10] & 7) + 1))))
        return rc;
    for (;;) {
        int c = getc_(s);
        if (c < 0)
            return c;
        b[0] = (unsigned char) c;
        if (c == 0x3B) {
            rc = put(s, b, 1);
            return rc ? rc : drop_rest(s);
        }
        if (c == 0x2C) {
            /* A frame may not be larger than the limit either. */
            if ((rc = get(s, b + 1, 9)) || (rc = put(s, b, 10)))
                return rc;
            if ((uint64_t) le16(b + 5) * le16(b + 7) > (uint64_t) s->max_pixels)
                return ERR_DENIED;
            if ((b[9] & 0x80) && (rc = pass(s, 3u << ((b[9] & 7) + 1))))
                return rc;
            if ((rc = pass(s, 1)) || (rc = gif_blocks(s, 1)))
                return rc;
            continue;
        }
        if (c != 0x21)
            return ERR_INVALID;
        int label = getc_(s);
        if (label < 0)
            return label;
        b[1] = (unsigned char) label;
        if (label == 0xFE) {
            if ((rc = gif_blocks(s, 0)))
                return rc;
            continue;
        }
        if (label == 0xFF) {
            int n = getc_(s);
            if (n != 11)
                return n < 0 ? n : ERR_INVALID;
            b[2] = 11;
            if ((rc = get(s, b + 3, 11)))
                return rc;
            int keep = !memcmp(b + 3, "NETSCAPE2.0", 11) || !memcmp(b + 3, "ANIMEXTS1.0", 11);
            if (keep && (rc = put(s, b, 14)))
                return rc;
            if ((rc = gif_blocks(s, keep)))
                return rc;
            continue;
        }
        if ((rc = put(s, b, 2)) || (rc = gif_blocks(s, 1)))
            return rc;
    }
}

/* ------------------------------------------------------------ WebP */

static int scan_webp(struct media_scan *s)
{
    unsigned char b[32];
    int rc, sized = 0;
    if ((rc = get(s, b, 12)) || (rc = put(s, b, 12)))
        return rc;
    uint64_t left = le32(b + 4);
    if (left < 4)
        return ERR_INVALID;
    left -= 4;
    while (left >= 8) {
        if ((rc = get(s, b, 8)))
            return rc;
        uint64_t size = le32(b + 4), padded = size + (size & 1);
        if (padded > left - 8)
            return ERR_INVALID;
        left -= 8 + padded;
        if (!memcmp(b, "EXIF", 4) || !memcmp(b, "XMP ", 4)) {
            set_fourcc(b, "JUNK");
            if ((rc = put(s, b, 8)) || (rc = zero(s, padded)))
                return rc;
            continue;
        }
        if (!memcmp(b, "VP8X", 4) && size >= 10) {
            if ((rc = get(s, b + 8, 10)))
                return rc;
            b[8] &= (unsigned char) ~0x0C; /* the EXIF and XMP flags */
            uint64_t w = 1 + (b[12] | (uint32_t) b[13] << 8 | (uint32_t) b[14] << 16);
            uint64_t h = 1 + (b[15] | (uint32_t) b[16] << 8 | (uint32_t) b[17] << 16);
            if ((rc = set_size(s, w, h)) || (rc = put(s, b, 18)) || (rc = pass(s, padded - 10)))
                return rc;
            sized = 1;
            continue;
        }
        if (!sized && !memcmp(b, "VP8 ", 4) && size >= 10) {
            if ((rc = get(s, b + 8, 10)))
                return rc;
            if (b[11] != 0x9d || b[12] != 0x01 || b[13] != 0x2a)
                return ERR_INVALID;
            if ((rc = set_size(s, le16(b + 14) & 0x3FFF, le16(b + 16) & 0x3FFF)) ||
                (rc = put(s, b, 18)) || (rc = pass(s, padded - 10)))
                return rc;
            sized = 1;
            continue;
        }
        if (!sized && !memcmp(b, "VP8L", 4) && size >= 5) {
            if ((rc = get(s, b + 8, 5)))
                return rc;
            if (b[8] != 0x2f)
                return ERR_INVALID;
            uint32_t bits = le32(b + 9);
            if ((rc = set_size(s, 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))) ||
                (rc = put(s, b, 13)) || (rc = pass(s, padded - 5)))
                return rc;
            sized = 1;
            continue;
        }
        if ((rc = put(s, b, 8)) || (rc = pass(s, padded)))
            return rc;
    }
    if (!sized || left)
        return ERR_INVALID;
    return drop_rest(s);
}

/* ------------------------------------------------------------ MP4 */

/* mp4_boxes: walk boxes for `left` bytes (UINT64_MAX: to the end of the
 * input) at nesting depth `depth`. */
static int mp4_boxes(struct media_scan *s, uint64_t left, int depth)
{
    unsigned char b[128];
    int rc;
    while (left) {
        if (left == UINT64_MAX && (rc = at_end(s)) != 0)
            return rc < 0 ? rc : 0;
        if ((rc = get(s, b, 8)))
            return rc;
        uint64_t size = be32(b), hdr = 8;
        if (size == 1) {
            if ((rc = get(s, b + 8, 8)))
                return rc;
            size = (uint64_t) be32(b + 8) << 32 | be32(b + 12);
            hdr = 16;
        }
        if (size == 0) {
            /* To the end of the file: only the last top-level box, and
             * only in the 32-bit size (a 64-bit size of 0 means nothing). */
            if (depth || left != UINT64_MAX || hdr != 8)
                return ERR_INVALID;
            rc = put(s, b, 8);
            return rc ? rc : pass_rest(s);
        }
        if (size < hdr || (left != UINT64_MAX && size > left))
            return ERR_INVALID;
        if (left != UINT64_MAX)
            left -= size;
        uint64_t body = size - hdr;
        const unsigned char *t = b + 4;
        if (!memcmp(t, "udta", 4) || !memcmp(t, "meta", 4)) {
            set_fourcc(b + 4, "free");
            if ((rc = put(s, b, hdr)) || (rc = zero(s, body)))
                return rc;
            continue;
        }
        if ((rc = put(s, b, hdr)))
            return rc;
        if (depth < 2 && (!memcmp(t, "moov", 4) || !memcmp(t, "trak", 4))) {
            if ((rc = mp4_boxes(s, body, depth + 1)))
                return rc;
            continue;
        }
        if (!memcmp(t, "tkhd", 4) && body >= 84 && body <= sizeof b) {
            if ((rc = get(s, b, body)) || (rc = put(s, b, body)))
                return rc;
            /* width and height: 16.16 fixed point, the last 8 bytes */
            int w = (int) (be32(b + body - 8) >> 16), h = (int) (be32(b + body - 4) >> 16);
            if (w > s->width && h > 0) {
                s->width = w;
                s->height = h;
            }
            continue;
        }
        if ((rc = pass(s, body)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ sniffing */

/* peek: make at least n bytes (or all there are) visible in the window. */
static int peek(struct media_scan *s, size_t n)
{
    while (s->len - s->pos < n && !s->eof) {
        if (s->pos) {
            memmove(s->in, s->in + s->pos, s->len - s->pos);
            s->len -= s->pos;
            s->pos = 0;
        }
        long r = s->read(s->read_arg, (char *) s->in + s->len, sizeof s->in - s->len);
        if (r < 0)
            return ERR_IO;
        if (r == 0)
            s->eof = 1;
        s->len += (size_t) r;
        s->in_bytes += r;
    }
    return 0;
}

static int mp4_brand_ok(const unsigned char *b)
{
    static const char *const brands[] = {"isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42",
                                         "avc1", "M4V ", "dash", "qt  ", "mmp4", "MSNV"};
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (!memcmp(b, brands[i], 4))
            return 1;
    return 0;
}

int media_scan_sniff(struct media_scan *s)
{
    s->kind = MEDIA_NONE;
    if (peek(s, 64) != 0)
        return ERR_IO;
    const unsigned char *b = s->in + s->pos;
    size_t n = s->len - s->pos;
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        s->kind = MEDIA_JPEG;
    else if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        s->kind = MEDIA_PNG;
    else if (n >= 13 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
        s->kind = MEDIA_GIF;
    else if (n >= 16 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBPVP8", 7))
        s->kind = MEDIA_WEBP;
    else if (n >= 12 && !memcmp(b + 4, "ftyp", 4) && mp4_brand_ok(b + 8))
        s->kind = MEDIA_MP4;
    else if (n >= 4 && !memcmp(b, "\x1a\x45\xdf\xa3", 4) && memmem(b, n, "\x42\x82\x84webm", 7))
        s->kind = MEDIA_WEBM;
    return s->kind == MEDIA_NONE ? ERR_INVALID : 0;
}

int media_scan_copy(struct media_scan *s)
{
    int rc = s->in_bytes > s->max_in ? ERR_TOO_LARGE : 0;
    if (rc)
        return rc;
    switch (s->kind) {
    case MEDIA_JPEG:
        rc = scan_jpeg(s);
        break;
    case MEDIA_PNG:
        rc = scan_png(s);
        break;
    case MEDIA_GIF:
        rc = scan_gif(s);
        break;
    case MEDIA_WEBP:
        rc = scan_webp(s);
        break;
    case MEDIA_MP4:
        rc = mp4_boxes(s, UINT64_MAX, 0);
        break;
    case MEDIA_WEBM:
        rc = pass_rest(s);
        break;
    default:
        return ERR_INVALID;
    }
    return rc ? rc : flush(s);
}

const char *media_kind_mime(enum media_kind kind)
{
    static const char *const mime[] = {NULL,         "image/jpeg", "image/png", "image/gif",
                                       "image/webp", "video/mp4",  "video/webm"};
    return (unsigned) kind < sizeof mime / sizeof mime[0] ? mime[kind] : NULL;
}

int media_kind_is_video(enum media_kind kind)
{
    return kind == MEDIA_MP4 || kind == MEDIA_WEBM;
}
