/*
 * jscan.h - read one field out of a small JSON object without building a
 * tree: the load generator's hot path sees two frames per message (ACK and
 * MESSAGE) and only needs a few fields of each.
 *
 * The scanner walks the text once, skipping over string contents (escapes
 * included), and stops at the first object key equal to `key` at any depth.
 * It does not validate the document: it trusts the relay to send JSON and
 * only promises not to read outside [json, json + len). Keys are compared
 * byte for byte, so a key written with escapes is not found.
 */
#ifndef BENCH_JSCAN_H
#define BENCH_JSCAN_H

#include <stddef.h>
#include <stdint.h>

/* jscan_str: the value of the first `"key": "..."` into *val / *vlen as a
 * slice of json (borrowed; escapes are left as they are). Returns 0, or
 * ERR_NOT_FOUND when the key is absent, ERR_INVALID when its value is not
 * a string. */
int jscan_str(const char *json, size_t len, const char *key, const char **val, size_t *vlen);

/* jscan_int: the value of the first `"key": <integer>` into *out. Returns 0,
 * ERR_NOT_FOUND, or ERR_INVALID when the value is not an integer that fits
 * an int64_t. */
int jscan_int(const char *json, size_t len, const char *key, int64_t *out);

/* jscan_eq: 1 when the first `"key"` holds exactly the string `want`. */
int jscan_eq(const char *json, size_t len, const char *key, const char *want);

#endif
