/*
 * pct.h - strict percent-decoding of URL paths and query values (RFC 3986
 * section 2.1). Pure; no allocation.
 */
#ifndef CHAT_PCT_H
#define CHAT_PCT_H

#include <stddef.h>

/* pct_hexval: the value of one hex digit, or -1. */
int pct_hexval(char c);

/*
 * pct_decode: decode len bytes of src into out (cap bytes; a NUL is added,
 * so the decoded text must be shorter than cap). '+' stays '+' (this is not
 * form decoding). Stores the decoded length in *out_len (may be NULL).
 * Returns 0, ERR_INVALID for a '%' not followed by two hex digits or a
 * decoded NUL, or ERR_TOO_LARGE when out is too small.
 */
int pct_decode(const char *src, size_t len, char *out, size_t cap, size_t *out_len);

#endif
