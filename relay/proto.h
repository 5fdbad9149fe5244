/*
 * proto.h - the relay's JSON protocol (docs/protocol.md): client frames
 * in, server frames out.
 *
 * proto_parse turns one client text frame into a validated command or a
 * precise error (code and sentence for an ERROR frame), with no I/O and no
 * knowledge of sessions, so every rule is unit-tested on its own. Identity
 * is not decided here: a `userId` is only reported (has_user_id) for the
 * caller to compare with the authenticated user.
 */
#ifndef RELAY_PROTO_H
#define RELAY_PROTO_H

#include "chat_message.h"

#include <stddef.h>
#include <stdint.h>

#define PROTO_CLIENT_MSG_ID_MAX 64   /* bytes */
#define PROTO_IMAGE_URL_MAX     2048 /* bytes */
#define PROTO_IMAGE_NAME_MAX    256  /* bytes */

/* PROTO_IMAGE: every message that is not TEXT, an IMAGE (by address or
 * upload) or a VIDEO (upload); `type` tells them apart. */
enum proto_kind { PROTO_ENTER, PROTO_LEAVE, PROTO_TEXT, PROTO_IMAGE, PROTO_READ, PROTO_TYPING };

struct proto_cmd {
    enum proto_kind kind;
    int64_t room_id; /* > 0 once valid; 0 when the frame had no usable one */
    int64_t since;   /* ENTER: seq to replay after, or -1 when absent */
    int64_t seq;     /* READ: read up to this seq (>= 1) */
    int has_user_id;
    int64_t user_id;                                 /* when has_user_id */
    char client_msg_id[PROTO_CLIENT_MSG_ID_MAX + 1]; /* "" when absent or unusable */
    char *message;            /* TEXT: owned, NUL-free UTF-8, 1..max_text_chars code points */
    char *image_url;          /* IMAGE: owned, absolute http(s) URL */
    char *image_name;         /* IMAGE: owned, may be NULL */
    enum chat_type type;      /* TEXT, IMAGE or VIDEO for messages */
    struct chat_media *media; /* IMAGE or VIDEO of an upload: owned, its id
                               * checked against the room and its facts */
};

struct proto_error {
    const char *code;    /* static: "bad_request", "too_large", "internal" */
    const char *message; /* static sentence */
};

/* proto_parse: parse the len bytes of a text frame (valid UTF-8, as wslay
 * checked) into *cmd. max_text_chars bounds `message` in code points;
 * media_key (MEDIA_KEY_LEN bytes, see media_id.h) checks media ids, NULL
 * refuses every media message.
 * Returns 0; ERR_INVALID or ERR_TOO_LARGE with *err filled (cmd->room_id
 * and cmd->client_msg_id still set when they could be read, so the ERROR
 * can name them); ERR_NOMEM. In every case release cmd with
 * proto_cmd_clear. text borrowed. */
int proto_parse(const char *text, size_t len, size_t max_text_chars, const unsigned char *media_key,
                struct proto_cmd *cmd, struct proto_error *err);

/* proto_parse_tree: proto_parse through a cJSON tree for every frame.
 * proto_parse reads a plain TEXT (no escapes, no nesting, every rule
 * met) without one and gives the same command; the unit tests hold the
 * two side by side. */
int proto_parse_tree(const char *text, size_t len, size_t max_text_chars,
                     const unsigned char *media_key, struct proto_cmd *cmd,
                     struct proto_error *err);

/* proto_cmd_clear: free the owned strings; NULL-safe, idempotent. */
void proto_cmd_clear(struct proto_cmd *cmd);

/* Server frames. Each returns a malloc'd NUL-terminated JSON text (caller
 * frees), or NULL when out of memory. */
char *proto_entered(int64_t room_id, int64_t last_seq);
char *proto_left(int64_t room_id);
char *proto_ack(const char *client_msg_id, const char *id, int64_t seq, int64_t created_at_ms);
char *proto_message(const struct chat_message *m);
/* proto_read: user_id has read room_id up to seq. proto_typing: user_id
 * is typing in room_id; receivers show it for ttl_ms unless repeated. */
char *proto_read(int64_t room_id, int64_t user_id, int64_t seq);
char *proto_typing(int64_t room_id, int64_t user_id, int64_t ttl_ms);
/* proto_room_notice: ROOM, a new message m in a room this connection has
 * not ENTERed: its seq and a short preview, for the room list. */
char *proto_room_notice(const struct chat_message *m);
/* proto_room_empty: ROOM of a room with no message yet (just made). */
char *proto_room_empty(int64_t room_id);
/* proto_presence: PRESENCE of user_id; last_seen_ms <= 0: lastSeenAt null. */
char *proto_presence(int64_t user_id, int online, int64_t last_seen_ms);
/* proto_error_frame: client_msg_id NULL or "" and room_id <= 0 are left out. */
char *proto_error_frame(const char *code, const char *message, const char *client_msg_id,
                        int64_t room_id);

#endif
