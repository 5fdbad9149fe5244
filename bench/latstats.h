/*
 * latstats.h - latency samples of one measurement, and their percentiles.
 *
 * Every sample is kept (8 bytes each; a five-second run at 20,000 msg/s is
 * under 1 MiB), so percentiles are exact rather than bucketed. Samples are
 * nanoseconds of CLOCK_MONOTONIC differences.
 */
#ifndef BENCH_LATSTATS_H
#define BENCH_LATSTATS_H

#include <stddef.h>
#include <stdint.h>

struct latstats {
    int64_t *ns; /* samples, owned; sorted when `sorted` is set */
    size_t n;    /* samples held */
    size_t cap;  /* allocated slots */
    size_t lost; /* samples dropped because memory ran out */
    int sorted;
};

/* latstats_init / latstats_deinit: an empty set; deinit frees the samples. */
void latstats_init(struct latstats *s);
void latstats_deinit(struct latstats *s);

/* latstats_reset: forget the samples, keep the memory. */
void latstats_reset(struct latstats *s);

/* latstats_add: record one sample (negative values are clamped to 0).
 * Returns 0, or ERR_NOMEM (counted in s->lost). */
int latstats_add(struct latstats *s, int64_t ns);

/* latstats_pct: the nearest-rank p-th percentile (0 < p <= 100; p = 100 is
 * the maximum), 0 when empty. Sorts the samples on first use. */
int64_t latstats_pct(struct latstats *s, double p);

/* latstats_mean: the arithmetic mean in ns, 0 when empty. */
double latstats_mean(const struct latstats *s);

#endif
