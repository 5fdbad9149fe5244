/*
 * rooms.h - 1:1 chat rooms and their members in MySQL.
 *
 * (The API programs extend this module with find-or-create and listing;
 * rooms_is_member is what the relay needs.)
 */
#ifndef CHAT_ROOMS_H
#define CHAT_ROOMS_H

#include "sqldb.h"

#include <stdint.h>

/* rooms_is_member: 1 when user_id is a member of room_id, 0 when not (or the
 * room does not exist), ERR_UNAVAILABLE when MySQL is down. */
int rooms_is_member(struct sqldb *db, int64_t room_id, int64_t user_id);

#endif
