/*
 * utf8.h - strict UTF-8 decoding (RFC 3629): no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF. Used to vet request bodies and names
 * before they reach MySQL (whose utf8mb4 columns would refuse them with a
 * server error) or a JSON answer. Pure functions.
 */
#ifndef CHAT_UTF8_H
#define CHAT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* utf8_next: decode the code point at s (len > 0 bytes available) into
 * *cp. Returns the bytes it used (1..4), or 0 when s does not start with a
 * valid sequence. */
size_t utf8_next(const char *s, size_t len, uint32_t *cp);

/* utf8_valid: 1 when all len bytes are valid UTF-8 (NUL bytes included, as
 * U+0000 is valid UTF-8: callers that cannot store NUL check for it), else
 * 0. When valid and chars is not NULL, *chars gets the code point count. */
int utf8_valid(const char *s, size_t len, size_t *chars);

#endif
