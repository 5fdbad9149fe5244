/*
 * decimal.h - unsigned decimal numbers from untrusted text (a
 * Content-Length, a query parameter, an id in a path or a Redis channel).
 * strtoll accepts blanks, a sign and "0x" and needs errno to report
 * overflow; this takes ASCII digits and nothing else. Pure function.
 */
#ifndef CHAT_DECIMAL_H
#define CHAT_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* dec_parse: s[0..len), 1 to 19 ASCII digits (leading zeros allowed),
 * as a value up to INT64_MAX. Returns 0, or -1 for anything else (out
 * untouched). */
int dec_parse(const char *s, size_t len, int64_t *out);

#endif
