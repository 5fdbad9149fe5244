/*
 * jsonnul.c - the NUL rule (see jsonnul.h). Escapes occur only inside
 * JSON strings, so a scan for backslashes needs no string tracking.
 */
#include "jsonnul.h"

#include <string.h>

int json_has_nul(const char *text, size_t len)
{
    if (memchr(text, '\0', len))
        return 1;
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* skip the escaped character, so "\\u0000" is not an escape */
    }
    return 0;
}
