/*
 * ratelimit.h - a token bucket per connection: `rate` messages per second
 * on average, bursts of up to `burst`.
 *
 * Integer arithmetic in milli-tokens, time passed in by the caller (ms of
 * a monotonic clock) so tests need no sleeping. Two words per connection.
 */
#ifndef RELAY_RATELIMIT_H
#define RELAY_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
    int64_t milli_tokens; /* current fill, 0 .. burst * 1000 */
    int64_t last_ms;      /* when milli_tokens was last brought up to date */
    int32_t rate;         /* tokens per second, > 0 */
    int32_t burst;        /* bucket size in tokens, > 0 */
};

/* ratelimit_init: a full bucket at time now_ms. */
void ratelimit_init(struct ratelimit *rl, int rate, int burst, int64_t now_ms);

/* ratelimit_take: 1 when a token was available at now_ms (and is now
 * spent), 0 when the caller is over the limit (nothing is spent). */
int ratelimit_take(struct ratelimit *rl, int64_t now_ms);

#endif
