/*
 * admission.h - who may hold a socket of the relay before and after the
 * handshake, so that one hostile client cannot take every select() slot.
 *
 * Connections in the HTTP stage (accepted, no request answered yet) are
 * kept in accept order. Their number is bounded, and so is their number
 * per peer address (an IPv4 address or an IPv6 /64); when a new one would
 * pass a bound, the oldest one it competes with is named as the victim to
 * close, so idle sockets make room for new clients instead of locking them
 * out. Open WebSockets are counted per user and capped.
 *
 * Pure bookkeeping: no sockets, no clock, no logging. The caller embeds a
 * struct adm_entry in each connection and closes what it is told to.
 */
#ifndef RELAY_ADMISSION_H
#define RELAY_ADMISSION_H

#include "i64map.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* adm_entry: one connection in the HTTP stage. Zeroed means "not listed". */
struct adm_entry {
    struct adm_entry *prev, *next; /* accept order, oldest first */
    int64_t addr_key;              /* > 0; 0 when the address is not limited */
    int listed;
};

struct admission {
    size_t max_handshakes; /* entries listed at most */
    size_t per_address;    /* entries per address at most; 0: no limit */
    int limit_loopback;    /* count loopback peers per address too */
    size_t per_user;       /* open connections per user at most; 0: no limit */
    struct adm_entry *oldest, *newest;
    size_t listed;
    struct i64map by_addr; /* address key -> count, stored as a pointer-sized integer */
    struct i64map by_user; /* user id -> count, the same way */
};

/* admission_init: empty bookkeeping with these bounds (max_handshakes >= 1). */
void admission_init(struct admission *a, size_t max_handshakes, size_t per_address,
                    int limit_loopback, size_t per_user);

/* admission_deinit: free the maps; the entries belong to the caller. */
void admission_deinit(struct admission *a);

/* admission_addr_key: the key that counts a peer: an IPv4 address (also
 * when IPv4-mapped in IPv6) or the /64 of an IPv6 one. 0 (not counted) for
 * a loopback peer unless limit_loopback, for other families, and when
 * there is no per-address limit. */
int64_t admission_addr_key(const struct admission *a, const struct sockaddr *sa, socklen_t len);

/* admission_victim: before listing a new entry with addr_key: the listed
 * entry to close first, or NULL when the new one fits. Its address's oldest
 * when that address is at its limit, otherwise the oldest of all when the
 * list is full or `slots_full` (the caller has no descriptor to spare). */
struct adm_entry *admission_victim(const struct admission *a, int64_t addr_key, int slots_full);

/* admission_add: list e (zeroed or removed) as the newest with addr_key.
 * Returns 0 or ERR_NOMEM (e is then not listed). Call admission_victim and
 * close the victim first: add does not enforce the bounds. */
int admission_add(struct admission *a, struct adm_entry *e, int64_t addr_key);

/* admission_remove: take e off the list (the request got an answer, went
 * to a token check, or the connection ended). A no-op when not listed. */
void admission_remove(struct admission *a, struct adm_entry *e);

/* admission_listed: entries in the HTTP stage. */
static inline size_t admission_listed(const struct admission *a)
{
    return a->listed;
}

/* admission_addr_count: listed entries with this key (0 for key 0). */
size_t admission_addr_count(const struct admission *a, int64_t addr_key);

/* admission_user_open: count one more open connection of user_id (> 0).
 * Returns 0; ERR_TOO_LARGE when the user already has per_user (nothing is
 * counted then); ERR_NOMEM. */
int admission_user_open(struct admission *a, int64_t user_id);

/* admission_user_close: one open connection of user_id ended. */
void admission_user_close(struct admission *a, int64_t user_id);

/* admission_user_count: open connections counted for user_id. */
size_t admission_user_count(const struct admission *a, int64_t user_id);

#endif
