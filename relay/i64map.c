/*
 * i64map.c - linear-probing hash map (see i64map.h).
 *
 * Keys are mixed with the splitmix64 finalizer: room and connection ids
 * are sequential, and a plain modulo would pile them into runs.
 */
#include "i64map.h"
#include "errors.h"

#include <assert.h>
#include <stdlib.h>

static size_t slot_of(int64_t key, size_t cap)
{
    uint64_t x = (uint64_t) key;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t) x & (cap - 1);
}

void i64map_init(struct i64map *m)
{
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->len = 0;
}

void i64map_deinit(struct i64map *m)
{
    free(m->keys);
    free(m->vals);
    i64map_init(m);
}

void *i64map_get(const struct i64map *m, int64_t key)
{
    if (m->cap == 0 || key <= 0)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static int grow(struct i64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    int64_t *keys = calloc(cap, sizeof *keys);
    void **vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return ERR_NOMEM;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == 0)
            continue;
        size_t i = slot_of(m->keys[j], cap);
        while (keys[i] != 0)
            i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int i64map_put(struct i64map *m, int64_t key, void *val)
{
    assert(key > 0 && val != NULL);
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return ERR_NOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == 0)
        m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void *i64map_del(struct i64map *m, int64_t key)
{
    if (m->cap == 0 || key <= 0)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward shift: pull later members of the probe run into the hole
     * unless that would move one before its home slot. */
    for (size_t j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        int movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->len--;
    return val;
}

int i64map_next(const struct i64map *m, size_t *pos, int64_t *key, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->keys[i] != 0) {
            *key = m->keys[i];
            *val = m->vals[i];
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}
