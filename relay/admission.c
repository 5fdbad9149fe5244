/*
 * admission.c - bounds on connections in the HTTP stage and on open
 * connections per user (see admission.h).
 *
 * The HTTP-stage list is doubly linked in accept order, so the oldest is
 * the head and removal is O(1). Finding an address's oldest walks the list
 * from the head; it runs only when that address is at its limit, and the
 * list is at most max_handshakes long. Counts live in i64maps as integers
 * cast to pointers (a count is never 0 while stored: it is deleted then).
 */
#include "admission.h"
#include "errors.h"

#include <netinet/in.h>
#include <string.h>

void admission_init(struct admission *a, size_t max_handshakes, size_t per_address,
                    int limit_loopback, size_t per_user)
{
    memset(a, 0, sizeof *a);
    a->max_handshakes = max_handshakes ? max_handshakes : 1;
    a->per_address = per_address;
    a->limit_loopback = limit_loopback;
    a->per_user = per_user;
    i64map_init(&a->by_addr);
    i64map_init(&a->by_user);
}

void admission_deinit(struct admission *a)
{
    i64map_deinit(&a->by_addr);
    i64map_deinit(&a->by_user);
    a->oldest = a->newest = NULL;
    a->listed = 0;
}

static size_t count_get(const struct i64map *m, int64_t key)
{
    return (size_t) (uintptr_t) i64map_get(m, key);
}

static int count_add(struct i64map *m, int64_t key, int delta)
{
    size_t n = count_get(m, key);
    if (delta < 0) {
        if (n <= 1)
            i64map_del(m, key);
        else
            return i64map_put(m, key, (void *) (uintptr_t) (n - 1));
        return 0;
    }
    return i64map_put(m, key, (void *) (uintptr_t) (n + 1));
}

int64_t admission_addr_key(const struct admission *a, const struct sockaddr *sa, socklen_t len)
{
    uint32_t v4;
    if (a->per_address == 0 || !sa)
        return 0;
    if (sa->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in)) {
        v4 = ntohl(((const struct sockaddr_in *) (const void *) sa)->sin_addr.s_addr);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6)) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            v4 = (uint32_t) in6->s6_addr[12] << 24 | (uint32_t) in6->s6_addr[13] << 16 |
                 (uint32_t) in6->s6_addr[14] << 8 | in6->s6_addr[15];
        } else {
            if (IN6_IS_ADDR_LOOPBACK(in6) && !a->limit_loopback)
                return 0;
            /* The /64 with its top bit dropped so the key is positive, and
             * moved up when it could collide with an IPv4 key. Both only
             * merge prefixes outside 2000::/3, the global unicast space. */
            uint64_t p = 0;
            for (int i = 0; i < 8; i++)
                p = p << 8 | in6->s6_addr[i];
            int64_t key = (int64_t) (p & (UINT64_MAX >> 1));
            if (key <= (int64_t) UINT32_MAX + 1)
                key |= INT64_C(1) << 62;
            return key;
        }
    } else {
        return 0;
    }
    if ((v4 >> 24) == 127 && !a->limit_loopback)
        return 0;
    return (int64_t) v4 + 1; /* 0.0.0.0 must not be key 0 */
}

struct adm_entry *admission_victim(const struct admission *a, int64_t addr_key, int slots_full)
{
    if (addr_key > 0 && a->per_address && count_get(&a->by_addr, addr_key) >= a->per_address) {
        for (struct adm_entry *e = a->oldest; e; e = e->next)
            if (e->addr_key == addr_key)
                return e;
    }
    if (a->listed >= a->max_handshakes || slots_full)
        return a->oldest;
    return NULL;
}

int admission_add(struct admission *a, struct adm_entry *e, int64_t addr_key)
{
    if (addr_key > 0 && count_add(&a->by_addr, addr_key, 1) != 0)
        return ERR_NOMEM;
    e->addr_key = addr_key;
    e->listed = 1;
    e->next = NULL;
    e->prev = a->newest;
    if (a->newest)
        a->newest->next = e;
    else
        a->oldest = e;
    a->newest = e;
    a->listed++;
    return 0;
}

void admission_remove(struct admission *a, struct adm_entry *e)
{
    if (!e->listed)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        a->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        a->newest = e->prev;
    if (e->addr_key > 0)
        (void) count_add(&a->by_addr, e->addr_key, -1);
    memset(e, 0, sizeof *e);
    a->listed--;
}

size_t admission_addr_count(const struct admission *a, int64_t addr_key)
{
    return addr_key > 0 ? count_get(&a->by_addr, addr_key) : 0;
}

int admission_user_open(struct admission *a, int64_t user_id)
{
    if (a->per_user && count_get(&a->by_user, user_id) >= a->per_user)
        return ERR_TOO_LARGE;
    return count_add(&a->by_user, user_id, 1) != 0 ? ERR_NOMEM : 0;
}

void admission_user_close(struct admission *a, int64_t user_id)
{
    (void) count_add(&a->by_user, user_id, -1);
}

size_t admission_user_count(const struct admission *a, int64_t user_id)
{
    return count_get(&a->by_user, user_id);
}
