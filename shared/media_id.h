/*
 * media_id.h - the ids that name uploaded pictures and videos.
 *
 * A media id is the GridFS ObjectId of the file followed by a MAC that
 * binds it to the room it was uploaded to and to what the upload found
 * (type, bytes, pixel size), base64url-encoded (32 characters). The relay
 * checks a message's media id against the message's room and the facts it
 * carries with nothing but the key (no database look-up): nobody can turn
 * an id seen in one room into one that passes in another, nor make a
 * picture claim to be a video or another size. The key comes
 * from `media_secret`, or from `jwt_secret` when that is empty, so every
 * API program and relay sharing the configuration agrees on it.
 */
#ifndef CHAT_MEDIA_ID_H
#define CHAT_MEDIA_ID_H

#include "config.h"

#include <stdint.h>

#define MEDIA_OID_LEN  12 /* bytes of a BSON ObjectId */
#define MEDIA_MAC_LEN  12 /* bytes of the truncated HMAC-SHA256 */
#define MEDIA_ID_LEN   32 /* characters of the encoded id */
#define MEDIA_KEY_LEN  32
#define MEDIA_MIME_MAX 16 /* "image/jpeg" ... "video/webm", with the NUL */

/* What the upload found; covered by the MAC. */
struct media_facts {
    char mime[MEDIA_MIME_MAX];
    int64_t size; /* bytes stored */
    int width, height;
};

/* media_key_derive: the 32-byte MAC key of cfg (see above). */
void media_key_derive(const struct config *cfg, unsigned char key[MEDIA_KEY_LEN]);

/* media_id_make: the id of the file oid in room_id with facts f,
 * NUL-terminated in out (MEDIA_ID_LEN + 1 bytes). */
void media_id_make(const unsigned char key[MEDIA_KEY_LEN], const unsigned char oid[MEDIA_OID_LEN],
                   int64_t room_id, const struct media_facts *f, char out[MEDIA_ID_LEN + 1]);

/* media_id_parse: split id into its ObjectId and MAC; 0, or ERR_INVALID
 * when it is not MEDIA_ID_LEN base64url characters. Says nothing about the
 * room: see media_id_check. */
int media_id_parse(const char *id, unsigned char oid[MEDIA_OID_LEN],
                   unsigned char mac[MEDIA_MAC_LEN]);

/* media_id_check: 0 when id is well formed and was made for room_id and f
 * with key; ERR_INVALID otherwise. Compares in constant time. */
int media_id_check(const unsigned char key[MEDIA_KEY_LEN], const char *id, int64_t room_id,
                   const struct media_facts *f);

#endif
