/*
 * media_id.c - media ids: ObjectId plus a room-binding MAC (see media_id.h).
 */
#include "media_id.h"
#include "b64url.h"
#include "errors.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

/* Domain separation: a MAC over media ids can never be a JWT signature. */
static const char key_label[] = "chat media id key v1";

void media_key_derive(const struct config *cfg, unsigned char key[MEDIA_KEY_LEN])
{
    const char *secret = cfg->media_secret[0] ? cfg->media_secret : cfg->jwt_secret;
    unsigned int len = MEDIA_KEY_LEN;
    if (!HMAC(EVP_sha256(), secret, (int) strlen(secret), (const unsigned char *) key_label,
              sizeof key_label - 1, key, &len))
        memset(key, 0, MEDIA_KEY_LEN); /* never happens with SHA-256; ids then fail to check */
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char) (v >> (56 - 8 * i));
}

/* mac_of: HMAC over oid, room, size, width, height (8 bytes each, big
 * endian) and the type padded to MEDIA_MIME_MAX bytes: fixed fields, so no
 * two inputs share an encoding. */
static void mac_of(const unsigned char key[MEDIA_KEY_LEN], const unsigned char oid[MEDIA_OID_LEN],
                   int64_t room_id, const struct media_facts *f, unsigned char mac[MEDIA_MAC_LEN])
{
    unsigned char msg[MEDIA_OID_LEN + 32 + MEDIA_MIME_MAX] = {0}, full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    memcpy(msg, oid, MEDIA_OID_LEN);
    put64(msg + MEDIA_OID_LEN, (uint64_t) room_id);
    put64(msg + MEDIA_OID_LEN + 8, (uint64_t) f->size);
    put64(msg + MEDIA_OID_LEN + 16, (uint64_t) f->width);
    put64(msg + MEDIA_OID_LEN + 24, (uint64_t) f->height);
    memcpy(msg + MEDIA_OID_LEN + 32, f->mime, strnlen(f->mime, MEDIA_MIME_MAX - 1));
    if (!HMAC(EVP_sha256(), key, MEDIA_KEY_LEN, msg, sizeof msg, full, &len))
        memset(full, 0, sizeof full);
    memcpy(mac, full, MEDIA_MAC_LEN);
}

void media_id_make(const unsigned char key[MEDIA_KEY_LEN], const unsigned char oid[MEDIA_OID_LEN],
                   int64_t room_id, const struct media_facts *f, char out[MEDIA_ID_LEN + 1])
{
    unsigned char raw[MEDIA_OID_LEN + MEDIA_MAC_LEN];
    memcpy(raw, oid, MEDIA_OID_LEN);
    mac_of(key, oid, room_id, f, raw + MEDIA_OID_LEN);
    if (b64url_encode(raw, sizeof raw, out, MEDIA_ID_LEN + 1) != MEDIA_ID_LEN)
        out[0] = '\0';
}

int media_id_parse(const char *id, unsigned char oid[MEDIA_OID_LEN],
                   unsigned char mac[MEDIA_MAC_LEN])
{
    unsigned char raw[B64URL_DEC_MAX(MEDIA_ID_LEN)];
    size_t n = 0;
    if (!id || strlen(id) != MEDIA_ID_LEN ||
        b64url_decode(id, MEDIA_ID_LEN, raw, sizeof raw, &n) != 0 ||
        n != MEDIA_OID_LEN + MEDIA_MAC_LEN)
        return ERR_INVALID;
    memcpy(oid, raw, MEDIA_OID_LEN);
    memcpy(mac, raw + MEDIA_OID_LEN, MEDIA_MAC_LEN);
    return 0;
}

int media_id_check(const unsigned char key[MEDIA_KEY_LEN], const char *id, int64_t room_id,
                   const struct media_facts *f)
{
    unsigned char oid[MEDIA_OID_LEN], mac[MEDIA_MAC_LEN], want[MEDIA_MAC_LEN];
    if (media_id_parse(id, oid, mac) != 0)
        return ERR_INVALID;
    mac_of(key, oid, room_id, f, want);
    return CRYPTO_memcmp(mac, want, MEDIA_MAC_LEN) == 0 ? 0 : ERR_INVALID;
}
