/*
 * http_list.c - one element of a comma-separated header value (see
 * http_list.h).
 */
#include "http_list.h"

#include <string.h>
#include <strings.h>

int http_list_has(const char *v, size_t len, const char *tok)
{
    size_t tlen = strlen(tok);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(v + start, tok, tlen) == 0)
            return 1;
    }
    return 0;
}
