/*
 * timefmt.h - wall-clock milliseconds and RFC 3339 UTC text with
 * milliseconds ("2026-11-29T10:00:00.123Z"), the one time format of the API.
 */
#ifndef CHAT_TIMEFMT_H
#define CHAT_TIMEFMT_H

#include <stdint.h>

#define TIMEFMT_RFC3339_LEN 25 /* 24 characters and the NUL */

/* timefmt_now_ms: milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t timefmt_now_ms(void);

/* timefmt_mono_ms: milliseconds of CLOCK_MONOTONIC, for timers and latency. */
int64_t timefmt_mono_ms(void);

/* timefmt_rfc3339: write ms-since-epoch as RFC 3339 UTC into out
 * (TIMEFMT_RFC3339_LEN bytes); returns out. */
char *timefmt_rfc3339(char out[TIMEFMT_RFC3339_LEN], int64_t ms);

#endif
