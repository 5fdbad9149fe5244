/*
 * b64url.h - base64url (RFC 4648 section 5) without padding, as JWTs and
 * socket tokens use it.
 *
 * Decoding is strict: only the URL-safe alphabet, no '=' padding, no
 * whitespace, no impossible length (len % 4 == 1) and no stray bits in the
 * last character, so every byte string has exactly one accepted text. Pure
 * functions, no allocation; hot only as far as JWT checks are.
 */
#ifndef CHAT_B64URL_H
#define CHAT_B64URL_H

#include <stddef.h>

/* B64URL_ENC_LEN: characters needed for n bytes, without the NUL. */
#define B64URL_ENC_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* B64URL_DEC_MAX: an upper bound on the bytes that n characters decode to. */
#define B64URL_DEC_MAX(n) (((n) / 4) * 3 + 2)

/*
 * b64url_encode: write the text of `len` bytes of `src` and a NUL into out
 * (cap bytes, at least B64URL_ENC_LEN(len) + 1). Returns the text length,
 * or ERR_TOO_LARGE when out is too small (out is then left empty if cap>0).
 */
int b64url_encode(const void *src, size_t len, char *out, size_t cap);

/*
 * b64url_decode: decode `len` characters of `src` (need not be
 * NUL-terminated) into out (cap bytes). Stores the byte count in *out_len.
 * Returns 0, ERR_INVALID for text that is not canonical unpadded base64url,
 * or ERR_TOO_LARGE when out is too small.
 */
int b64url_decode(const char *src, size_t len, unsigned char *out, size_t cap, size_t *out_len);

#endif
