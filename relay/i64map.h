/*
 * i64map.h - a hash map from a positive 64-bit key to a pointer.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), so lookups stay short however many inserts and deletes a
 * long-running relay does. Used for connection ids, the room map and the
 * per-room seq counters: O(1) expected per operation. Not thread-safe; the
 * map never owns the values.
 */
#ifndef RELAY_I64MAP_H
#define RELAY_I64MAP_H

#include <stddef.h>
#include <stdint.h>

struct i64map {
    int64_t *keys; /* 0 marks an empty slot, so keys must be > 0 */
    void **vals;
    size_t cap; /* slots, a power of two, or 0 before the first put */
    size_t len; /* occupied slots; kept <= cap * 3 / 4 */
};

/* i64map_init / i64map_deinit: an empty map; deinit frees the slots (not
 * the values) and leaves an empty map. */
void i64map_init(struct i64map *m);
void i64map_deinit(struct i64map *m);

/* i64map_get: the value of key, or NULL when absent. */
void *i64map_get(const struct i64map *m, int64_t key);

/* i64map_put: set key to val (replacing any value). key > 0, val != NULL.
 * Returns 0 or ERR_NOMEM (the map is then unchanged). */
int i64map_put(struct i64map *m, int64_t key, void *val);

/* i64map_del: remove key; returns the value it had, or NULL. */
void *i64map_del(struct i64map *m, int64_t key);

/* i64map_len: number of keys. */
static inline size_t i64map_len(const struct i64map *m)
{
    return m->len;
}

/* i64map_next: iterate: start with *pos = 0; returns 1 and fills *key and *val
 * for the next entry, 0 at the end. The map must not change meanwhile. */
int i64map_next(const struct i64map *m, size_t *pos, int64_t *key, void **val);

#endif
