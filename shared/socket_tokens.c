/*
 * socket_tokens.c - issue and consume single-use WebSocket tokens (see
 * socket_tokens.h).
 *
 * The table holds only SHA-256(token bytes). Consume is a single UPDATE
 * guarded by "used_at IS NULL AND expires_at > NOW(3)": InnoDB's row lock
 * makes it succeed for exactly one caller, whatever the number of relays.
 * The user id is read back by primary key afterwards (that row is ours
 * now). Issue also deletes up to PURGE_BATCH rows expired for over an hour
 * on one call in PURGE_EVERY, which outpaces the insert rate.
 */
#include "socket_tokens.h"
#include "b64url.h"
#include "errors.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <string.h>

#define TOKEN_BYTES 32
#define PURGE_EVERY 16 /* PURGE_BATCH / PURGE_EVERY > 1 row per issue */

static atomic_uint issue_count;

static int purge_expired(struct sqldb *db)
{
    return sqldb_stmt_exec(db,
                           "DELETE FROM socket_tokens "
                           "WHERE expires_at < NOW(3) - INTERVAL 1 HOUR LIMIT 100",
                           NULL, 0, NULL, NULL);
}

int socket_token_issue(struct sqldb *db, int64_t user_id, int ttl_s,
                       char out[SOCKET_TOKEN_TEXT_LEN])
{
    unsigned char raw[TOKEN_BYTES], hash[SHA256_DIGEST_LENGTH];
    out[0] = '\0';
    if (RAND_bytes(raw, sizeof raw) != 1)
        return ERR_INTERNAL;
    SHA256(raw, sizeof raw, hash);

    struct sqldb_arg args[3] = {SQLDB_ARG_BLOB(hash, sizeof hash), SQLDB_ARG_I64(user_id),
                                SQLDB_ARG_I64(ttl_s)};
    int rc = sqldb_stmt_exec(db,
                             "INSERT INTO socket_tokens (token_hash, user_id, expires_at) "
                             "VALUES (?, ?, NOW(3) + INTERVAL ? SECOND)",
                             args, 3, NULL, NULL);
    if (rc == 0 && b64url_encode(raw, sizeof raw, out, SOCKET_TOKEN_TEXT_LEN) < 0)
        rc = ERR_INTERNAL;
    OPENSSL_cleanse(raw, sizeof raw);
    if (rc != 0) {
        out[0] = '\0';
        return rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
    }
    /* Housekeeping must not fail the issue: the token is already valid. */
    if (atomic_fetch_add(&issue_count, 1) % PURGE_EVERY == 0)
        (void) purge_expired(db);
    return 0;
}

int socket_token_consume(struct sqldb *db, const char *token, int64_t *user_id)
{
    unsigned char raw[TOKEN_BYTES + 2], hash[SHA256_DIGEST_LENGTH];
    size_t n = 0;
    *user_id = 0;
    if (strnlen(token, SOCKET_TOKEN_TEXT_LEN) != SOCKET_TOKEN_TEXT_LEN - 1 ||
        b64url_decode(token, SOCKET_TOKEN_TEXT_LEN - 1, raw, sizeof raw, &n) != 0 ||
        n != TOKEN_BYTES)
        return ERR_AUTH;
    SHA256(raw, TOKEN_BYTES, hash);
    OPENSSL_cleanse(raw, sizeof raw);

    struct sqldb_arg arg = SQLDB_ARG_BLOB(hash, sizeof hash);
    uint64_t affected = 0;
    int rc = sqldb_stmt_exec(db,
                             "UPDATE socket_tokens SET used_at = NOW(3) "
                             "WHERE token_hash = ? AND used_at IS NULL AND expires_at > NOW(3)",
                             &arg, 1, &affected, NULL);
    if (rc != 0)
        return rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
    if (affected != 1)
        return ERR_AUTH;

    struct sqldb_col col = SQLDB_COL_I64();
    rc = sqldb_stmt_row(db, "SELECT user_id FROM socket_tokens WHERE token_hash = ?", &arg, 1, &col,
                        1);
    if (rc != 0)
        return rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
    *user_id = col.i64;
    return 0;
}
