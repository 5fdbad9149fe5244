/* users.c - the users table (see users.h). */
#include "users.h"
#include "errors.h"
#include "utf8.h"

#include <openssl/sha.h>
#include <stdio.h>

#include <string.h>

#define USER_COLUMNS "id, username, display_name, created_at"

int users_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int users_display_valid(const char *s)
{
    size_t len = strlen(s), chars = 0;
    uint32_t cp;
    for (size_t i = 0; i < len; chars++) {
        size_t n = utf8_next(s + i, len - i, &cp);
        /* no C0/C1 controls or DEL: a display name is one printable line */
        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return 0;
        i += n;
    }
    return chars > 0 && chars <= USER_DISPLAY_MAX_CHARS;
}

static int find_one(struct sqldb *db, const char *sql, struct sqldb_arg arg, struct user *out)
{
    struct sqldb_col cols[4] = {
        SQLDB_COL_I64(),
        SQLDB_COL_TEXT(out->username, sizeof out->username),
        SQLDB_COL_TEXT(out->display_name, sizeof out->display_name),
        SQLDB_COL_TIME(),
    };
    int rc = sqldb_stmt_row(db, sql, &arg, 1, cols, 4);
    if (rc != 0)
        return rc;
    out->id = cols[0].i64;
    out->created_at_ms = cols[3].i64;
    return 0;
}

int users_find_by_id(struct sqldb *db, int64_t id, struct user *out)
{
    if (id <= 0)
        return ERR_NOT_FOUND;
    return find_one(db, "SELECT " USER_COLUMNS " FROM users WHERE id = ?", SQLDB_ARG_I64(id), out);
}

int users_find_by_name(struct sqldb *db, const char *name, struct user *out)
{
    /* No valid name can match an invalid one; checked here too because the
     * column compares case-insensitively and ignores trailing spaces. */
    if (!users_name_valid(name))
        return ERR_NOT_FOUND;
    return find_one(db, "SELECT " USER_COLUMNS " FROM users WHERE username = ?",
                    SQLDB_ARG_TEXT(name), out);
}

int users_create(struct sqldb *db, const char *name, const char *display, struct user *out)
{
    if (!display || !*display)
        display = name;
    if (!users_name_valid(name) || !users_display_valid(display))
        return ERR_INVALID;
    struct sqldb_arg args[2] = {SQLDB_ARG_TEXT(name), SQLDB_ARG_TEXT(display)};
    uint64_t id = 0;
    int rc = sqldb_stmt_exec(db, "INSERT INTO users (username, display_name) VALUES (?, ?)", args,
                             2, NULL, &id);
    if (rc != 0)
        return rc;
    /* Read back for created_at as the server stored it. */
    return users_find_by_id(db, (int64_t) id, out);
}

int users_find_or_create(struct sqldb *db, const char *name, struct user *out, int *created)
{
    if (created)
        *created = 0;
    if (!users_name_valid(name))
        return ERR_INVALID;
    int rc = users_find_by_name(db, name, out);
    if (rc != ERR_NOT_FOUND)
        return rc;
    rc = users_create(db, name, NULL, out);
    if (rc == ERR_CONFLICT) /* created meanwhile by someone else */
        return users_find_by_name(db, name, out);
    if (rc == 0 && created)
        *created = 1;
    return rc;
}

int users_find_by_identity(struct sqldb *db, const char *issuer, const char *subject,
                           struct user *out)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_TEXT(issuer), SQLDB_ARG_TEXT(subject)};
    struct sqldb_col cols[4] = {
        SQLDB_COL_I64(),
        SQLDB_COL_TEXT(out->username, sizeof out->username),
        SQLDB_COL_TEXT(out->display_name, sizeof out->display_name),
        SQLDB_COL_TIME(),
    };
    int rc = sqldb_stmt_row(db,
                            "SELECT u.id, u.username, u.display_name, u.created_at FROM "
                            "user_identities i JOIN users u ON u.id = i.user_id "
                            "WHERE i.issuer = ? AND i.subject = ?",
                            args, 2, cols, 4);
    if (rc != 0)
        return rc;
    out->id = cols[0].i64;
    out->created_at_ms = cols[3].i64;
    return 0;
}

/* name_base: what is left of a provider's name under the username rule;
 * an e-mail address gives its local part. */
static void name_base(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = name; *p && *p != '@' && n + 1 < cap && n < 24; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-')
            out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "user");
}

/* create_with_identity: the user row under the first free candidate name
 * and the identity row, inside the caller's transaction. */
static int create_with_identity(struct sqldb *db, const char *issuer, const char *subject,
                                const char *name, struct user *out)
{
    char base[32], cand[USER_NAME_MAX + 1], ident[2 * 256 + 2];
    unsigned char h[SHA256_DIGEST_LENGTH];
    int len = snprintf(ident, sizeof ident, "%s\n%s", issuer, subject);
    SHA256((const unsigned char *) ident, (size_t) len, h);
    name_base(name, base, sizeof base);
    const char *display = users_display_valid(name) ? name : NULL;
    int rc = ERR_CONFLICT;
    for (int attempt = 0; attempt < 3 && rc == ERR_CONFLICT; attempt++) {
        if (attempt == 0)
            snprintf(cand, sizeof cand, "%s", base);
        else if (attempt == 1)
            snprintf(cand, sizeof cand, "%s-%02x%02x%02x", base, h[0], h[1], h[2]);
        else
            snprintf(cand, sizeof cand, "%s-%02x%02x%02x%02x%02x%02x", base, h[0], h[1], h[2], h[3],
                     h[4], h[5]);
        rc = users_create(db, cand, display, out);
    }
    if (rc != 0)
        return rc;
    struct sqldb_arg args[3] = {SQLDB_ARG_TEXT(issuer), SQLDB_ARG_TEXT(subject),
                                SQLDB_ARG_I64(out->id)};
    return sqldb_stmt_exec(
        db, "INSERT INTO user_identities (issuer, subject, user_id) VALUES (?, ?, ?)", args, 3,
        NULL, NULL);
}

int users_provision(struct sqldb *db, const char *issuer, const char *subject, const char *name,
                    struct user *out, int *created)
{
    if (created)
        *created = 0;
    if (strlen(issuer) > 255 || strlen(subject) > 255 || !*subject)
        return ERR_INVALID;
    int rc = users_find_by_identity(db, issuer, subject, out);
    if (rc != ERR_NOT_FOUND)
        return rc;
    if ((rc = sqldb_begin(db)) != 0)
        return rc;
    rc = create_with_identity(db, issuer, subject, name ? name : "", out);
    if (rc == 0)
        rc = sqldb_commit(db);
    if (rc != 0) {
        sqldb_rollback(db);
        /* A concurrent first sign-in of the same identity won the race. */
        if (rc == ERR_CONFLICT && users_find_by_identity(db, issuer, subject, out) == 0)
            return 0;
        return rc;
    }
    if (created)
        *created = 1;
    return 0;
}

cJSON *users_to_json(const struct user *u)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "id", (double) u->id) ||
        !cJSON_AddStringToObject(o, "username", u->username) ||
        !cJSON_AddStringToObject(o, "displayName", u->display_name)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int users_last_seen(struct sqldb *db, int64_t user_id, int64_t *ms)
{
    struct sqldb_arg arg = SQLDB_ARG_I64(user_id);
    struct sqldb_col col = SQLDB_COL_I64();
    int rc = sqldb_stmt_row(db, "SELECT last_seen_at_ms FROM users WHERE id = ?", &arg, 1, &col, 1);
    if (rc == 0)
        *ms = col.is_null ? 0 : col.i64;
    return rc;
}

int users_set_last_seen(struct sqldb *db, int64_t user_id, int64_t ms)
{
    struct sqldb_arg args[2] = {SQLDB_ARG_I64(ms), SQLDB_ARG_I64(user_id)};
    return sqldb_stmt_exec(
        db,
        "UPDATE users SET last_seen_at_ms = GREATEST(COALESCE(last_seen_at_ms, 0), ?) "
        "WHERE id = ?",
        args, 2, NULL, NULL);
}
