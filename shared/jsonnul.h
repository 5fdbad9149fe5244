/*
 * jsonnul.h - the NUL rule for JSON text from clients (API bodies, relay
 * frames): no raw NUL byte and no \u0000 escape. cJSON decodes the escape
 * into a NUL that silently cuts the C string ("bob\u0000x" would become
 * "bob"), and MongoDB-compatible stores refuse NUL in strings, so such
 * text is refused whole. Pure function.
 */
#ifndef CHAT_JSONNUL_H
#define CHAT_JSONNUL_H

#include <stddef.h>

/* json_has_nul: 1 when text[0..len) holds a NUL byte or a \u0000 escape
 * (an escaped backslash followed by "u0000" is not one), else 0. */
int json_has_nul(const char *text, size_t len);

#endif
