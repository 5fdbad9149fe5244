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

#include "room_state.h"
#include "sqldb.h"
#include "users.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define ROOM_NAME_BUF  (128 * 4 + 1)
#define ROOMS_PAGE_MAX 100

/* What one member sees of a room in the room list. */
struct room_view {
    int64_t last_seq;           /* the room's newest stored seq */
    int64_t last_read_seq;      /* the viewer's watermark */
    int64_t peer_last_read_seq; /* the other member's */
    int64_t unread;             /* stored messages above the viewer's watermark */
    int64_t last_activity_ms;   /* created, or the newest message */
    int has_last;               /* 0: no message yet */
    char last_type[8];
    char last_preview[ROOM_PREVIEW_BUF];
    int64_t last_at_ms, last_sender;
};

struct room {
    int64_t id;
    struct user members[2]; /* ordered by user id */
    char name[ROOM_NAME_BUF];
    int has_name; /* 0: name is SQL NULL (JSON null) */
    int64_t created_at_ms;
    int64_t viewer;        /* rooms_list: whose view `view` is; 0: none */
    struct room_view view; /* rooms_list only */
};

/* Where a room list page starts: after the room (activity_ms, id) in the
 * order newest activity first, then highest id. */
struct room_cursor {
    int64_t activity_ms;
    int64_t id;
};

/* rooms_is_member: 1 when user_id is a member of room_id, 0 when not (or the
 * room does not exist), ERR_UNAVAILABLE when MySQL is down (ERR_INTERNAL on
 * another server error). */
int rooms_is_member(struct sqldb *db, int64_t room_id, int64_t user_id);

/* rooms_peer: the other member of the 1:1 room room_id of user_id into
 * *peer. 0, ERR_NOT_FOUND (no such room, or user_id is not in it),
 * ERR_UNAVAILABLE, ERR_INTERNAL. */
int rooms_peer(struct sqldb *db, int64_t room_id, int64_t user_id, int64_t *peer);

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
 * rooms_list: the rooms of user_id with what user_id sees of each (struct
 * room_view), most recently active first (created, or the newest message),
 * starting after *from (NULL: from the newest), at most `limit`
 * (1..ROOMS_PAGE_MAX) into out (room for `limit` entries). *n gets the
 * count, *more 1 when older rooms remain (the cursor of the next page is
 * the last room's (view.last_activity_ms, id)). One statement, served by
 * the (user_low|user_high, last_activity_ms, id) indexes: its cost follows
 * the page, not the user's number of rooms or messages. Returns 0,
 * ERR_INVALID (limit out of range), ERR_UNAVAILABLE, ERR_INTERNAL.
 */
int rooms_list(struct sqldb *db, int64_t user_id, const struct room_cursor *from, int limit,
               struct room *out, size_t *n, int *more);

/* rooms_to_json: the Room object (with the viewer's state when r->viewer
 * is set: lastSeq, lastReadSeq, unreadCount, peer, peerLastReadSeq,
 * lastMessage, lastActivityAt); caller owns it (cJSON_Delete); NULL when
 * out of memory. */
cJSON *rooms_to_json(const struct room *r);

#endif
