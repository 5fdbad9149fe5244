/*
 * latstats.c - exact percentiles over a growable array (see latstats.h).
 * latstats_add runs once per received frame; the sort runs once per
 * measurement.
 */
#include "latstats.h"

#include "errors.h"

#include <assert.h>
#include <stdlib.h>

void latstats_init(struct latstats *s)
{
    s->ns = NULL;
    s->n = 0;
    s->cap = 0;
    s->lost = 0;
    s->sorted = 1;
}

void latstats_deinit(struct latstats *s)
{
    free(s->ns);
    latstats_init(s);
}

void latstats_reset(struct latstats *s)
{
    s->n = 0;
    s->lost = 0;
    s->sorted = 1;
}

int latstats_add(struct latstats *s, int64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        int64_t *p = cap > SIZE_MAX / sizeof *p ? NULL : realloc(s->ns, cap * sizeof *p);
        if (!p) {
            s->lost++;
            return ERR_NOMEM;
        }
        s->ns = p;
        s->cap = cap;
    }
    s->ns[s->n++] = ns < 0 ? 0 : ns;
    s->sorted = 0;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

int64_t latstats_pct(struct latstats *s, double p)
{
    assert(p > 0 && p <= 100);
    if (s->n == 0)
        return 0;
    if (!s->sorted) {
        qsort(s->ns, s->n, sizeof *s->ns, cmp_i64);
        s->sorted = 1;
    }
    /* nearest rank: the smallest sample with at least p% at or below it */
    double exact = p / 100.0 * (double) s->n;
    size_t rank = (size_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->ns[rank - 1];
}

double latstats_mean(const struct latstats *s)
{
    if (s->n == 0)
        return 0;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (double) s->ns[i];
    return sum / (double) s->n;
}
