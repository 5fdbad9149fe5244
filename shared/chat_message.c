/*
 * chat_message.c - the ChatMessage JSON form (see chat_message.h).
 *
 * Called once per delivered message by the relay and once per history row
 * by the API; the cost is a handful of cJSON allocations per message.
 */
#include "chat_message.h"
#include "timefmt.h"

#include <stdlib.h>

const char *chat_type_name(enum chat_type type)
{
    return type == CHAT_IMAGE ? "IMAGE" : type == CHAT_VIDEO ? "VIDEO" : "TEXT";
}

cJSON *chat_media_to_json(const struct chat_media *media)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "id", media->id) &&
             cJSON_AddStringToObject(o, "name", media->name) &&
             cJSON_AddStringToObject(o, "type", media->facts.mime) &&
             cJSON_AddNumberToObject(o, "size", (double) media->facts.size) &&
             cJSON_AddNumberToObject(o, "width", media->facts.width) &&
             cJSON_AddNumberToObject(o, "height", media->facts.height);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *chat_message_to_json(const struct chat_message *m)
{
    char ts[TIMEFMT_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    /* Ids and seqs stay within ID_MAX (ids.h), so a JSON number holds them exactly. */
    int ok = cJSON_AddStringToObject(o, "id", m->id) &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) m->room_id) &&
             cJSON_AddNumberToObject(o, "seq", (double) m->seq) &&
             cJSON_AddNumberToObject(o, "senderId", (double) m->sender_id) &&
             cJSON_AddStringToObject(o, "chatType", chat_type_name(m->type));
    if (ok && m->type == CHAT_TEXT)
        ok = cJSON_AddStringToObject(o, "message", m->message ? m->message : "") != NULL;
    if (ok && m->media) {
        cJSON *media = chat_media_to_json(m->media);
        ok = media && cJSON_AddItemToObject(o, "media", media);
        if (!ok)
            cJSON_Delete(media);
    } else if (ok && m->type == CHAT_IMAGE) {
        ok = cJSON_AddStringToObject(o, "imageUrl", m->image_url ? m->image_url : "") &&
             (m->image_name ? cJSON_AddStringToObject(o, "imageName", m->image_name) != NULL
                            : cJSON_AddNullToObject(o, "imageName") != NULL);
    }
    ok = ok &&
         cJSON_AddStringToObject(o, "clientMsgId", m->client_msg_id ? m->client_msg_id : "") &&
         cJSON_AddStringToObject(o, "createdAt", timefmt_rfc3339(ts, m->created_at_ms));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void chat_message_clear(struct chat_message *m)
{
    if (!m)
        return;
    free(m->message);
    free(m->image_url);
    free(m->image_name);
    free(m->client_msg_id);
    free(m->media);
    m->media = NULL;
    m->message = m->image_url = m->image_name = m->client_msg_id = NULL;
}

void chat_message_array_free(struct chat_message *arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        chat_message_clear(&arr[i]);
    free(arr);
}
