/*
 * users.h - the users table: lookups for authentication and room
 * creation, and creation for dev login and chatctl.
 *
 * Usernames are 1..USER_NAME_MAX characters of [A-Za-z0-9_.-] (checked by
 * users_name_valid before anything is stored); display names are 1..128
 * characters of valid UTF-8 without control characters. Lookups run once per
 * authenticated request (by primary key or unique key).
 */
#ifndef CHAT_USERS_H
#define CHAT_USERS_H

#include "sqldb.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define USER_NAME_MAX          32
#define USER_DISPLAY_MAX_CHARS 128
/* bytes: schema allows VARCHAR(64)/VARCHAR(128) of utf8mb4 */
#define USER_NAME_BUF    (64 * 4 + 1)
#define USER_DISPLAY_BUF (USER_DISPLAY_MAX_CHARS * 4 + 1)

struct user {
    int64_t id;
    char username[USER_NAME_BUF];
    char display_name[USER_DISPLAY_BUF];
    int64_t created_at_ms;
};

/* users_name_valid: 1 when name follows the username rule above. */
int users_name_valid(const char *name);

/* users_display_valid: 1 when s is an acceptable display name. */
int users_display_valid(const char *s);

/* users_find_by_id / users_find_by_name: fill *out. Return 0, ERR_NOT_FOUND,
 * ERR_UNAVAILABLE or ERR_INTERNAL. Any name may be looked up (it travels as
 * a statement parameter); one that breaks the username rule cannot exist.
 * Names compare without case: "ALICE" finds the user "alice". */
int users_find_by_id(struct sqldb *db, int64_t id, struct user *out);
int users_find_by_name(struct sqldb *db, const char *name, struct user *out);

/* users_create: insert a user (display NULL or "": the username) and fill
 * *out. Returns 0, ERR_INVALID (name or display breaks the rules),
 * ERR_CONFLICT (name taken, in any case), ERR_UNAVAILABLE, ERR_INTERNAL. */
int users_create(struct sqldb *db, const char *name, const char *display, struct user *out);

/* users_find_or_create: the user named `name`, created (display = name)
 * when missing; *created (may be NULL) says which. Safe against a
 * concurrent create of the same name. Same returns as users_create. */
int users_find_or_create(struct sqldb *db, const char *name, struct user *out, int *created);

/* users_find_by_identity: the user a provider's (issuer, subject) maps to.
 * Same returns as users_find_by_id. */
int users_find_by_identity(struct sqldb *db, const char *issuer, const char *subject,
                           struct user *out);

/*
 * users_provision: the user of a provider's (issuer, subject), created on
 * its first sign-in together with its user_identities row (one
 * transaction). The new username is `name` (the provider's name claim, may
 * be "") reduced to the username rule (at most 24 characters, "user" when
 * nothing is left), with "-" and a few hex digits of a hash of the
 * identity added when that name is taken; the display name is `name` when
 * it is a valid display name, else the username. *created (may be NULL)
 * says whether the row is new. Safe against a concurrent first sign-in of
 * the same identity. Returns 0, ERR_INVALID (issuer or subject too long),
 * ERR_CONFLICT (no free username), ERR_UNAVAILABLE, ERR_INTERNAL.
 */
int users_provision(struct sqldb *db, const char *issuer, const char *subject, const char *name,
                    struct user *out, int *created);

/* users_to_json: {"id","username","displayName"}; caller owns the result
 * (cJSON_Delete); NULL when out of memory. */
cJSON *users_to_json(const struct user *u);

/* users_last_seen: when user_id's last connection closed (ms since 1970)
 * into *ms, 0 when never recorded. users_set_last_seen: record it (never
 * moves back). 0, ERR_NOT_FOUND (no such user; get only), ERR_UNAVAILABLE,
 * ERR_INTERNAL. */
int users_last_seen(struct sqldb *db, int64_t user_id, int64_t *ms);
int users_set_last_seen(struct sqldb *db, int64_t user_id, int64_t ms);

#endif
