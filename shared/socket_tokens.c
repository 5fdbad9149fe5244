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
 *
 * The per-user rate limit counts the user's rows created in the last 60
 * seconds. Rows stay an hour past expiry, so every token of the window is
 * still there; the foreign key's index on user_id keeps the count to that
 * user's rows, at most about per_minute * 60 of them.
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

/* insert_token: a new token for user_id in out; no housekeeping. */
static int insert_token(struct sqldb *db, int64_t user_id, int ttl_s,
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
    return 0;
}

/* Housekeeping must not fail the issue: the token is already valid. It
 * runs outside any transaction, so it holds no lock of the issuer's. */
static void maybe_purge(struct sqldb *db)
{
    if (atomic_fetch_add(&issue_count, 1) % PURGE_EVERY == 0)
        (void) purge_expired(db);
}

int socket_token_issue(struct sqldb *db, int64_t user_id, int ttl_s,
                       char out[SOCKET_TOKEN_TEXT_LEN])
{
    int rc = insert_token(db, user_id, ttl_s, out);
    if (rc == 0)
        maybe_purge(db);
    return rc;
}

int socket_token_issue_limited(struct sqldb *db, int64_t user_id, int ttl_s, int per_minute,
                               char out[SOCKET_TOKEN_TEXT_LEN], int *retry_after_s)
{
    *retry_after_s = 0;
    out[0] = '\0';
    if (per_minute <= 0)
        return socket_token_issue(db, user_id, ttl_s, out);
    struct sqldb_arg arg = SQLDB_ARG_I64(user_id);
    struct sqldb_col cols[2] = {SQLDB_COL_I64(), SQLDB_COL_I64()};
    int rc = sqldb_begin(db);
    if (rc != 0)
        return rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
    /* The user's row serializes issuers of one user across processes. */
    rc = sqldb_stmt_row(db, "SELECT id, 0 FROM users WHERE id = ? FOR UPDATE", &arg, 1, cols, 2);
    if (rc == 0)
        rc = sqldb_stmt_row(db,
                            "SELECT COUNT(*), CAST(COALESCE(CEIL(60 - TIMESTAMPDIFF(MICROSECOND, "
                            "MIN(created_at), NOW(3)) / 1000000), 0) AS SIGNED) "
                            "FROM socket_tokens "
                            "WHERE user_id = ? AND created_at > NOW(3) - INTERVAL 60 SECOND",
                            &arg, 1, cols, 2);
    if (rc == 0 && cols[0].i64 >= per_minute) {
        *retry_after_s = cols[1].i64 < 1 ? 1 : cols[1].i64 > 60 ? 60 : (int) cols[1].i64;
        rc = ERR_RATE_LIMITED;
    }
    if (rc == 0)
        rc = insert_token(db, user_id, ttl_s, out);
    if (rc == 0)
        rc = sqldb_commit(db);
    if (rc != 0) {
        OPENSSL_cleanse(out, SOCKET_TOKEN_TEXT_LEN);
        out[0] = '\0';
        sqldb_rollback(db);
    }
    if (rc == ERR_RATE_LIMITED || rc == ERR_NOT_FOUND || rc == ERR_UNAVAILABLE)
        return rc;
    if (rc != 0)
        return ERR_INTERNAL;
    maybe_purge(db);
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
