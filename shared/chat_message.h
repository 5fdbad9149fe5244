/*
 * chat_message.h - one chat message as the API and the relay see it, and
 * its JSON form (ChatMessage of the contract).
 */
#ifndef CHAT_CHAT_MESSAGE_H
#define CHAT_CHAT_MESSAGE_H

#include "media_id.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

enum chat_type { CHAT_TEXT, CHAT_IMAGE, CHAT_VIDEO };

#define CHAT_MEDIA_NAME_MAX 256 /* bytes of a media message's file name */

/* An uploaded picture or video a message shows (see media_id.h). */
struct chat_media {
    char id[MEDIA_ID_LEN + 1];
    char name[CHAT_MEDIA_NAME_MAX + 1]; /* as the sender named it; may be "" */
    struct media_facts facts;
};

struct chat_message {
    char id[25]; /* ObjectId as 24 hex characters */
    int64_t room_id;
    int64_t seq;
    int64_t sender_id;
    enum chat_type type;
    char *message;            /* TEXT: owned, NUL-free UTF-8; NULL for IMAGE */
    char *image_url;          /* IMAGE: owned; NULL for TEXT */
    char *image_name;         /* IMAGE: owned; may be NULL */
    struct chat_media *media; /* IMAGE or VIDEO of an upload: owned, and then
                               * image_url is NULL; NULL otherwise */
    char *client_msg_id;      /* owned; never NULL once stored */
    int64_t created_at_ms;    /* ms since the epoch */
};

/* chat_message_to_json: a new cJSON object in the contract's ChatMessage
 * form (caller owns it, cJSON_Delete), NULL when out of memory. */
cJSON *chat_message_to_json(const struct chat_message *m);

/* chat_type_name: "TEXT", "IMAGE" or "VIDEO". */
const char *chat_type_name(enum chat_type type);

/* chat_media_to_json: the `media` object of the JSON form; NULL when out
 * of memory. */
cJSON *chat_media_to_json(const struct chat_media *media);

/* chat_message_clear: free the owned strings; the struct may be reused. */
void chat_message_clear(struct chat_message *m);

/* chat_message_array_free: clear n messages and free the array; NULL ok. */
void chat_message_array_free(struct chat_message *arr, size_t n);

#endif
