/*
 * ids.h - the range of every id and seq in the system: users, rooms,
 * messages' seq. They travel as JSON numbers, which clients hold as IEEE
 * doubles, and a double holds every integer up to 2^53 - 1 exactly but
 * not 2^53 + 1 (it becomes 2^53). So ids are 1..ID_MAX, checked here, in
 * one place, wherever one comes in: a JSON body, a frame, a URL path, a
 * JWT's sub, a command line. Pure functions.
 */
#ifndef CHAT_IDS_H
#define CHAT_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ID_MAX 9007199254740991LL /* 2^53 - 1 */

/* id_from_double: d, the value of a JSON number, as an id: a whole number
 * in min..ID_MAX (min is 0 or 1). A number above ID_MAX is refused even
 * when it was written as one inside the range and rounded on parsing
 * (9007199254740993 reads as 2^53). Returns 0, or -1 (out untouched). */
int id_from_double(double d, int64_t min, int64_t *out);

/* id_parse: s[0..len) as an id in canonical decimal: ASCII digits only, no
 * sign, no leading zero, 1..ID_MAX. Returns 0, or -1 (out untouched). */
int id_parse(const char *s, size_t len, int64_t *out);

#endif
