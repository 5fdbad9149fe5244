/*
 * idp_keys.h - a stand-in identity provider for tests and the bench: key
 * pairs made by OpenSSL at run time (RSA 2048, P-256, Ed25519), their
 * public halves as JWKS text or a PEM file, and tokens signed with them in
 * JWS form (raw r||s for ES256). Nothing is read from disk or network.
 */
#ifndef CHAT_IDP_KEYS_H
#define CHAT_IDP_KEYS_H

#include <stddef.h>

struct idp_key {
    void *pkey; /* EVP_PKEY *, private, owned */
    int alg;    /* enum jwt_alg bit it signs with */
    char kid[64];
};

/* idp_key_new: a fresh key pair for alg (RS256 and PS256: RSA 2048) named
 * kid. Returns 0, or -1 when OpenSSL fails. */
int idp_key_new(struct idp_key *k, int alg, const char *kid);
void idp_key_free(struct idp_key *k);

/* idp_jwk: the public key as one JWK object text (kty, kid, alg, use and
 * its members); idp_jwks: {"keys":[...]} of n keys. Return the length, or
 * -1 when out is too small. */
int idp_jwk(const struct idp_key *k, char *out, size_t cap);
int idp_jwks(const struct idp_key *const *keys, size_t n, char *out, size_t cap);

/* idp_pem_write: the public key as a PEM SubjectPublicKeyInfo file;
 * idp_pem_text: the same text into out. 0 or -1. */
int idp_pem_write(const struct idp_key *k, const char *path);
int idp_pem_text(const struct idp_key *k, char *out, size_t cap);

/*
 * idp_sign: a token over the header and payload JSON texts given (header
 * NULL: {"alg":<k's alg>,"typ":"JWT","kid":<k's kid>}), signed with k
 * under k->alg. Returns the token length, or -1.
 */
int idp_sign(const struct idp_key *k, const char *header, const char *payload, char *out,
             size_t cap);

/* idp_sign_raw: the same over an explicit signature (sig_len bytes), for
 * tokens with a signature of the wrong shape. */
int idp_sign_raw(const char *header, const char *payload, const unsigned char *sig, size_t sig_len,
                 char *out, size_t cap);

/* idp_sign_hs256: an HS256 token with `secret` (len bytes) as the key. */
int idp_sign_hs256(const void *secret, size_t len, const char *header, const char *payload,
                   char *out, size_t cap);

#endif
