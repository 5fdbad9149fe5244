/*
 * msgstore.h - chat messages in MongoDB (collection chat_messages).
 *
 * Thread-safe: one struct msgstore per process wraps a mongoc client pool;
 * every call takes a client from the pool and returns it. Uses only the
 * driver's standard API so it runs on real MongoDB (replica sets included,
 * write concern from config) and on FerretDB alike.
 *
 * msgstore_page serves the history API; the relay stores messages with
 * msgstore_insert_many and uses the other calls for seq assignment,
 * idempotent retries, `since` replay and /healthz.
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

/* msgstore_insert_many: store n messages with one insertMany (unordered,
 * write concern cfg->mongo_write_concern). The caller fills every field but
 * `id`; each msgs[i].id receives a fresh ObjectId. status[i] becomes 0 when
 * message i was stored, ERR_CONFLICT when it hit a unique index (the
 * {chatRoomId,seq} or the {chatRoomId,senderId,clientMsgId} one: the
 * server does not say which portably, so callers look the message up), or
 * ERR_INTERNAL for any other per-message rejection.
 * Returns 0 when status[] is valid; ERR_UNAVAILABLE when the server could
 * not be reached or did not confirm the write concern (status[] is then
 * meaningless and some messages may have been stored: retry with the same
 * clientMsgId is safe); ERR_NOMEM; ERR_INTERNAL. msgs and status borrowed. */
int msgstore_insert_many(struct msgstore *ms, struct chat_message *msgs, size_t n, int *status);

/* msgstore_find_client_msg: the stored message of (room_id, sender_id,
 * client_msg_id) into *out (caller clears it with chat_message_clear).
 * Returns 0, ERR_NOT_FOUND, ERR_UNAVAILABLE, ERR_NOMEM, ERR_INTERNAL. */
int msgstore_find_client_msg(struct msgstore *ms, int64_t room_id, int64_t sender_id,
                             const char *client_msg_id, struct chat_message *out);

/* msgstore_last_seq: the highest stored seq of room_id into *seq (0 for an
 * empty room). Returns 0, ERR_UNAVAILABLE, ERR_INTERNAL. */
int msgstore_last_seq(struct msgstore *ms, int64_t room_id, int64_t *seq);

/* msgstore_ping: 0 when the server answers a ping, else ERR_UNAVAILABLE. */
int msgstore_ping(struct msgstore *ms);

/* For the media store (GridFS in the same database), which shares the
 * pool: msgstore_client_pop gives a client (NULL when out of memory) to
 * return with msgstore_client_push; msgstore_error maps a driver error to
 * a project code as every msgstore call does. */
struct _mongoc_client_t *msgstore_client_pop(struct msgstore *ms);
void msgstore_client_push(struct msgstore *ms, struct _mongoc_client_t *client);
struct _bson_error_t;
int msgstore_error(const struct _bson_error_t *e);

#endif
