/* ratelimit.c - token bucket (see ratelimit.h). */
#include "ratelimit.h"

#include <assert.h>

void ratelimit_init(struct ratelimit *rl, int rate, int burst, int64_t now_ms)
{
    assert(rate > 0 && burst > 0);
    rl->rate = rate;
    rl->burst = burst;
    rl->milli_tokens = (int64_t) burst * 1000;
    rl->last_ms = now_ms;
}

int ratelimit_take(struct ratelimit *rl, int64_t now_ms)
{
    int64_t cap = (int64_t) rl->burst * 1000;
    if (now_ms > rl->last_ms) {
        /* rate tokens/s is rate milli-tokens/ms; clamp the gap so a long
         * idle period cannot overflow the product. */
        int64_t gap = now_ms - rl->last_ms;
        if (gap > cap)
            gap = cap;
        rl->milli_tokens += gap * rl->rate;
        if (rl->milli_tokens > cap)
            rl->milli_tokens = cap;
        rl->last_ms = now_ms;
    }
    if (rl->milli_tokens < 1000)
        return 0;
    rl->milli_tokens -= 1000;
    return 1;
}
