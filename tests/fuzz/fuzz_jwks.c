/*
 * fuzz_jwks.c - JWKS documents (jwk_set_parse), as an identity provider's
 * key URL or a key file hands them to every API process.
 *
 * The provider is trusted with its keys, but not with the bytes in
 * between (a proxy, a truncated answer, a misconfigured URL): a document
 * must never crash the parser or let an unusable key in. The first input
 * byte picks the allowed algorithms (its low four bits over RS256, PS256,
 * ES256, EdDSA; none set: all four); the rest is the document.
 * Properties: only 0, ERR_INVALID or ERR_TOO_LARGE come back, and no key
 * on failure; at most JWK_SET_MAX keys, each bound to exactly one allowed
 * algorithm, with a key object and a kid that fits; an all-zero signature
 * of any length never verifies under any of them.
 */
#include "errors.h"
#include "fuzz.h"
#include "jwk.h"

#include <string.h>

int fuzz_jwks_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int bits[] = {JWT_ALG_RS256, JWT_ALG_PS256, JWT_ALG_ES256, JWT_ALG_EDDSA};
    int allowed = 0;
    for (int i = 0; i < 4; i++)
        if (data[0] & (1 << i))
            allowed |= bits[i];
    if (!allowed)
        allowed = JWT_ALG_ASYMMETRIC;

    struct jwk_set set;
    size_t skipped = 0;
    int rc = jwk_set_parse((const char *) data + 1, size - 1, allowed, &set, &skipped);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_TOO_LARGE);
    FUZZ_CHECK(rc == 0 || set.n == 0);
    FUZZ_CHECK(set.n <= JWK_SET_MAX);

    static const unsigned char zero[1024];
    static const size_t lens[] = {0, 32, 64, 256, 512};
    for (size_t i = 0; i < set.n; i++) {
        const struct jwk_key *k = &set.keys[i];
        FUZZ_CHECK(k->pkey != NULL);
        FUZZ_CHECK((k->alg & allowed) == k->alg && (k->alg & (k->alg - 1)) == 0 && k->alg);
        FUZZ_CHECK(strlen(k->kid) < JWK_KID_MAX);
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++)
            FUZZ_CHECK(jwk_verify(k, "payload", 7, zero, lens[j]) == 0);
    }
    jwk_set_clear(&set);
    return 0;
}

FUZZ_TARGET(fuzz_jwks_one)
