/* fuzz_util.c - what the harnesses share: the failure report, and the
 * memory reader and writer of the media harness (also used by unit tests). */
#include "errors.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz property failed: %s\n", file, line, what);
    abort();
}

long fuzz_feed_read(void *arg, char *buf, size_t n)
{
    struct fuzz_feed *f = arg;
    size_t k = f->len - f->pos;
    if (k > n)
        k = n;
    if (k > f->step)
        k = f->step;
    memcpy(buf, f->p + f->pos, k);
    f->pos += k;
    return (long) k;
}

int fuzz_sink_write(void *arg, const void *buf, size_t n)
{
    struct fuzz_sink *k = arg;
    if (n > k->cap - k->len)
        return ERR_TOO_LARGE;
    memcpy(k->p + k->len, buf, n);
    k->len += n;
    return 0;
}
