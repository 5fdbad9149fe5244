/* utf8.c - strict UTF-8 decoding (see utf8.h). */
#include "utf8.h"

size_t utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t n;
    uint32_t v, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        v = p[0] & 0x1fu;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        v = p[0] & 0x0fu;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        v = p[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

int utf8_valid(const char *s, size_t len, size_t *chars)
{
    size_t count = 0;
    uint32_t cp;
    for (size_t i = 0; i < len; count++) {
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return 0;
        i += n;
    }
    if (chars)
        *chars = count;
    return 1;
}
