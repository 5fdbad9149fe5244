/*
 * jwk.h - public keys of an identity provider, each bound to one JWS
 * algorithm, and the signature check for each algorithm.
 *
 * A key set comes from a JWKS document (RFC 7517) or a PEM file. Every key
 * carries the one algorithm it may verify (RFC 8725 section 3.1): the JWK's
 * "alg" when it names one, else the algorithm its type implies (RSA: RS256,
 * P-256: ES256, Ed25519: EdDSA). Keys whose algorithm is not in the
 * configured allow-list, keys for encryption ("use" other than "sig"),
 * RSA keys under 2048 bits, points off the curve and key types we do not
 * verify are left out of the set, so a token can only ever choose among
 * keys already trusted. HS256 is never a key of a set: the shared secret
 * of the config is the only HMAC key. Verification uses OpenSSL's EVP API
 * and allocates only what OpenSSL does.
 */
#ifndef CHAT_JWK_H
#define CHAT_JWK_H

#include <stddef.h>

/* The algorithms, as bits of an allow-list. */
enum jwt_alg {
    JWT_ALG_HS256 = 1 << 0,
    JWT_ALG_RS256 = 1 << 1,
    JWT_ALG_PS256 = 1 << 2,
    JWT_ALG_ES256 = 1 << 3,
    JWT_ALG_EDDSA = 1 << 4,
};
#define JWT_ALG_ASYMMETRIC (JWT_ALG_RS256 | JWT_ALG_PS256 | JWT_ALG_ES256 | JWT_ALG_EDDSA)

#define JWK_KID_MAX      128 /* bytes of a key id, NUL included */
#define JWK_SET_MAX      32  /* keys kept from one document */
#define JWK_DOC_MAX      (256 * 1024)
#define JWK_RSA_MIN_BITS 2048

/* jwt_alg_from_name: the bit for "RS256", ..., 0 for anything else ("none"
 * included). jwt_alg_name: the JWS name of one bit ("?" when not one). */
int jwt_alg_from_name(const char *name);
const char *jwt_alg_name(int alg);

/* jwt_alg_list_parse: a comma-separated list of names (spaces allowed) as
 * a bit mask; ERR_INVALID when a name is unknown or the list is empty. */
int jwt_alg_list_parse(const char *list, int *mask);

struct jwk_key {
    char kid[JWK_KID_MAX]; /* "" when the key has none */
    int alg;               /* one enum jwt_alg bit */
    void *pkey;            /* EVP_PKEY *, owned */
};

struct jwk_set {
    struct jwk_key keys[JWK_SET_MAX];
    size_t n;
};

/*
 * jwk_set_parse: the keys of a JWKS document (`len` bytes of JSON text)
 * whose algorithm is in `allowed`, into *set (fresh; free with
 * jwk_set_clear). Returns 0 (possibly with no key), ERR_INVALID when the
 * text is not a JWKS object with a "keys" array, ERR_TOO_LARGE above
 * JWK_DOC_MAX, ERR_NOMEM. *skipped (may be NULL) counts keys left out.
 */
int jwk_set_parse(const char *text, size_t len, int allowed, struct jwk_set *set, size_t *skipped);

/*
 * jwk_set_add_pem: add the public key in the PEM file `path` (an RSA, EC
 * P-256 or Ed25519 SubjectPublicKeyInfo, or an X.509 certificate), with no
 * kid, bound to `alg` (0: the algorithm its type implies). Returns 0,
 * ERR_IO (unreadable), ERR_INVALID (no usable key, or alg does not fit the
 * key type or is not in `allowed`), ERR_TOO_LARGE (set full), ERR_NOMEM.
 */
int jwk_set_add_pem(struct jwk_set *set, const char *path, int alg, int allowed);

/* jwk_set_clear: free every key; the set is then empty and reusable. */
void jwk_set_clear(struct jwk_set *set);

/*
 * jwk_verify: 1 when `sig` (siglen bytes, the JWS form: PKCS#1 or PSS
 * bytes, raw r||s for ES256, 64 bytes for EdDSA) is a valid signature of
 * `data` under key k for k->alg; 0 otherwise, including a signature of the
 * wrong length. Never called with an HS256 key.
 */
int jwk_verify(const struct jwk_key *k, const void *data, size_t len, const unsigned char *sig,
               size_t siglen);

#endif
