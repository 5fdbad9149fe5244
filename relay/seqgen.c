/* seqgen.c - lazily loaded in-memory per-room counters (see seqgen.h). */
#include "seqgen.h"
#include "errors.h"
#include "i64map.h"

#include <stdlib.h>

struct counter {
    int64_t next; /* the seq the next message of the room gets */
};

struct seqgen {
    seqgen_load_fn *load;
    void *arg;
    size_t max_rooms;
    struct i64map rooms; /* room id -> struct counter */
};

struct seqgen *seqgen_new(seqgen_load_fn *load, void *arg, size_t max_rooms)
{
    struct seqgen *sg = calloc(1, sizeof *sg);
    if (!sg)
        return NULL;
    sg->load = load;
    sg->arg = arg;
    sg->max_rooms = max_rooms ? max_rooms : 1;
    i64map_init(&sg->rooms);
    return sg;
}

static void drop_all(struct seqgen *sg)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&sg->rooms, &pos, &key, &val))
        free(val);
    i64map_deinit(&sg->rooms);
}

void seqgen_free(struct seqgen *sg)
{
    if (!sg)
        return;
    drop_all(sg);
    free(sg);
}

int seqgen_next(struct seqgen *sg, int64_t room_id, int64_t known_last, int64_t *seq)
{
    struct counter *c = i64map_get(&sg->rooms, room_id);
    if (!c) {
        int64_t last = known_last;
        if (last < 0) {
            int rc = sg->load(sg->arg, room_id, &last);
            if (rc)
                return rc;
        }
        if (i64map_len(&sg->rooms) >= sg->max_rooms)
            drop_all(sg);
        if (!(c = malloc(sizeof *c)))
            return ERR_NOMEM;
        c->next = last + 1;
        if (i64map_put(&sg->rooms, room_id, c) != 0) {
            free(c);
            return ERR_NOMEM;
        }
    }
    *seq = c->next++;
    return 0;
}

void seqgen_forget(struct seqgen *sg, int64_t room_id)
{
    free(i64map_del(&sg->rooms, room_id));
}
