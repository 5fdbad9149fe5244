/*
 * relay_helpers.h - steps the relay integration tests share: users and
 * rooms through the API, socket tokens, connecting to the relay, and
 * sending/expecting protocol frames. Helpers assert with Check, so they
 * may only be called inside a test. The relay is the stack's
 * (relay_host:relay_port of the config; CHAT_RELAY_PORT overrides).
 */
#ifndef CHAT_RELAY_HELPERS_H
#define CHAT_RELAY_HELPERS_H

#include "ws_client.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/types.h>

#define RH_TIMEOUT_MS 5000 /* how long a test waits for an expected frame */

struct rh_user {
    char *jwt; /* owned; rh_user_free */
    int64_t id;
};

/* rh_user_new: dev-login a fresh user named after prefix. */
void rh_user_new(struct rh_user *u, const char *prefix);
void rh_user_free(struct rh_user *u);

/* rh_room: the 1:1 room of a and b (POST /api/v1/rooms as a). */
int64_t rh_room(const struct rh_user *a, const struct rh_user *b);

/* rh_token: a fresh socket token for u (POST /api/v1/socket-token);
 * malloc'd, caller frees. */
char *rh_token(const struct rh_user *u);

/* rh_port: the relay port under test. */
int rh_port(void);

/* rh_try_connect: connect with `token` (NULL: no query) and origin (may be
 * NULL) to port; returns the HTTP status (101 on success), body optional. */
int rh_try_connect(struct ws_client *c, int port, const char *token, const char *origin, char *body,
                   size_t cap);

/* rh_connect: a fresh token for u and a connected client (asserts 101). */
void rh_connect(struct ws_client *c, const struct rh_user *u);

/* rh_connect_port: like rh_connect, to the relay on `port`. */
void rh_connect_port(struct ws_client *c, const struct rh_user *u, int port);

/* A room of two fresh users, both connected and ENTERed. */
struct rh_pair {
    struct rh_user a, b;
    int64_t room;
    struct ws_client ca, cb;
};

/* rh_pair_open: users named after prefix, their room, both connected to
 * the relay on port and ENTERed (asserting lastSeq 0 for the new room). */
void rh_pair_open(struct rh_pair *p, const char *prefix, int port);
void rh_pair_close(struct rh_pair *p);

/* rh_sendf: printf-format a frame and send it as text. */
void rh_sendf(struct ws_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rh_next: the next text frame as JSON within timeout_ms, or NULL on
 * time-out/close (caller cJSON_Delete). PRESENCE and ROOM frames are
 * skipped: only rh_expect of that type returns them. */
cJSON *rh_next(struct ws_client *c, int timeout_ms);

/* rh_expect: the next frame, asserting its "type"; caller cJSON_Delete. */
cJSON *rh_expect(struct ws_client *c, const char *type);

/* rh_expect_error: the next frame is an ERROR with this code (returned). */
cJSON *rh_expect_error(struct ws_client *c, const char *code);

/* rh_enter: ENTER room (since < 0: without since) and expect ENTERED;
 * returns its lastSeq. */
int64_t rh_enter(struct ws_client *c, int64_t room, int64_t since);

/* rh_text: send TEXT and expect its ACK; returns the ACK's seq. */
int64_t rh_text(struct ws_client *c, int64_t room, const char *cmid, const char *message);

/* rh_no_frame: assert that no text frame arrives within ms. */
void rh_no_frame(struct ws_client *c, int ms);

/* Field access with an assertion that the field exists. */
int64_t rh_int(const cJSON *o, const char *name);
const char *rh_str(const cJSON *o, const char *name);

/* rh_history_seqs: seqs of the room's messages through GET
 * /api/v1/chat/<room>?after=<after> (all pages), into out (cap entries);
 * returns how many. */
size_t rh_history_seqs(const struct rh_user *u, int64_t room, int64_t after, int64_t *out,
                       size_t cap);

/* rh_spawn: start a private relay (the stack's binary, $CHAT_BIN_DIR or
 * build/san/bin) on `port` with extra environment settings ("KEY=value",
 * NULL-terminated; e.g. "CHAT_MAX_CONNECTIONS=5"), log in
 * var/log/relay-<port>.log; waits until it accepts connections. The relay
 * is killed when the calling process dies. Returns its pid (asserts on
 * failure). */
pid_t rh_spawn(int port, const char *const *env);

/* rh_spawn_sharing: rh_spawn for a relay that shares its port with one
 * already listening there (SO_REUSEPORT, with Redis): no wait for the
 * port to be free. */
pid_t rh_spawn_sharing(int port, const char *const *env);

/* rh_spawn_exit: start a private relay like rh_spawn that is expected not
 * to start; wait up to wait_ms for it to exit. Returns its exit status, or
 * -1 when it was still running (then killed) or died of a signal. */
int rh_spawn_exit(int port, const char *const *env, int wait_ms);

/* rh_stop: SIGTERM pid and wait up to wait_ms for it; returns its exit
 * status, or -1 when it had to be killed (SIGKILL) or died by a signal. */
int rh_stop(pid_t pid, int wait_ms);

/* rh_metric: the value of one metric line (name with labels, exactly as
 * printed) from port's /metrics, or -1 when absent. */
long long rh_metric(int port, const char *name);

/* rh_healthz: the status of GET /healthz on port, 0 when no answer came. */
int rh_healthz(int port);

/* rh_idle_socket: a TCP connection to port from source address `from` (a
 * 127.x.y.z address) that never sends a byte. */
int rh_idle_socket(const char *from, int port);

/* rh_wait_closed: 1 when the server closes fd (EOF or reset) within ms;
 * what it sent before is read and dropped. */
int rh_wait_closed(int fd, int ms);

/* rh_rss_kib: the resident size of process pid in KiB, from /proc. */
long rh_rss_kib(pid_t pid);

/* rh_fd_count: how many descriptors process pid holds, from /proc. */
int rh_fd_count(pid_t pid);

/* rh_bystander: the proof that another user is unaffected: p.a sends TEXT
 * (client message id cmid), gets its ACK and p.b the MESSAGE, each within
 * RH_TIMEOUT_MS (asserted). Returns the milliseconds from send to delivery,
 * for the log. */
long rh_bystander(struct rh_pair *p, const char *cmid);

#endif
