/*
 * lastseq.c - the per-room newest seq seen (see lastseq.h).
 */
#include "lastseq.h"

#include "errors.h"

#include <stdlib.h>

void lastseq_init(struct lastseq *ls)
{
    i64map_init(&ls->rooms);
}

void lastseq_deinit(struct lastseq *ls)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(&ls->rooms, &pos, &key, &val))
        free(val);
    i64map_deinit(&ls->rooms);
}

void lastseq_note(struct lastseq *ls, int64_t room_id, int64_t seq)
{
    int64_t *v = i64map_get(&ls->rooms, room_id);
    if (v) {
        if (*v < seq)
            *v = seq;
        return;
    }
    if (i64map_len(&ls->rooms) >= LASTSEQ_MAX)
        lastseq_deinit(ls); /* leaves an empty map */
    if (!(v = malloc(sizeof *v)))
        return;
    *v = seq;
    if (i64map_put(&ls->rooms, room_id, v) != 0)
        free(v);
}

int lastseq_get(const struct lastseq *ls, int64_t room_id, int64_t *seq)
{
    const int64_t *v = i64map_get(&ls->rooms, room_id);
    if (!v)
        return ERR_NOT_FOUND;
    *seq = *v;
    return 0;
}
