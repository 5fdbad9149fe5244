/*
 * jwks_source.h - where a process gets the identity provider's public
 * keys, and when it looks again.
 *
 * Sources (any of them, together): a PEM file (jwt_public_key_file), a
 * JWKS file (jwt_jwks_file) and a JWKS URL (jwt_jwks_url, fetched with
 * libcurl). Files are read at open and read again when their mtime changes,
 * looked at no more than once per jwt_jwks_min_interval. The URL's keys
 * live for the Cache-Control max-age of the answer (jwt_jwks_max_age when
 * it has none, and at most that), are fetched again on the request path
 * once they are stale, and once more when a token names a kid no key has;
 * two fetches are always at least jwt_jwks_min_interval apart, so a flood
 * of tokens with made-up kids costs one fetch per interval. A failed fetch
 * keeps the last good keys (stale keys are still used: a provider outage
 * must not sign everybody out). With jwt_jwks_cache_dir set, the last good
 * document and the time of the last attempt are shared through a file
 * there, so short-lived CGI processes (and the several FastCGI processes)
 * share one fetch per interval instead of fetching each.
 *
 * Single-threaded: one source per process, used by one request at a time.
 * Never logs: what happened on the last call is in jwks_source_event().
 */
#ifndef CHAT_JWKS_SOURCE_H
#define CHAT_JWKS_SOURCE_H

#include "config.h"
#include "jwk.h"

#include <stddef.h>
#include <stdint.h>

struct jwks_source;

/*
 * jwks_source_open: a source for cfg (borrowed for the source's life).
 * Reads the files now; the URL is fetched on first need (or taken from
 * the cache directory). Returns 0 with *out set (NULL when cfg names no
 * key source), or ERR_INVALID / ERR_IO / ERR_NOMEM with a line in err.
 */
int jwks_source_open(const struct config *cfg, struct jwks_source **out, char *err, size_t errlen);

void jwks_source_free(struct jwks_source *src);

/* Why jwks_source_find found nothing. */
enum jwks_miss {
    JWKS_MISS_NONE = 0,
    JWKS_MISS_KID,     /* no key has the token's kid (for its alg) */
    JWKS_MISS_ALG,     /* no key is bound to the token's alg */
    JWKS_MISS_NO_KEYS, /* the source has no keys at all (never fetched) */
};

/*
 * jwks_source_find: the keys that may verify a token of algorithm `alg`
 * with key id `kid` (NULL: the token has none) at time `now`: those bound
 * to alg whose kid equals it (a key without kid matches any). Refreshes
 * first when due (see above). Stores up to `max` borrowed pointers (valid
 * until the next call) in keys, the count in *n, and returns it; 0 with
 * *miss set when none.
 */
size_t jwks_source_find(struct jwks_source *src, int64_t now, int alg, const char *kid,
                        const struct jwk_key **keys, size_t max, enum jwks_miss *miss);

/*
 * jwks_source_event: what the last jwks_source_find did beyond a lookup,
 * as "key=value ..." text for a log line (fetch result, keys kept, file
 * reloaded), or NULL when it only looked. Cleared by the next call.
 */
const char *jwks_source_event(const struct jwks_source *src);

/* jwks_source_fetches: URL fetches attempted so far (tests, metrics). */
unsigned long jwks_source_fetches(const struct jwks_source *src);

#endif
