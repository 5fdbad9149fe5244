/*
 * media_api.h - pictures and videos shared in a room. Served by chat-media.
 *
 *   POST /api/v1/rooms/<roomId>/media   the raw file as the body (any
 *        Content-Type; the bytes decide). 201 {"id","type","size","width",
 *        "height"}: put that object, with a "name", as `media` of an IMAGE
 *        or VIDEO message. 404 for a room the caller is not in, 413 over the
 *        size for its kind or over the quota, 415 for anything but JPEG, PNG,
 *        GIF, WebP, MP4, WebM, 422 too_many_pixels, 429 past the hourly
 *        count, 400 for a broken or incomplete file.
 *   GET  /api/v1/media/<mediaId>        the file, to members of its room
 *        only (404 to anyone else, as for an id that does not exist), with
 *        ETag / If-None-Match and single byte ranges (206, 416).
 *   GET  /api/v1/media/<mediaId>/thumb  a picture's thumbnail (WebP, at
 *        most 320 pixels a side, upright), made at upload; 404 for videos.
 *
 * Both need the JWT in Authorization: the page fetches files with it and
 * shows them through blob: URLs, so no URL ever carries a credential.
 */
#ifndef CHAT_MEDIA_API_H
#define CHAT_MEDIA_API_H

#include "api.h"

extern const struct api_app media_api_app;

/* media_api_range: parse a Range header for a file of len bytes. Returns 0
 * for "no range, send it all", 1 with [*from, *to) set for one satisfiable
 * range, -1 when the range cannot be satisfied (416). A header this does
 * not understand (another unit, several ranges) counts as absent, as RFC
 * 9110 allows. */
int media_api_range(const char *header, int64_t len, int64_t *from, int64_t *to);

#endif
