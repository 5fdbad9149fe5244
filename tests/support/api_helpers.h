/*
 * api_helpers.h - small steps the API integration tests share: log in a
 * fresh user, create a room, open the test's own MySQL handle, store
 * history messages directly in MongoDB. Each helper asserts (Check) on
 * failure, so it may only be called inside a test.
 */
#ifndef CHAT_API_HELPERS_H
#define CHAT_API_HELPERS_H

#include "http_client.h"

#include <stdint.h>

struct sqldb;

/* api_login: dev-login a user named after prefix, unique to this run;
 * returns the JWT (caller frees) and stores the id. */
char *api_login(const char *prefix, int64_t *user_id);

/* api_room: the room of the caller (jwt) and peer_id via POST /rooms;
 * *status (may be NULL) gets 200 or 201. Returns the room id. */
int64_t api_room(const char *jwt, int64_t peer_id, long *status);

/* api_db: the test's own MySQL handle on the stack's database (opened
 * once per test process, reconnecting like any other). */
struct sqldb *api_db(void);

/* api_status_var: a global status counter of MariaDB (e.g.
 * "Threads_connected"), read through api_db(). */
long long api_status_var(const char *name);

/* api_store_messages: store TEXT messages with seq first..last in room_id
 * straight into MongoDB (sender alternating between a and b). */
void api_store_messages(int64_t room_id, int64_t a, int64_t b, int64_t first, int64_t last);

/* api_get: GET path with a bearer token into *r (caller frees). */
void api_get(const char *path, const char *jwt, struct http_resp *r);

#endif
