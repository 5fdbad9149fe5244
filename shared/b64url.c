/* b64url.c - strict unpadded base64url (see b64url.h). */
#include "b64url.h"
#include "errors.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_encode(const void *src, size_t len, char *out, size_t cap)
{
    const unsigned char *s = src;
    if (len > (SIZE_MAX - 4) / 4 * 3 || cap < B64URL_ENC_LEN(len) + 1) {
        if (cap)
            out[0] = '\0';
        return ERR_TOO_LARGE;
    }
    size_t o = 0, i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t) s[i] << 16 | (uint32_t) s[i + 1] << 8 | s[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t) s[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t) s[i] << 16 | (uint32_t) s[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int) o;
}

/* sextet: the 6-bit value of one character, or -1 outside the alphabet. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64url_decode(const char *src, size_t len, unsigned char *out, size_t cap, size_t *out_len)
{
    *out_len = 0;
    if (len % 4 == 1)
        return ERR_INVALID;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return ERR_TOO_LARGE;

    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = sextet((unsigned char) src[i]);
        if (v < 0)
            return ERR_INVALID;
        acc = (acc << 6 | (uint32_t) v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
        }
    }
    /* Leftover bits (2 or 4) must be zero, or two texts would decode alike. */
    if (bits && (acc & ((1u << bits) - 1)))
        return ERR_INVALID;
    *out_len = o;
    return 0;
}
