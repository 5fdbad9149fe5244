/*
 * socket_tokens.h - short-lived, single-use tokens that open a WebSocket.
 *
 * A token is 32 random bytes (RAND_bytes) as 43 characters of base64url.
 * Only its SHA-256 is stored (socket_tokens.token_hash), with the user and
 * the expiry; it is never logged.
 */
#ifndef CHAT_SOCKET_TOKENS_H
#define CHAT_SOCKET_TOKENS_H

#include "sqldb.h"

#include <stdint.h>

#define SOCKET_TOKEN_TEXT_LEN 44 /* 43 base64url characters and the NUL */

/* socket_token_issue: create a token for user_id valid ttl_s seconds, write
 * its text into out. Also deletes a bounded number of long-expired rows so
 * the table stays small without a cron job. Returns 0, ERR_UNAVAILABLE,
 * ERR_INTERNAL. */
int socket_token_issue(struct sqldb *db, int64_t user_id, int ttl_s,
                       char out[SOCKET_TOKEN_TEXT_LEN]);

/* socket_token_issue_limited: socket_token_issue, unless user_id already got
 * per_minute tokens in the last 60 seconds (counted in socket_tokens, so
 * across every process; the user's row is locked meanwhile, so concurrent
 * calls cannot both take the last place). Then ERR_RATE_LIMITED, and
 * *retry_after_s is the number of seconds until one more fits (>= 1).
 * per_minute 0 means no limit. Also ERR_NOT_FOUND for an unknown user,
 * ERR_UNAVAILABLE, ERR_INTERNAL. */
int socket_token_issue_limited(struct sqldb *db, int64_t user_id, int ttl_s, int per_minute,
                               char out[SOCKET_TOKEN_TEXT_LEN], int *retry_after_s);

/* socket_token_consume: atomically mark the token used (one UPDATE ... WHERE
 * used_at IS NULL AND expires_at > now) and return its user in *user_id.
 * Exactly one caller can succeed for a given token. Returns 0; ERR_AUTH for
 * a token that is malformed, unknown, already used or expired (callers must
 * not tell these apart to the client); ERR_UNAVAILABLE when MySQL is down;
 * ERR_INTERNAL on any other server error. */
int socket_token_consume(struct sqldb *db, const char *token, int64_t *user_id);

#endif
