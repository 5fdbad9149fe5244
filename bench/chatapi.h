/*
 * chatapi.h - the few HTTP calls the load generator makes to set up a run
 * (dev login, rooms, socket tokens) and to read the relay's /metrics.
 *
 * One blocking libcurl handle, reused so the web server keeps the
 * connection alive: set-up is a few hundred requests, token fetches come
 * right before each WebSocket connect (tokens live 30 s). Not thread-safe.
 */
#ifndef BENCH_CHATAPI_H
#define BENCH_CHATAPI_H

#include <stddef.h>
#include <stdint.h>

struct chatapi;

/* chatapi_new: a client for the API under web_base ("http://127.0.0.1:8080",
 * copied). NULL when out of memory or libcurl fails to start. */
struct chatapi *chatapi_new(const char *web_base);

/* chatapi_free: NULL is a no-op. */
void chatapi_free(struct chatapi *a);

/* chatapi_login: POST /api/v1/dev/login for username (created if new).
 * *jwt becomes a malloc'd token (caller frees). Returns 0, ERR_UNAVAILABLE
 * (no answer), ERR_INTERNAL (unexpected status or body; see chatapi_error). */
int chatapi_login(struct chatapi *a, const char *username, char **jwt, int64_t *user_id);

/* chatapi_open_room: POST /api/v1/rooms {"peerUserId": peer}: the 1:1 room
 * of the JWT's user and peer, created or found. Same returns. */
int chatapi_open_room(struct chatapi *a, const char *jwt, int64_t peer_id, int64_t *room_id);

/* chatapi_socket_token: POST /api/v1/socket-token: a fresh single-use token
 * copied into tok (cap bytes). Same returns, ERR_TOO_LARGE when it does not
 * fit. */
int chatapi_socket_token(struct chatapi *a, const char *jwt, char *tok, size_t cap);

/* chatapi_history_page: GET path (a history page, e.g.
 * "/api/v1/chat/7?limit=50") as the JWT's user; *n becomes the number of
 * messages in it. Same returns as chatapi_login. */
int chatapi_history_page(struct chatapi *a, const char *jwt, const char *path, int *n);

/* chatapi_get_text: GET an absolute URL; *body becomes the malloc'd,
 * NUL-terminated body (caller frees). Returns 0 on 200, else as above. */
int chatapi_get_text(struct chatapi *a, const char *url, char **body);

/* chatapi_error: a one-line description of the last failure ("" if none);
 * owned by a, valid until the next call. */
const char *chatapi_error(const struct chatapi *a);

#endif
