/*
 * jwt.h - HS256 JSON Web Tokens, verified the way RFC 8725 asks.
 *
 * Verification pins the algorithm to HS256 (a token's "alg" must be exactly
 * that; "none" and every other value are refused), accepts a "typ" of JWT or
 * at+jwt (or none), requires "exp", honours
 * "nbf", allows cfg->jwt_leeway seconds of clock skew, checks "iss" and
 * "aud" when the config names them, refuses a "crit" header, duplicate
 * member names and trailing bytes, and compares the signature in constant
 * time. The subject ("sub") is the user id: a string of decimal digits (an
 * integral JSON number is accepted too). Runs once per API request: cheap
 * (one HMAC, two small JSON parses), no allocation beyond cJSON's.
 */
#ifndef CHAT_JWT_H
#define CHAT_JWT_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

/* JWT_MAX_LEN: longest token text accepted; longer input is refused
 * unparsed. Tokens we mint are far shorter. */
#define JWT_MAX_LEN 4096

/*
 * jwt_verify: check `token` (NUL-terminated, borrowed) against cfg's
 * secret and claims rules at time `now` (seconds since the epoch). On
 * success stores the subject in *sub (> 0) and returns 0. Returns
 * ERR_EXPIRED when the token is well formed and correctly signed but past
 * exp + leeway, ERR_AUTH for every other failure (malformed, oversized,
 * wrong alg, bad signature, not yet valid, wrong iss/aud, bad sub, a
 * lifetime over jwt_max_lifetime).
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
