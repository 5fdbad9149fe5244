/*
 * jscan.c - one-pass key lookup in JSON text (see jscan.h). Called twice
 * or three times per received frame, so it allocates nothing.
 */
#include "jscan.h"

#include "errors.h"

#include <string.h>

/* skip_string: p points just after an opening quote; return the index just
 * after the closing quote, or 0 when the string is unterminated. */
static size_t skip_string(const char *s, size_t len, size_t p)
{
    while (p < len) {
        if (s[p] == '\\')
            p += 2;
        else if (s[p] == '"')
            return p + 1;
        else
            p++;
    }
    return 0;
}

static size_t skip_space(const char *s, size_t len, size_t p)
{
    while (p < len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
        p++;
    return p;
}

/* find_value: the index of the first byte of key's value, or len. */
static size_t find_value(const char *s, size_t len, const char *key)
{
    size_t klen = strlen(key);
    size_t p = 0;
    while (p < len) {
        if (s[p] != '"') {
            p++;
            continue;
        }
        size_t start = p + 1;
        size_t end = skip_string(s, len, start); /* just after the closing quote */
        if (end == 0)
            return len;
        size_t after = skip_space(s, len, end);
        if (after < len && s[after] == ':') {
            if (end - 1 - start == klen && memcmp(s + start, key, klen) == 0)
                return skip_space(s, len, after + 1);
        }
        p = end;
    }
    return len;
}

int jscan_str(const char *json, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t v = find_value(json, len, key);
    if (v >= len)
        return ERR_NOT_FOUND;
    if (json[v] != '"')
        return ERR_INVALID;
    size_t end = skip_string(json, len, v + 1);
    if (end == 0)
        return ERR_INVALID;
    *val = json + v + 1;
    *vlen = end - v - 2;
    return 0;
}

int jscan_int(const char *json, size_t len, const char *key, int64_t *out)
{
    size_t v = find_value(json, len, key);
    if (v >= len)
        return ERR_NOT_FOUND;
    int neg = 0;
    if (json[v] == '-') {
        neg = 1;
        v++;
    }
    if (v >= len || json[v] < '0' || json[v] > '9')
        return ERR_INVALID;
    uint64_t n = 0;
    uint64_t limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    while (v < len && json[v] >= '0' && json[v] <= '9') {
        uint64_t d = (uint64_t) (json[v] - '0');
        if (n > (limit - d) / 10)
            return ERR_INVALID;
        n = n * 10 + d;
        v++;
    }
    if (v < len && (json[v] == '.' || json[v] == 'e' || json[v] == 'E'))
        return ERR_INVALID;
    *out = neg ? (int64_t) (0 - n) : (int64_t) n;
    return 0;
}

int jscan_eq(const char *json, size_t len, const char *key, const char *want)
{
    const char *v;
    size_t n;
    if (jscan_str(json, len, key, &v, &n) != 0)
        return 0;
    return n == strlen(want) && memcmp(v, want, n) == 0;
}
