/*
 * fuzz_proto.c - the relay's client-frame parser (proto_parse), which
 * reads every text frame an authenticated client sends.
 *
 * The input is one frame in a heap block of its exact size; input that is
 * not UTF-8 is skipped, as wslay refuses such frames before the relay sees
 * them. A limit of 100 characters makes the too-long path reachable.
 * Properties: an error carries a code and a sentence and renders as an
 * ERROR frame; a command has a room and what its kind needs (a non-empty
 * UTF-8 message within the limit, an http(s) image URL); clearing twice is
 * safe.
 */
#include "errors.h"
#include "fuzz.h"
#include "ids.h"
#include "media_id.h"
#include "proto.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_MAX_CHARS 100

int fuzz_proto_one(const uint8_t *data, size_t size)
{
    if (!utf8_valid((const char *) data, size, NULL))
        return 0;
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);

    struct proto_cmd cmd;
    struct proto_error err = {NULL, NULL};
    static const unsigned char key[MEDIA_KEY_LEN] = {1, 2, 3};
    int rc = proto_parse(text, size, FUZZ_MAX_CHARS, key, &cmd, &err);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_TOO_LARGE || rc == ERR_NOMEM);
    FUZZ_CHECK(strlen(cmd.client_msg_id) <= PROTO_CLIENT_MSG_ID_MAX);
    if (rc != 0) {
        FUZZ_CHECK(err.code != NULL && err.message != NULL);
        free(proto_error_frame(err.code, err.message, cmd.client_msg_id, cmd.room_id));
    } else {
        FUZZ_CHECK(cmd.room_id > 0 && cmd.room_id <= ID_MAX);
        FUZZ_CHECK(!cmd.has_user_id || cmd.user_id > 0);
        size_t chars = 0;
        switch (cmd.kind) {
        case PROTO_ENTER:
            FUZZ_CHECK(cmd.since >= -1);
            break;
        case PROTO_LEAVE:
            break;
        case PROTO_TEXT:
            FUZZ_CHECK(cmd.message != NULL && cmd.message[0] != '\0');
            FUZZ_CHECK(cmd.client_msg_id[0] != '\0');
            FUZZ_CHECK(utf8_valid(cmd.message, strlen(cmd.message), &chars));
            FUZZ_CHECK(chars <= FUZZ_MAX_CHARS);
            break;
        case PROTO_IMAGE:
            /* A forged media id never passes: the key is not in the input. */
            FUZZ_CHECK(cmd.media == NULL && cmd.type == CHAT_IMAGE);
            FUZZ_CHECK(cmd.image_url != NULL && cmd.client_msg_id[0] != '\0');
            FUZZ_CHECK(strncasecmp(cmd.image_url, "http://", 7) == 0 ||
                       strncasecmp(cmd.image_url, "https://", 8) == 0);
            FUZZ_CHECK(strlen(cmd.image_url) <= PROTO_IMAGE_URL_MAX);
            FUZZ_CHECK(!cmd.image_name || strlen(cmd.image_name) <= PROTO_IMAGE_NAME_MAX);
            break;
        default:
            FUZZ_CHECK(!"unknown kind");
        }
    }
    proto_cmd_clear(&cmd);
    proto_cmd_clear(&cmd);
    free(text);
    return 0;
}

FUZZ_TARGET(fuzz_proto_one)
