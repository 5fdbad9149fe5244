/*
 * ids.c - the id range (see ids.h).
 */
#include "ids.h"
#include "decimal.h"

int id_from_double(double d, int64_t min, int64_t *out)
{
    if (!(d >= (double) min && d <= (double) ID_MAX)) /* NaN fails too */
        return -1;
    int64_t v = (int64_t) d;
    if ((double) v != d)
        return -1;
    *out = v;
    return 0;
}

int id_parse(const char *s, size_t len, int64_t *out)
{
    int64_t v;
    if (len == 0 || s[0] == '0' || dec_parse(s, len, &v) != 0 || v > ID_MAX)
        return -1;
    *out = v;
    return 0;
}
