/*
 * msgstore.h - chat messages in MongoDB (collection chat_messages).
 *
 * Thread-safe: one struct msgstore per process wraps a mongoc client pool;
 * every call takes a client from the pool and returns it. Uses only the
 * driver's standard API so it runs on real MongoDB (replica sets included,
 * write concern from config) and on FerretDB alike.
 *
 * (The relay extends this module with batched inserts, idempotent lookups
 * and the room's highest seq; msgstore_page is what the history API needs.)
 */
#ifndef CHAT_MSGSTORE_H
#define CHAT_MSGSTORE_H

#include "chat_message.h"
#include "config.h"

#include <stddef.h>
#include <stdint.h>

struct msgstore;

/* msgstore_new: a store for cfg's mongo_uri / mongo_database (cfg borrowed
 * for the store's lifetime). Does not contact the server. NULL when the URI
 * is invalid (message in errbuf) or out of memory. */
struct msgstore *msgstore_new(const struct config *cfg, char *errbuf, size_t errlen);

/* msgstore_free: NULL is a no-op. */
void msgstore_free(struct msgstore *ms);

/* msgstore_page: messages of room_id, oldest first, at most `limit`:
 * when after >= 0, those with seq > after (the page just newer);
 * otherwise those with seq < before (before <= 0: the newest page).
 * *out is a malloc'd array of *n messages (free with chat_message_array_free);
 * *more is set to 1 when further messages exist in the paging direction.
 * Returns 0, ERR_UNAVAILABLE, ERR_NOMEM, ERR_INTERNAL. */
int msgstore_page(struct msgstore *ms, int64_t room_id, int64_t before, int64_t after, int limit,
                  struct chat_message **out, size_t *n, int *more);

#endif
