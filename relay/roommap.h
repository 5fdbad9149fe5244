/*
 * roommap.h - which connections ENTERed which room: chatRoomId -> members.
 *
 * A hash map (i64map) from room id to a small array of member pointers,
 * so finding a room's members is O(1) per message; adding and removing a
 * member scans that room's array, which holds the few devices of a 1:1
 * room's two users. A room disappears with its last member. Members are
 * opaque pointers (the relay's subscriptions); the map never frees them.
 * Loop thread only.
 */
#ifndef RELAY_ROOMMAP_H
#define RELAY_ROOMMAP_H

#include "i64map.h"

#include <stddef.h>
#include <stdint.h>

struct roommap_entry {
    int64_t id;
    void **members;
    size_t n, cap;
};

struct roommap {
    struct i64map rooms; /* id -> struct roommap_entry */
};

void roommap_init(struct roommap *rm);

/* roommap_deinit: free every room (not the members). */
void roommap_deinit(struct roommap *rm);

/* roommap_add: add member to room_id (no-op when already there).
 * Returns 0 or ERR_NOMEM. */
int roommap_add(struct roommap *rm, int64_t room_id, void *member);

/* roommap_remove: remove member from room_id; returns 0 or ERR_NOT_FOUND. */
int roommap_remove(struct roommap *rm, int64_t room_id, void *member);

/* roommap_get: the room (borrowed until the next add/remove), or NULL. */
const struct roommap_entry *roommap_get(const struct roommap *rm, int64_t room_id);

/* roommap_count: rooms with at least one member. */
size_t roommap_count(const struct roommap *rm);

#endif
