/*
 * jwt.h - JSON Web Tokens, verified the way RFC 8725 asks: our own HS256
 * tokens (dev login, chatctl) and an identity provider's RS256, PS256,
 * ES256 and EdDSA tokens.
 *
 * The header is checked first: its "alg" must be in the configured
 * allow-list (jwt_algorithms; "none" never is), and "alg" with "kid" only
 * picks among keys already trusted, each bound to its one algorithm
 * (jwk.h): HS256 is verified with jwt_secret and nothing else, the others
 * with the provider's keys (jwks_source.h), so a public key can never
 * serve as an HMAC secret. "typ" must be jwt_typ when that is set, else
 * JWT or at+jwt or absent; a "crit" header, duplicate member names and
 * trailing bytes are refused. Only then the signature (HMAC compared in
 * constant time, or EVP), and only a correctly signed token's claims are
 * parsed: "exp" required, "nbf", "iat", jwt_max_lifetime, jwt_leeway
 * seconds of clock skew, "iss" and "aud" (string or array) when the config
 * names them.
 *
 * An HS256 token names a user of ours: "sub" is the user id, a string of
 * decimal digits (an integral JSON number is accepted too). A provider's
 * token names a user of the provider: the claim jwt_identity_claim (sub by
 * default) under its "iss"; api.c maps it to a user row (users.h). Runs
 * once per API request: cheap (one MAC or one signature check, two small
 * JSON parses), no allocation beyond cJSON's and OpenSSL's.
 */
#ifndef CHAT_JWT_H
#define CHAT_JWT_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

/* JWT_MAX_LEN: longest token text accepted; longer input is refused
 * unparsed. Tokens we mint are far shorter. */
#define JWT_MAX_LEN 4096

#define JWT_ISS_MAX  256 /* bytes of an issuer or provider subject, NUL included */
#define JWT_NAME_MAX 512 /* bytes of a name claim kept, NUL included */

struct jwks_source;

/* Who a valid token names. */
struct jwt_identity {
    int alg;                   /* the enum jwt_alg bit it was signed with */
    int64_t user_id;           /* HS256: our user id (> 0); else 0 */
    char issuer[JWT_ISS_MAX];  /* provider tokens: "iss" ("" when absent) */
    char subject[JWT_ISS_MAX]; /* provider tokens: the identity claim */
    char name[JWT_NAME_MAX];   /* provider tokens: first of jwt_name_claims; may be "" */
};

/*
 * jwt_verify_token: check `token` (NUL-terminated, borrowed) at time `now`
 * (seconds since the epoch) against cfg and, for provider algorithms, the
 * keys of `keys` (NULL: none). Fills *id and returns 0, ERR_EXPIRED when
 * the token is well formed and correctly signed but past exp + leeway,
 * ERR_AUTH for every other failure. *reason (never NULL after the call) is
 * a short fixed word for the log, e.g. "bad_signature", "unknown_kid",
 * "alg_not_allowed", "wrong_audience"; it never holds token text.
 */
int jwt_verify_token(const struct config *cfg, struct jwks_source *keys, const char *token,
                     int64_t now, struct jwt_identity *id, const char **reason);

/*
 * jwt_verify: jwt_verify_token for our own tokens only (HS256, whatever
 * else the allow-list holds): on success stores the user id in *sub (> 0)
 * and returns 0; ERR_EXPIRED or ERR_AUTH as above (*sub is then 0).
 */
int jwt_verify(const struct config *cfg, const char *token, int64_t now, int64_t *sub);

/*
 * jwt_sign: mint an HS256 token for user `sub` issued at `now`, expiring
 * after cfg->jwt_ttl seconds, with iss/aud when cfg names them. Writes the
 * NUL-terminated text into out (cap bytes; JWT_MAX_LEN is always enough).
 * Returns 0, ERR_TOO_LARGE (out too small), ERR_NOMEM or ERR_INTERNAL.
 */
int jwt_sign(const struct config *cfg, int64_t sub, int64_t now, char *out, size_t cap);

#endif
