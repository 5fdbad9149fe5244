/*
 * rooms.h - 1:1 chat rooms and their members in MySQL.
 *
 * One room per unordered pair of users: chat_rooms stores the pair as
 * user_low < user_high under a unique key, and chat_room_members holds the
 * two member rows that membership checks read. rooms_is_member runs on
 * every relay ENTER/send and every history read (one primary-key lookup);
 * find-or-create and listing run per API call.
 */
#ifndef CHAT_ROOMS_H
#define CHAT_ROOMS_H

#include "sqldb.h"
#include "users.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define ROOM_NAME_BUF  (128 * 4 + 1)
#define ROOMS_PAGE_MAX 100

struct room {
    int64_t id;
    struct user members[2]; /* ordered by user id */
    char name[ROOM_NAME_BUF];
    int has_name; /* 0: name is SQL NULL (JSON null) */
    int64_t created_at_ms;
};

/* rooms_is_member: 1 when user_id is a member of room_id, 0 when not (or the
 * room does not exist), ERR_UNAVAILABLE when MySQL is down (ERR_INTERNAL on
 * another server error). */
int rooms_is_member(struct sqldb *db, int64_t room_id, int64_t user_id);

/*
 * rooms_find_or_create: the room of users a and b (a != b, both existing),
 * created by `a` when there is none. *created is 1 when this call made it.
 * Concurrent calls for the same pair converge on one room: the unique key
 * decides, and a deadlock between racing transactions is retried. Returns
 * 0, ERR_INVALID (a == b or an id <= 0), ERR_NOT_FOUND (a user does not
 * exist), ERR_UNAVAILABLE, ERR_INTERNAL.
 */
int rooms_find_or_create(struct sqldb *db, int64_t a, int64_t b, struct room *out, int *created);

/* rooms_get: the room with id room_id. 0, ERR_NOT_FOUND, ERR_UNAVAILABLE,
 * ERR_INTERNAL. */
int rooms_get(struct sqldb *db, int64_t room_id, struct room *out);

/*
 * rooms_list: the rooms of user_id, newest (highest id) first, with id <
 * before (before <= 0: from the newest), at most `limit` (1..ROOMS_PAGE_MAX)
 * into out (room for `limit` entries). *n gets the count, *more 1 when
 * older rooms remain. Returns 0, ERR_INVALID (limit out of range),
 * ERR_UNAVAILABLE, ERR_INTERNAL.
 */
int rooms_list(struct sqldb *db, int64_t user_id, int64_t before, int limit, struct room *out,
               size_t *n, int *more);

/* rooms_to_json: the contract's Room object; caller owns it (cJSON_Delete);
 * NULL when out of memory. */
cJSON *rooms_to_json(const struct room *r);

#endif
