/*
 * proto.c - client frame validation and server frame building (see
 * proto.h). One call per frame in each direction; cJSON does the syntax,
 * this file the rules of the contract.
 *
 * The two frames built once per message, ACK and a TEXT's MESSAGE, are
 * written straight into one buffer (jout below) instead of through a
 * cJSON tree: a tree costs an allocation per field and a print pass, a
 * good part of the relay's own work per message. The text is the one
 * cJSON prints (same fields, order and escapes; numbers as integers).
 */
#include "proto.h"
#include "errors.h"
#include "ids.h"
#include "jsonnul.h"
#include "media_id.h"
#include "room_state.h"
#include "timefmt.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(struct proto_error *err, int rc, const char *code, const char *message)
{
    err->code = code;
    err->message = message;
    return rc;
}

/* has_trailing_bytes: 1 when [p, end) holds anything but JSON whitespace. */
static int has_trailing_bytes(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return 1;
    return 0;
}

/* ascii_run: how many bytes at the start of s[0..len) are ASCII, eight
 * at a time. A UTF-8 sequence never starts inside them, so the check of
 * the rest can begin there. */
static size_t ascii_run(const char *s, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    while (i < len && !((unsigned char) s[i] & 0x80))
        i++;
    return i;
}

/* valid_utf8: utf8_valid, with the ASCII part (most of a frame) skipped
 * quickly; *chars (when not NULL) counts code points as utf8_valid does. */
static int valid_utf8(const char *s, size_t len, size_t *chars)
{
    size_t ascii = ascii_run(s, len), rest = 0;
    if (!utf8_valid(s + ascii, len - ascii, chars ? &rest : NULL))
        return 0;
    if (chars)
        *chars = ascii + rest;
    return 1;
}

/* has_nul: json_has_nul; without a backslash no escape can make a NUL,
 * so a raw NUL byte is all there is to look for. */
static int has_nul(const char *text, size_t len)
{
    if (!memchr(text, '\\', len))
        return memchr(text, '\0', len) != NULL;
    return json_has_nul(text, len);
}

/* get_id: an id (shared/ids.h: 1..2^53-1, or 0.. when zero_ok) given as a
 * JSON number. */
static int get_id(const cJSON *item, int zero_ok, int64_t *out)
{
    return cJSON_IsNumber(item) ? id_from_double(item->valuedouble, zero_ok ? 0 : 1, out) : -1;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* valid_http_url: absolute http: or https: URL with a host, no spaces or
 * control bytes. Anything else a browser could be tricked into loading
 * (javascript:, data:, relative paths) is refused. */
static int valid_http_url(const char *u)
{
    size_t skip;
    if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    else
        return 0;
    const char *host = u + skip;
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#' || *host == ':' ||
        *host == '@')
        return 0;
    for (const char *c = u; *c; c++)
        if ((unsigned char) *c <= 0x20 || *c == 0x7f || *c == '\\')
            return 0;
    return 1;
}

static char *dup_string(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* get_count: a whole JSON number in 0..max. */
static int get_count(const cJSON *item, double max, int64_t *out)
{
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= max) ||
        (double) (int64_t) item->valuedouble != item->valuedouble)
        return -1;
    *out = (int64_t) item->valuedouble;
    return 0;
}

/* parse_media: the `media` object of an uploaded picture or video; its id
 * must have been made for this room and these facts (media_id.h). */
static int parse_media(const cJSON *o, const unsigned char *key, struct proto_cmd *cmd,
                       struct proto_error *err)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    int64_t size, width, height;
    if (!cJSON_IsObject(o) || !cJSON_IsString(id) || !cJSON_IsString(type) ||
        strlen(type->valuestring) >= MEDIA_MIME_MAX || strlen(id->valuestring) != MEDIA_ID_LEN ||
        get_count(cJSON_GetObjectItemCaseSensitive(o, "size"), 1e15, &size) != 0 ||
        get_count(cJSON_GetObjectItemCaseSensitive(o, "width"), 1e6, &width) != 0 ||
        get_count(cJSON_GetObjectItemCaseSensitive(o, "height"), 1e6, &height) != 0)
        return fail(err, ERR_INVALID, "bad_request",
                    "media needs id, type, size, width and height as the upload answered");
    if (name && !cJSON_IsNull(name) &&
        (!cJSON_IsString(name) || strlen(name->valuestring) > CHAT_MEDIA_NAME_MAX ||
         has_control(name->valuestring)))
        return fail(err, ERR_INVALID, "bad_request",
                    "media name must be a string of at most 256 bytes without control characters");
    const char *want = cmd->type == CHAT_VIDEO ? "video/" : "image/";
    if (strncmp(type->valuestring, want, 6) != 0)
        return fail(err, ERR_INVALID, "bad_request", "the media type does not fit the chatType");
    if (!(cmd->media = calloc(1, sizeof *cmd->media)))
        return fail(err, ERR_NOMEM, "internal", "out of memory");
    struct chat_media *m = cmd->media;
    memcpy(m->id, id->valuestring, MEDIA_ID_LEN + 1);
    if (cJSON_IsString(name))
        memcpy(m->name, name->valuestring, strlen(name->valuestring) + 1);
    memcpy(m->facts.mime, type->valuestring, strlen(type->valuestring) + 1);
    m->facts.size = size;
    m->facts.width = (int) width;
    m->facts.height = (int) height;
    if (!key || media_id_check(key, m->id, cmd->room_id, &m->facts) != 0)
        return fail(err, ERR_INVALID, "bad_request", "no such media in this room");
    return 0;
}

/* ------------------------------------------------- the plain TEXT path */

/* The fields a TEXT is made of, as fast_text finds them. */
enum { F_TYPE, F_ROOM, F_CMID, F_MSG, F_USER, F_COUNT };

struct flat_value {
    const char *v;
    size_t n;
    char kind; /* 0 absent, 's' string, 'n' digits, 'z' null */
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* plain_string: p at an opening quote of a string with no backslash and
 * no byte below 0x20; its bytes in *s, *n. Past the closing quote, or
 * NULL for anything else. */
static const char *plain_string(const char *p, const char *end, const char **s, size_t *n)
{
    const char *q = ++p;
    while (q < end && *q != '"') {
        if ((unsigned char) *q < 0x20 || *q == '\\')
            return NULL;
        q++;
    }
    if (q >= end)
        return NULL;
    *s = p;
    *n = (size_t) (q - p);
    return q + 1;
}

static int field_slot(const char *k, size_t n)
{
    static const char *const names[F_COUNT] = {"chatType", "chatRoomId", "clientMsgId", "message",
                                               "userId"};
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return i;
    return -1;
}

/* flat_scan: the fields of a one-level object whose values are plain
 * strings, digit runs or null (other keys skipped). 0, or -1 for any
 * other text (escapes, nesting, other literals, a key twice, ...). */
static int flat_scan(const char *text, size_t len, struct flat_value f[F_COUNT])
{
    const char *p = skip_ws(text, text + len), *end = text + len;
    if (p >= end || *p++ != '{')
        return -1;
    for (p = skip_ws(p, end);;) {
        const char *k, *v = p;
        size_t kn, vn;
        char kind;
        if (p >= end || *p != '"' || !(p = plain_string(p, end, &k, &kn)))
            return -1;
        p = skip_ws(p, end);
        if (p >= end || *p++ != ':')
            return -1;
        p = skip_ws(p, end);
        if (p >= end)
            return -1;
        if (*p == '"') {
            if (!(p = plain_string(p, end, &v, &vn)))
                return -1;
            kind = 's';
        } else if (*p >= '0' && *p <= '9') {
            for (v = p; p < end && *p >= '0' && *p <= '9'; p++) {
            }
            vn = (size_t) (p - v);
            kind = 'n';
        } else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            p += 4;
            vn = 0;
            kind = 'z';
        } else {
            return -1;
        }
        int slot = field_slot(k, kn);
        if (slot >= 0) {
            if (f[slot].kind)
                return -1; /* cJSON would take the first: leave it to the tree */
            f[slot] = (struct flat_value){v, vn, kind};
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p >= end || *p++ != '}')
            return -1;
        return skip_ws(p, end) == end ? 0 : -1;
    }
}

/* fast_text: a TEXT frame every rule accepts, read without a cJSON tree:
 * 1 with *cmd filled as the tree path fills it, or 0 (cmd untouched) for
 * any frame the tree path must judge, refusals included. Without
 * escapes, NUL can only be a raw byte, and strings refuse those. */
static int fast_text(const char *text, size_t len, size_t max_text_chars, struct proto_cmd *cmd)
{
    struct flat_value f[F_COUNT] = {{0}};
    int64_t room, user = 0;
    if (flat_scan(text, len, f) != 0)
        return 0;
    if (f[F_TYPE].kind != 's' || f[F_TYPE].n != 4 || memcmp(f[F_TYPE].v, "TEXT", 4) != 0 ||
        f[F_ROOM].kind != 'n' || id_parse(f[F_ROOM].v, f[F_ROOM].n, &room) != 0 ||
        f[F_CMID].kind != 's' || f[F_CMID].n == 0 || f[F_CMID].n > PROTO_CLIENT_MSG_ID_MAX ||
        memchr(f[F_CMID].v, 0x7f, f[F_CMID].n) || f[F_MSG].kind != 's' || f[F_MSG].n == 0)
        return 0;
    if (f[F_USER].kind == 's' ||
        (f[F_USER].kind == 'n' && id_parse(f[F_USER].v, f[F_USER].n, &user) != 0))
        return 0;
    if (!valid_utf8(text, len, NULL))
        return 0;
    /* The message lies between two quotes of a valid frame: valid too. */
    size_t chars = 0;
    for (size_t i = 0; i < f[F_MSG].n; i++)
        chars += ((unsigned char) f[F_MSG].v[i] & 0xc0) != 0x80;
    if (chars > max_text_chars)
        return 0;
    char *message = malloc(f[F_MSG].n + 1);
    if (!message)
        return 0;
    memcpy(message, f[F_MSG].v, f[F_MSG].n);
    message[f[F_MSG].n] = '\0';
    cmd->kind = PROTO_TEXT;
    cmd->room_id = room;
    cmd->has_user_id = f[F_USER].kind == 'n';
    cmd->user_id = user;
    memcpy(cmd->client_msg_id, f[F_CMID].v, f[F_CMID].n);
    cmd->client_msg_id[f[F_CMID].n] = '\0';
    cmd->message = message;
    return 1;
}

int proto_parse(const char *text, size_t len, size_t max_text_chars, const unsigned char *media_key,
                struct proto_cmd *cmd, struct proto_error *err)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->since = -1;
    if (fast_text(text, len, max_text_chars, cmd))
        return 0;
    return proto_parse_tree(text, len, max_text_chars, media_key, cmd, err);
}

int proto_parse_tree(const char *text, size_t len, size_t max_text_chars,
                     const unsigned char *media_key, struct proto_cmd *cmd, struct proto_error *err)
{
    cJSON *root = NULL;
    const cJSON *item;
    int rc;

    memset(cmd, 0, sizeof *cmd);
    cmd->since = -1;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!cJSON_IsObject(root)) {
        rc = fail(err, ERR_INVALID, "bad_request", "a frame must be one JSON object");
        goto out;
    }

    /* The fields an ERROR echoes come first, so even a bad frame names them. */
    item = cJSON_GetObjectItemCaseSensitive(root, "clientMsgId");
    if (cJSON_IsString(item) && strlen(item->valuestring) <= PROTO_CLIENT_MSG_ID_MAX &&
        !has_control(item->valuestring))
        memcpy(cmd->client_msg_id, item->valuestring, strlen(item->valuestring) + 1);
    int64_t room;
    if (get_id(cJSON_GetObjectItemCaseSensitive(root, "chatRoomId"), 0, &room) == 0)
        cmd->room_id = room;
    /* Checked after the echoed fields are read, so the sender can tell which
     * of its messages was refused. cJSON stops at the end of the object:
     * only whitespace may follow it, as in an API request body. */
    if (has_trailing_bytes(end, text + len)) {
        rc = fail(err, ERR_INVALID, "bad_request", "a frame must be one JSON object");
        goto out;
    }
    if (!valid_utf8(text, len, NULL)) {
        rc = fail(err, ERR_INVALID, "bad_request", "a frame must be UTF-8 text");
        goto out;
    }
    if (has_nul(text, len)) {
        rc = fail(err, ERR_INVALID, "bad_request", "NUL characters are not allowed");
        goto out;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "chatType");
    if (!cJSON_IsString(item)) {
        rc = fail(err, ERR_INVALID, "bad_request", "chatType is required");
        goto out;
    }
    if (strcmp(item->valuestring, "ENTER") == 0)
        cmd->kind = PROTO_ENTER;
    else if (strcmp(item->valuestring, "LEAVE") == 0)
        cmd->kind = PROTO_LEAVE;
    else if (strcmp(item->valuestring, "TEXT") == 0)
        cmd->kind = PROTO_TEXT;
    else if (strcmp(item->valuestring, "IMAGE") == 0) {
        cmd->kind = PROTO_IMAGE;
        cmd->type = CHAT_IMAGE;
    } else if (strcmp(item->valuestring, "VIDEO") == 0) {
        cmd->kind = PROTO_IMAGE;
        cmd->type = CHAT_VIDEO;
    } else if (strcmp(item->valuestring, "READ") == 0) {
        cmd->kind = PROTO_READ;
    } else if (strcmp(item->valuestring, "TYPING") == 0) {
        cmd->kind = PROTO_TYPING;
    } else {
        rc = fail(err, ERR_INVALID, "bad_request", "unknown chatType");
        goto out;
    }

    if (cmd->room_id == 0) {
        rc = fail(err, ERR_INVALID, "bad_request", "chatRoomId must be a positive integer");
        goto out;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "userId");
    if (item && !cJSON_IsNull(item)) {
        if (get_id(item, 0, &cmd->user_id) != 0) {
            rc = fail(err, ERR_INVALID, "bad_request", "userId must be a positive integer");
            goto out;
        }
        cmd->has_user_id = 1;
    }

    if (cmd->kind == PROTO_ENTER) {
        item = cJSON_GetObjectItemCaseSensitive(root, "since");
        if (item && !cJSON_IsNull(item) && get_id(item, 1, &cmd->since) != 0) {
            rc = fail(err, ERR_INVALID, "bad_request", "since must be a non-negative integer");
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (cmd->kind == PROTO_LEAVE || cmd->kind == PROTO_TYPING) {
        rc = 0;
        goto out;
    }
    if (cmd->kind == PROTO_READ) {
        item = cJSON_GetObjectItemCaseSensitive(root, "seq");
        rc = get_id(item, 0, &cmd->seq) == 0
                 ? 0
                 : fail(err, ERR_INVALID, "bad_request", "seq must be a positive integer");
        goto out;
    }

    /* TEXT and IMAGE */
    item = cJSON_GetObjectItemCaseSensitive(root, "clientMsgId");
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
        rc = fail(err, ERR_INVALID, "bad_request", "clientMsgId is required");
        goto out;
    }
    if (cmd->client_msg_id[0] == '\0') {
        rc = strlen(item->valuestring) > PROTO_CLIENT_MSG_ID_MAX
                 ? fail(err, ERR_TOO_LARGE, "too_large", "clientMsgId is longer than 64 bytes")
                 : fail(err, ERR_INVALID, "bad_request", "clientMsgId has control characters");
        goto out;
    }
    if (cmd->kind == PROTO_TEXT) {
        item = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
            rc = fail(err, ERR_INVALID, "bad_request", "message must be a non-empty string");
            goto out;
        }
        size_t chars = 0;
        if (!valid_utf8(item->valuestring, strlen(item->valuestring), &chars)) {
            rc = fail(err, ERR_INVALID, "bad_request", "message must be UTF-8 text");
            goto out;
        }
        if (chars > max_text_chars) {
            rc = fail(err, ERR_TOO_LARGE, "too_large", "message has too many characters");
            goto out;
        }
        if (!(cmd->message = dup_string(item->valuestring))) {
            rc = fail(err, ERR_NOMEM, "internal", "out of memory");
            goto out;
        }
        rc = 0;
        goto out;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "media");
    if (item || cmd->type == CHAT_VIDEO) {
        rc = item ? parse_media(item, media_key, cmd, err)
                  : fail(err, ERR_INVALID, "bad_request", "a VIDEO needs media");
        goto out;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "imageUrl");
    if (!cJSON_IsString(item)) {
        rc = fail(err, ERR_INVALID, "bad_request", "imageUrl is required");
        goto out;
    }
    if (strlen(item->valuestring) > PROTO_IMAGE_URL_MAX) {
        rc = fail(err, ERR_TOO_LARGE, "too_large", "imageUrl is too long");
        goto out;
    }
    if (!valid_http_url(item->valuestring)) {
        rc = fail(err, ERR_INVALID, "bad_request", "imageUrl must be an absolute http(s) URL");
        goto out;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "imageName");
    if (name && !cJSON_IsNull(name)) {
        if (!cJSON_IsString(name)) {
            rc = fail(err, ERR_INVALID, "bad_request", "imageName must be a string");
            goto out;
        }
        if (strlen(name->valuestring) > PROTO_IMAGE_NAME_MAX) {
            rc = fail(err, ERR_TOO_LARGE, "too_large", "imageName is too long");
            goto out;
        }
        if (has_control(name->valuestring)) {
            rc = fail(err, ERR_INVALID, "bad_request", "imageName has control characters");
            goto out;
        }
    }
    if (!(cmd->image_url = dup_string(item->valuestring)) ||
        (name && cJSON_IsString(name) && !(cmd->image_name = dup_string(name->valuestring)))) {
        rc = fail(err, ERR_NOMEM, "internal", "out of memory");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

void proto_cmd_clear(struct proto_cmd *cmd)
{
    if (!cmd)
        return;
    free(cmd->message);
    free(cmd->image_url);
    free(cmd->image_name);
    free(cmd->media);
    cmd->media = NULL;
    cmd->message = cmd->image_url = cmd->image_name = NULL;
}

/* print_free: the compact text of o, consuming o; NULL on failure. */
static char *print_free(cJSON *o, int ok)
{
    char *s = ok && o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *proto_entered(int64_t room_id, int64_t last_seq)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "ENTERED") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id) &&
             cJSON_AddNumberToObject(o, "lastSeq", (double) last_seq);
    return print_free(o, ok);
}

char *proto_left(int64_t room_id)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "LEFT") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id);
    return print_free(o, ok);
}

char *proto_read(int64_t room_id, int64_t user_id, int64_t seq)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "READ") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id) &&
             cJSON_AddNumberToObject(o, "userId", (double) user_id) &&
             cJSON_AddNumberToObject(o, "seq", (double) seq);
    return print_free(o, ok);
}

char *proto_typing(int64_t room_id, int64_t user_id, int64_t ttl_ms)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "TYPING") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id) &&
             cJSON_AddNumberToObject(o, "userId", (double) user_id) &&
             cJSON_AddNumberToObject(o, "expiresInMs", (double) ttl_ms);
    return print_free(o, ok);
}

char *proto_room_notice(const struct chat_message *m)
{
    char ts[TIMEFMT_RFC3339_LEN], preview[ROOM_PREVIEW_BUF];
    room_state_preview(m, preview, sizeof preview);
    cJSON *o = cJSON_CreateObject(), *last = NULL;
    int ok = o && cJSON_AddStringToObject(o, "type", "ROOM") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) m->room_id) &&
             cJSON_AddNumberToObject(o, "lastSeq", (double) m->seq) &&
             (last = cJSON_AddObjectToObject(o, "lastMessage")) &&
             cJSON_AddStringToObject(last, "chatType", chat_type_name(m->type)) &&
             cJSON_AddStringToObject(last, "preview", preview) &&
             cJSON_AddNumberToObject(last, "senderId", (double) m->sender_id) &&
             cJSON_AddStringToObject(last, "createdAt", timefmt_rfc3339(ts, m->created_at_ms));
    return print_free(o, ok);
}

char *proto_room_empty(int64_t room_id)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "ROOM") &&
             cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id) &&
             cJSON_AddNumberToObject(o, "lastSeq", 0) && cJSON_AddNullToObject(o, "lastMessage");
    return print_free(o, ok);
}

char *proto_presence(int64_t user_id, int online, int64_t last_seen_ms)
{
    char ts[TIMEFMT_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "PRESENCE") &&
             cJSON_AddNumberToObject(o, "userId", (double) user_id) &&
             cJSON_AddBoolToObject(o, "online", online) &&
             (last_seen_ms > 0 ? cJSON_AddStringToObject(o, "lastSeenAt",
                                                         timefmt_rfc3339(ts, last_seen_ms)) != NULL
                               : cJSON_AddNullToObject(o, "lastSeenAt") != NULL);
    return print_free(o, ok);
}

/* ---------------------------------------------- frames written directly */

/* jout: a growing NUL-terminated text; after a failed allocation every
 * call is a no-op and jout_done returns NULL. */
struct jout {
    char *p;
    size_t len, cap;
    int failed;
};

static void jout_init(struct jout *j, size_t guess)
{
    j->len = 0;
    j->cap = guess;
    j->p = malloc(guess);
    j->failed = j->p == NULL;
}

static int jout_reserve(struct jout *j, size_t more)
{
    if (j->failed)
        return -1;
    if (j->cap - j->len > more)
        return 0;
    size_t cap = j->cap * 2;
    while (cap - j->len <= more)
        cap *= 2;
    char *p = realloc(j->p, cap);
    if (!p) {
        j->failed = 1;
        return -1;
    }
    j->p = p;
    j->cap = cap;
    return 0;
}

static void jout_raw(struct jout *j, const char *s, size_t n)
{
    if (jout_reserve(j, n) != 0)
        return;
    memcpy(j->p + j->len, s, n);
    j->len += n;
}

#define jout_lit(j, lit) jout_raw((j), (lit), sizeof(lit) - 1)

/* jout_str: s as a JSON string, escaped as cJSON escapes it. */
static void jout_str(struct jout *j, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    /* Worst case: every byte as \u00XX. */
    if (jout_reserve(j, 6 * n + 2) != 0)
        return;
    char *o = j->p + j->len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
        /* A run of bytes that need no escape is copied at once. */
        size_t run = 0;
        while (c[run] >= 0x20 && c[run] != '"' && c[run] != '\\')
            run++;
        memcpy(o, c, run);
        o += run;
        c += run;
        if (!*c)
            break;
        *o++ = '\\';
        switch (*c) {
        case '"':
        case '\\':
            *o++ = (char) *c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o++ = '"';
    j->len = (size_t) (o - j->p);
}

static void jout_int(struct jout *j, int64_t v)
{
    char buf[24], *e = buf + sizeof buf, *b = e;
    uint64_t u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
    do
        *--b = (char) ('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--b = '-';
    jout_raw(j, b, (size_t) (e - b));
}

static char *jout_done(struct jout *j)
{
    if (jout_reserve(j, 1) != 0) {
        free(j->p);
        return NULL;
    }
    j->p[j->len] = '\0';
    return j->p;
}

char *proto_ack(const char *client_msg_id, const char *id, int64_t seq, int64_t created_at_ms)
{
    char ts[TIMEFMT_RFC3339_LEN];
    struct jout j;
    jout_init(&j, 160);
    jout_lit(&j, "{\"type\":\"ACK\",\"clientMsgId\":");
    jout_str(&j, client_msg_id);
    jout_lit(&j, ",\"id\":");
    jout_str(&j, id);
    jout_lit(&j, ",\"seq\":");
    jout_int(&j, seq);
    jout_lit(&j, ",\"createdAt\":");
    jout_str(&j, timefmt_rfc3339(ts, created_at_ms));
    jout_lit(&j, "}");
    return jout_done(&j);
}

/* message_text: the MESSAGE frame of a TEXT, in chat_message_to_json's
 * field order. */
static char *message_text(const struct chat_message *m)
{
    char ts[TIMEFMT_RFC3339_LEN];
    const char *text = m->message ? m->message : "";
    struct jout j;
    jout_init(&j, 256 + strlen(text));
    jout_lit(&j, "{\"type\":\"MESSAGE\",\"chatMessage\":{\"id\":");
    jout_str(&j, m->id);
    jout_lit(&j, ",\"chatRoomId\":");
    jout_int(&j, m->room_id);
    jout_lit(&j, ",\"seq\":");
    jout_int(&j, m->seq);
    jout_lit(&j, ",\"senderId\":");
    jout_int(&j, m->sender_id);
    jout_lit(&j, ",\"chatType\":\"TEXT\",\"message\":");
    jout_str(&j, text);
    jout_lit(&j, ",\"clientMsgId\":");
    jout_str(&j, m->client_msg_id ? m->client_msg_id : "");
    jout_lit(&j, ",\"createdAt\":");
    jout_str(&j, timefmt_rfc3339(ts, m->created_at_ms));
    jout_lit(&j, "}}");
    return jout_done(&j);
}

char *proto_message(const struct chat_message *m)
{
    if (m->type == CHAT_TEXT && !m->media)
        return message_text(m);
    cJSON *o = cJSON_CreateObject();
    cJSON *cm = chat_message_to_json(m);
    int ok = o && cm && cJSON_AddStringToObject(o, "type", "MESSAGE");
    if (ok)
        cJSON_AddItemToObject(o, "chatMessage", cm);
    else
        cJSON_Delete(cm);
    return print_free(o, ok);
}

char *proto_error_frame(const char *code, const char *message, const char *client_msg_id,
                        int64_t room_id)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", "ERROR") &&
             cJSON_AddStringToObject(o, "code", code) &&
             cJSON_AddStringToObject(o, "message", message);
    if (ok && client_msg_id && *client_msg_id)
        ok = cJSON_AddStringToObject(o, "clientMsgId", client_msg_id) != NULL;
    if (ok && room_id > 0)
        ok = cJSON_AddNumberToObject(o, "chatRoomId", (double) room_id) != NULL;
    return print_free(o, ok);
}
