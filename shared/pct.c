/* pct.c - percent-decoding (see pct.h). */
#include "pct.h"
#include "errors.h"

int pct_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pct_decode(const char *src, size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    if (out_len)
        *out_len = 0;
    if (cap == 0)
        return ERR_TOO_LARGE;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return ERR_INVALID;
            int hi = pct_hexval(src[i + 1]), lo = pct_hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return ERR_INVALID;
            c = (char) (hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return ERR_INVALID;
        if (o + 1 >= cap)
            return ERR_TOO_LARGE;
        out[o++] = c;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return 0;
}
