/*
 * media_scan.h - recognise an uploaded picture or video by its bytes, read
 * its pixel size, and copy it with its metadata taken out, in one pass.
 *
 * The upload is pulled through a 64 KiB window and written on as it goes,
 * so memory does not grow with the file. The type comes from the file's
 * own signature (never from a name or a Content-Type). What is removed,
 * losslessly (no pixel is decoded or re-encoded):
 *   JPEG  every APPn segment but JFIF (APP0), ICC profiles (APP2) and Adobe
 *         (APP14), comments, and anything after the end marker; the EXIF
 *         orientation is carried over in a new minimal EXIF block holding
 *         that one tag, so portrait photos still stand upright
 *   PNG   tEXt, zTXt, iTXt, eXIf and tIME chunks, anything after IEND
 *   GIF   comment extensions and application extensions other than the
 *         animation loop (NETSCAPE2.0, ANIMEXTS1.0), anything after the end
 *   WebP  EXIF and XMP chunks are overwritten with zeros and renamed JUNK
 *         (which readers skip), their VP8X flags cleared; the RIFF sizes
 *         stay right without a second pass
 *   MP4   `udta` and `meta` boxes at the top, in `moov` and in each `trak`
 *         (where phones keep the place and the device) become `free` boxes
 *         of zeros, so every offset in the file stays valid
 *   WebM  copied unchanged (cameras do not write location into WebM)
 * Images whose width x height is above the caller's limit are refused as
 * soon as the header that declares it has been read, before any decoder
 * could see them.
 */
#ifndef CHAT_MEDIA_SCAN_H
#define CHAT_MEDIA_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum media_kind { MEDIA_NONE, MEDIA_JPEG, MEDIA_PNG, MEDIA_GIF, MEDIA_WEBP, MEDIA_MP4, MEDIA_WEBM };

#define MEDIA_SCAN_WINDOW 65536

struct media_scan {
    /* Set by the caller before media_scan_sniff. */
    long (*read)(void *arg, char *buf, size_t n); /* > 0 bytes, 0 at the end, < 0 error */
    void *read_arg;
    int (*write)(void *arg, const void *buf, size_t n); /* 0, or an error code */
    void *write_arg;
    int64_t max_in;     /* bytes of input allowed; more: ERR_TOO_LARGE */
    int64_t max_pixels; /* images only: width x height allowed; more: ERR_DENIED */

    /* Results. */
    enum media_kind kind;
    int width, height; /* 0 when the format does not say (WebM); as seen, after
                        * the EXIF orientation */
    int orientation;   /* JPEG: the EXIF orientation kept (1..8), else 0 */
    int64_t in_bytes, out_bytes;

    /* Private. */
    unsigned char in[MEDIA_SCAN_WINDOW];
    size_t pos, len;
    int eof;
    unsigned char out[MEDIA_SCAN_WINDOW];
    size_t out_len;
};

/* media_scan_sniff: read the first bytes and decide the kind. 0 with
 * s->kind set; ERR_INVALID when the bytes are none of the six formats (the
 * caller answers 415); ERR_IO when reading failed. Nothing is written. */
int media_scan_sniff(struct media_scan *s);

/* media_scan_copy: copy the whole input to the writer with the metadata
 * removed, filling width and height. 0 at a clean end; ERR_TOO_LARGE past
 * max_in; ERR_DENIED for an image above max_pixels; ERR_INVALID for a file
 * whose structure is broken or truncated; ERR_IO on a read error; or the
 * writer's error. On an error part of the file may have been written: the
 * caller throws the output away. */
int media_scan_copy(struct media_scan *s);

/* media_kind_mime: "image/jpeg", ..., "video/webm"; NULL for MEDIA_NONE. */
const char *media_kind_mime(enum media_kind kind);

/* media_kind_is_video: 1 for MP4 and WebM. */
int media_kind_is_video(enum media_kind kind);

#endif
