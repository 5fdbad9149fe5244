/*
 * media_thumb.h - the small picture a conversation shows in place of a
 * stored image until it is opened, so a room full of photos loads fast.
 *
 * Decoded with libgd (Debian's libgd3: JPEG, PNG, GIF, WebP through one
 * API, built on libjpeg-turbo, libpng, libwebp), scaled to fit
 * MEDIA_THUMB_MAX pixels on its longer side, turned upright by the EXIF
 * orientation the upload kept, and encoded as WebP (alpha kept). The
 * decoder reads the stored copy, which has already passed the pixel limit
 * and lost its metadata; memory is the decoded bitmap, 4 bytes a pixel.
 */
#ifndef CHAT_MEDIA_THUMB_H
#define CHAT_MEDIA_THUMB_H

#include <stddef.h>

#define MEDIA_THUMB_MAX 320

/* media_thumb_make: decode the picture of type mime ("image/jpeg", ...)
 * pulled through read (as media_scan reads), apply orientation (EXIF 1..8;
 * 0 or 1: as stored) and return a WebP thumbnail in *out (free with
 * media_thumb_free) of *len bytes, *w x *h pixels. 0, ERR_INVALID when the
 * picture cannot be decoded, ERR_NOMEM. */
int media_thumb_make(const char *mime, int orientation, long (*read)(void *, char *, size_t),
                     void *arg, void **out, size_t *len, int *w, int *h);

void media_thumb_free(void *thumb);

#endif
