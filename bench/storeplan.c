/*
 * storeplan.c - the seeded store's shape and write order (see storeplan.h).
 */
#include "storeplan.h"

#include "errors.h"

int storeplan_check(const struct storeplan *p)
{
    if (p->rooms < 1 || p->big_room_msgs < 1 || p->messages - p->big_room_msgs < p->rooms)
        return ERR_INVALID;
    return 0;
}

int storeplan_room_count(const struct storeplan *p)
{
    return p->rooms + 1;
}

int64_t storeplan_room_msgs(const struct storeplan *p, int i)
{
    if (i == 0)
        return p->big_room_msgs;
    if (i < 0 || i > p->rooms)
        return 0;
    int64_t rest = p->messages - p->big_room_msgs;
    int64_t each = rest / p->rooms, extra = rest % p->rooms;
    return each + (i - 1 < extra ? 1 : 0);
}

void storeplan_start(struct storeplan_cursor *c)
{
    c->room = 0;
    c->seq = 1;
    c->done = 0;
}

int storeplan_next(const struct storeplan *p, struct storeplan_cursor *c, int *room, int64_t *seq)
{
    while (c->room <= p->rooms && c->seq > storeplan_room_msgs(p, c->room)) {
        c->room++;
        c->seq = 1;
    }
    if (c->room > p->rooms)
        return 0;
    *room = c->room;
    *seq = c->seq++;
    c->done++;
    return 1;
}

int64_t storeplan_middle_before(const struct storeplan *p)
{
    return p->big_room_msgs / 2 + 1;
}
