/*
 * dbcount.h - how many chat messages the store holds, recorded with every
 * bench run: on FerretDB every query that is not pushed down to SQLite
 * reads the whole collection, so ENTER, replay and history numbers depend
 * on its size as much as on the relay.
 */
#ifndef BENCH_DBCOUNT_H
#define BENCH_DBCOUNT_H

#include <stdint.h>

/* dbcount_messages: the estimated document count of chat_messages in the
 * MongoDB of the stack's config (CHAT_CONFIG and CHAT_* overrides).
 * Returns 0, or ERR_INVALID (no usable config), ERR_UNAVAILABLE. */
int dbcount_messages(int64_t *n);

#endif
