/* sql_many.c - statement texts for many rows (see sql_many.h). */
#include "sql_many.h"

#include <stdlib.h>
#include <string.h>

size_t sql_many_chunk(size_t n)
{
    if (n > 8)
        return SQL_MANY_MAX;
    return n > 1 ? 8 : 1;
}

static int size_slot(size_t rows)
{
    return rows == 1 ? 0 : rows == 8 ? 1 : rows == SQL_MANY_MAX ? 2 : -1;
}

/* build: the text for `rows` rows, malloc'd; NULL when out of memory. */
static char *build(const struct sql_many *s, size_t rows)
{
    size_t len = 1;
    for (int i = 0; i < SQL_MANY_PARTS; i++) {
        if (!s->parts[i])
            continue;
        size_t times = i % 2 ? rows : 1;
        len += times * strlen(s->parts[i]);
        if (i % 2 && s->seps[i])
            len += (rows - 1) * strlen(s->seps[i]);
    }
    char *text = malloc(len), *p = text;
    if (!text)
        return NULL;
    for (int i = 0; i < SQL_MANY_PARTS; i++) {
        if (!s->parts[i])
            continue;
        size_t times = i % 2 ? rows : 1;
        for (size_t r = 0; r < times; r++) {
            if (r > 0 && s->seps[i]) {
                size_t n = strlen(s->seps[i]);
                memcpy(p, s->seps[i], n);
                p += n;
            }
            size_t n = strlen(s->parts[i]);
            memcpy(p, s->parts[i], n);
            p += n;
        }
    }
    *p = '\0';
    return text;
}

const char *sql_many_text(struct sql_many *s, size_t rows)
{
    int slot = size_slot(rows);
    if (slot < 0)
        return NULL;
    pthread_mutex_lock(&s->lock);
    if (!s->text[slot])
        s->text[slot] = build(s, rows);
    const char *text = s->text[slot];
    pthread_mutex_unlock(&s->lock);
    return text;
}
