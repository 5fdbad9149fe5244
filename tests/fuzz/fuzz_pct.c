/*
 * fuzz_pct.c - strict percent-decoding (pct_decode), which every request
 * path and query value of the API and the relay's ?token= go through.
 *
 * The first input byte picks the output capacity (so "too large" paths
 * run too), the rest is the encoded text, in a heap block of its exact
 * size. Properties: success leaves a NUL-free text of the reported length,
 * never longer than the input, and re-encoding it and decoding again gives
 * the same bytes; a failure is one of the two documented errors.
 */
#include "errors.h"
#include "fuzz.h"
#include "pct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_pct_one(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cap = (size_t) data[0] + 1;
    size_t len = size - 1;
    char *src = malloc(len ? len : 1);
    char *out = malloc(cap);
    char *enc = malloc(len * 3 + 1);
    char *back = malloc(len + 1);
    if (!src || !out || !enc || !back)
        goto out;
    if (len)
        memcpy(src, data + 1, len);

    size_t n = 0;
    int rc = pct_decode(src, len, out, cap, &n);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_TOO_LARGE);
    if (rc != 0)
        goto out;
    FUZZ_CHECK(n < cap && n <= len && out[n] == '\0' && strlen(out) == n);

    size_t e = 0;
    for (size_t i = 0; i < n; i++)
        e += (size_t) snprintf(enc + e, 4, "%%%02X", (unsigned char) out[i]);
    size_t m = 0;
    FUZZ_CHECK(pct_decode(enc, e, back, len + 1, &m) == 0);
    FUZZ_CHECK(m == n && memcmp(back, out, n) == 0);
out:
    free(src);
    free(out);
    free(enc);
    free(back);
    return 0;
}

FUZZ_TARGET(fuzz_pct_one)
