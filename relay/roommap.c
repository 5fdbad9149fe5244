/* roommap.c - room id -> members (see roommap.h). */
#include "roommap.h"
#include "errors.h"

#include <stdlib.h>

void roommap_init(struct roommap *rm)
{
    i64map_init(&rm->rooms);
}

void roommap_deinit(struct roommap *rm)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&rm->rooms, &pos, &key, &val)) {
        struct roommap_entry *r = val;
        free(r->members);
        free(r);
    }
    i64map_deinit(&rm->rooms);
}

int roommap_add(struct roommap *rm, int64_t room_id, void *member)
{
    struct roommap_entry *r = i64map_get(&rm->rooms, room_id);
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return ERR_NOMEM;
        r->id = room_id;
        if (i64map_put(&rm->rooms, room_id, r) != 0) {
            free(r);
            return ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->members[i] == member)
            return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        void **m = realloc(r->members, cap * sizeof *m);
        if (!m) {
            if (r->n == 0)
                free(i64map_del(&rm->rooms, room_id));
            return ERR_NOMEM;
        }
        r->members = m;
        r->cap = cap;
    }
    r->members[r->n++] = member;
    return 0;
}

int roommap_remove(struct roommap *rm, int64_t room_id, void *member)
{
    struct roommap_entry *r = i64map_get(&rm->rooms, room_id);
    if (!r)
        return ERR_NOT_FOUND;
    for (size_t i = 0; i < r->n; i++) {
        if (r->members[i] != member)
            continue;
        r->members[i] = r->members[--r->n]; /* order within a room does not matter */
        if (r->n == 0) {
            i64map_del(&rm->rooms, room_id);
            free(r->members);
            free(r);
        }
        return 0;
    }
    return ERR_NOT_FOUND;
}

const struct roommap_entry *roommap_get(const struct roommap *rm, int64_t room_id)
{
    return i64map_get(&rm->rooms, room_id);
}

size_t roommap_count(const struct roommap *rm)
{
    return i64map_len(&rm->rooms);
}
