/*
 * check_proto.c - client frame -> command, each refusal with its code, and
 * the server frames' JSON.
 */
#include "errors.h"
#include "media_id.h"
#include "proto.h"
#include "timefmt.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHARS 10

static const unsigned char key[MEDIA_KEY_LEN] = {7, 7, 7};

static int parse(const char *s, struct proto_cmd *cmd, struct proto_error *err)
{
    return proto_parse(s, strlen(s), MAX_CHARS, key, cmd, err);
}

/* expect_refused: s is refused with rc and code; the command is cleared. */
static void expect_refused(const char *s, int rc, const char *code)
{
    struct proto_cmd cmd;
    struct proto_error err = {0};
    int got = parse(s, &cmd, &err);
    ck_assert_msg(got == rc, "expected %d for %s, got %d", rc, s, got);
    ck_assert_msg(err.code && strcmp(err.code, code) == 0, "expected %s for %s, got %s", code, s,
                  err.code ? err.code : "(none)");
    ck_assert_ptr_nonnull(err.message);
    proto_cmd_clear(&cmd);
}

START_TEST(test_proto_enter_and_leave)
{
    struct proto_cmd cmd;
    struct proto_error err;
    ck_assert_int_eq(parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7}", &cmd, &err), 0);
    ck_assert_int_eq(cmd.kind, PROTO_ENTER);
    ck_assert_int_eq(cmd.room_id, 7);
    ck_assert_int_eq(cmd.since, -1);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":0}", &cmd, &err), 0);
    ck_assert_int_eq(cmd.since, 0);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":12}", &cmd, &err),
                     0);
    ck_assert_int_eq(cmd.since, 12);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":null}", &cmd, &err),
                     0);
    ck_assert_int_eq(cmd.since, -1);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"LEAVE\",\"chatRoomId\":9007199254740991}", &cmd, &err),
                     0);
    ck_assert_int_eq(cmd.kind, PROTO_LEAVE);
    ck_assert_int_eq(cmd.room_id, 9007199254740991LL);
    proto_cmd_clear(&cmd);
}
END_TEST

/* Ids end at 2^53 - 1 (shared/ids.h): 2^53 and 2^53 + 1, which a double
 * cannot tell apart, are refused rather than rounded. */
START_TEST(test_proto_ids_end_at_2_53_minus_1)
{
    expect_refused("{\"chatType\":\"LEAVE\",\"chatRoomId\":9007199254740992}", ERR_INVALID,
                   "bad_request");
    expect_refused("{\"chatType\":\"LEAVE\",\"chatRoomId\":9007199254740993}", ERR_INVALID,
                   "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":9007199254740993}",
                   ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"LEAVE\",\"chatRoomId\":7,\"userId\":9007199254740993}",
                   ERR_INVALID, "bad_request");
}
END_TEST

/* Text that is not UTF-8 is refused, whether raw in the frame or made by
 * an escape (a lone surrogate). */
START_TEST(test_proto_refuses_invalid_utf8)
{
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"a\xff\"}",
        ERR_INVALID, "bad_request");
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"\xc0\xaf\"}",
        ERR_INVALID, "bad_request");
    /* Past a long ASCII start, in a field other than the message, and a
     * sequence cut short by the end of a string. */
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"abcdefghijklmnop\xe2\x82\","
        "\"message\":\"ok\"}",
        ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\","
                   "\"message\":\"abcdefghijklmnopqrstuvwx\xed\xa0\x80\"}",
                   ERR_INVALID, "bad_request");
}
END_TEST

START_TEST(test_proto_text_and_image)
{
    struct proto_cmd cmd;
    struct proto_error err;
    ck_assert_int_eq(
        parse("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"h\\u00e9 \\ud83d\\ude00\","
              "\"clientMsgId\":\"c-1\",\"userId\":3}",
              &cmd, &err),
        0);
    ck_assert_int_eq(cmd.kind, PROTO_TEXT);
    ck_assert_str_eq(cmd.message, "h\xc3\xa9 \xf0\x9f\x98\x80");
    ck_assert_str_eq(cmd.client_msg_id, "c-1");
    ck_assert_int_eq(cmd.has_user_id, 1);
    ck_assert_int_eq(cmd.user_id, 3);
    proto_cmd_clear(&cmd);

    ck_assert_int_eq(
        parse(
            "{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"imageUrl\":\"HTTPS://x.example/a.png?s=1\","
            "\"imageName\":\"a.png\",\"clientMsgId\":\"c-2\"}",
            &cmd, &err),
        0);
    ck_assert_int_eq(cmd.kind, PROTO_IMAGE);
    ck_assert_str_eq(cmd.image_url, "HTTPS://x.example/a.png?s=1");
    ck_assert_str_eq(cmd.image_name, "a.png");
    ck_assert_ptr_null(cmd.message);
    ck_assert_int_eq(cmd.has_user_id, 0);
    proto_cmd_clear(&cmd);

    ck_assert_int_eq(parse("{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"imageUrl\":\"http://x/a\","
                           "\"imageName\":null,\"clientMsgId\":\"c-3\"}",
                           &cmd, &err),
                     0);
    ck_assert_ptr_null(cmd.image_name);
    proto_cmd_clear(&cmd);
}
END_TEST

START_TEST(test_proto_text_limit_counts_code_points)
{
    struct proto_cmd cmd;
    struct proto_error err;
    /* 10 two-byte characters: 20 bytes, within 10 characters. */
    ck_assert_int_eq(
        parse(
            "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\","
            "\"message\":"
            "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
            &cmd, &err),
        0);
    proto_cmd_clear(&cmd);
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":"
                   "\"12345678901\"}",
                   ERR_TOO_LARGE, "too_large");
    /* ASCII first, then two-byte characters: 8 + 2 within 10, 9 + 2 not. */
    ck_assert_int_eq(parse("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\","
                           "\"message\":\"abcdefgh\xc3\xa9\xc3\xa9\"}",
                           &cmd, &err),
                     0);
    proto_cmd_clear(&cmd);
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":"
                   "\"abcdefghi\xc3\xa9\xc3\xa9\"}",
                   ERR_TOO_LARGE, "too_large");
}
END_TEST

START_TEST(test_proto_each_refusal)
{
    expect_refused("", ERR_INVALID, "bad_request");
    expect_refused("nope", ERR_INVALID, "bad_request");
    expect_refused("[]", ERR_INVALID, "bad_request");
    expect_refused("\"TEXT\"", ERR_INVALID, "bad_request");
    expect_refused("{\"chatRoomId\":7}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":5,\"chatRoomId\":7}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"enter\",\"chatRoomId\":7}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\"}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":0}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":-1}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":1.5}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":\"7\"}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":1e300}", ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":-1}", ERR_INVALID,
                   "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"since\":\"3\"}", ERR_INVALID,
                   "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7,\"userId\":\"3\"}", ERR_INVALID,
                   "bad_request");
    /* TEXT */
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"hi\"}", ERR_INVALID,
                   "bad_request");
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"hi\",\"clientMsgId\":\"\"}",
        ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"hi\",\"clientMsgId\":7}",
                   ERR_INVALID, "bad_request");
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"hi\",\"clientMsgId\":\"a\\nb\"}",
        ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"message\":\"hi\",\"clientMsgId\":"
                   "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
                   ERR_TOO_LARGE, "too_large");
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\"}", ERR_INVALID,
                   "bad_request");
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"\"}",
        ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":5}",
                   ERR_INVALID, "bad_request");
    expect_refused(
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"a\\u0000b\"}",
        ERR_INVALID, "bad_request");
    /* IMAGE */
    expect_refused("{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"clientMsgId\":\"c\"}", ERR_INVALID,
                   "bad_request");
    const char *urls[] = {
        "javascript:alert(1)", "//x.example/a", "/a.png",       "ftp://x/a", "https://",
        "http:///a",           "https://a b",   "https://x\\y", "data:x",    "https://@x/"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char frame[512];
        snprintf(
            frame, sizeof frame,
            "{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"imageUrl\":\"%s\"}",
            urls[i]);
        expect_refused(frame, ERR_INVALID, "bad_request");
    }
    expect_refused("{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"imageUrl\":"
                   "\"https://x/\","
                   "\"imageName\":7}",
                   ERR_INVALID, "bad_request");
    char *big = malloc(PROTO_IMAGE_URL_MAX + 200);
    int o = snprintf(
        big, 200,
        "{\"chatType\":\"IMAGE\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"imageUrl\":\"https://x/");
    memset(big + o, 'a', PROTO_IMAGE_URL_MAX);
    memcpy(big + o + PROTO_IMAGE_URL_MAX, "\"}", 3);
    expect_refused(big, ERR_TOO_LARGE, "too_large");
    free(big);
}
END_TEST

/* An ERROR names the frame's clientMsgId and chatRoomId when they were readable. */
START_TEST(test_proto_error_keeps_ids)
{
    struct proto_cmd cmd;
    struct proto_error err;
    ck_assert_int_eq(
        parse("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c-9\",\"message\":\"\"}",
              &cmd, &err),
        ERR_INVALID);
    ck_assert_str_eq(cmd.client_msg_id, "c-9");
    ck_assert_int_eq(cmd.room_id, 7);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(
        parse("{\"chatType\":\"SHOUT\",\"chatRoomId\":3,\"clientMsgId\":\"x\"}", &cmd, &err),
        ERR_INVALID);
    ck_assert_str_eq(cmd.client_msg_id, "x");
    ck_assert_int_eq(cmd.room_id, 3);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"TEXT\",\"chatRoomId\":5,\"clientMsgId\":\"c-nul\","
                           "\"message\":\"bad\\u0000nul\"}",
                           &cmd, &err),
                     ERR_INVALID);
    ck_assert_str_eq(err.code, "bad_request");
    ck_assert_str_eq(cmd.client_msg_id, "c-nul");
    ck_assert_int_eq(cmd.room_id, 5);
    proto_cmd_clear(&cmd);
}
END_TEST

/* Only whitespace may follow the frame's JSON object; anything else is refused,
 * still naming the ids of the object it follows. */
START_TEST(test_proto_trailing_bytes)
{
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7}x", ERR_INVALID, "bad_request");
    expect_refused(
        "{\"chatType\":\"ENTER\",\"chatRoomId\":7}{\"chatType\":\"LEAVE\",\"chatRoomId\":7}",
        ERR_INVALID, "bad_request");
    expect_refused("{\"chatType\":\"ENTER\",\"chatRoomId\":7} ]", ERR_INVALID, "bad_request");
    struct proto_cmd cmd;
    struct proto_error err;
    ck_assert_int_eq(parse("{\"chatType\":\"TEXT\",\"chatRoomId\":4,\"clientMsgId\":\"t-1\","
                           "\"message\":\"hi\"}1",
                           &cmd, &err),
                     ERR_INVALID);
    ck_assert_str_eq(cmd.client_msg_id, "t-1");
    ck_assert_int_eq(cmd.room_id, 4);
    proto_cmd_clear(&cmd);
    /* a NUL byte after the object is trailing data too */
    ck_assert_int_eq(
        proto_parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7}\0x", 37, MAX_CHARS, key, &cmd, &err),
        ERR_INVALID);
    proto_cmd_clear(&cmd);
    ck_assert_int_eq(parse("{\"chatType\":\"ENTER\",\"chatRoomId\":7} \r\n\t", &cmd, &err), 0);
    ck_assert_int_eq(cmd.kind, PROTO_ENTER);
    proto_cmd_clear(&cmd);
}
END_TEST

/* "\\u0000" is an escaped backslash followed by text, not a NUL. */
START_TEST(test_proto_escaped_backslash_is_not_nul)
{
    struct proto_cmd cmd;
    struct proto_error err;
    ck_assert_int_eq(parse("{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\","
                           "\"message\":\"a\\\\u0000\"}",
                           &cmd, &err),
                     0);
    ck_assert_str_eq(cmd.message, "a\\u0000");
    proto_cmd_clear(&cmd);
}
END_TEST

static cJSON *parse_frame(char *s)
{
    ck_assert_ptr_nonnull(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(test_proto_server_frames)
{
    cJSON *j = parse_frame(proto_entered(7, 12));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "type")->valuestring, "ENTERED");
    ck_assert_int_eq((int) cJSON_GetObjectItem(j, "chatRoomId")->valuedouble, 7);
    ck_assert_int_eq((int) cJSON_GetObjectItem(j, "lastSeq")->valuedouble, 12);
    cJSON_Delete(j);

    j = parse_frame(proto_ack("c-1", "0123456789abcdef01234567", 12, 1800000000123LL));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "type")->valuestring, "ACK");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, "0123456789abcdef01234567");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "createdAt")->valuestring, "2027-01-15T08:00:00.123Z");
    cJSON_Delete(j);

    j = parse_frame(proto_error_frame("not_member", "no", "c-1", 7));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "code")->valuestring, "not_member");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "clientMsgId")->valuestring, "c-1");
    cJSON_Delete(j);
    j = parse_frame(proto_error_frame("bad_request", "no", "", 0));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "clientMsgId"));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "chatRoomId"));
    cJSON_Delete(j);

    struct chat_message m = {.room_id = 7,
                             .seq = 3,
                             .sender_id = 2,
                             .type = CHAT_IMAGE,
                             .image_url = "https://x/a.png",
                             .client_msg_id = "c-5"};
    strcpy(m.id, "0123456789abcdef01234567");
    j = parse_frame(proto_message(&m));
    cJSON *cm = cJSON_GetObjectItem(j, "chatMessage");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "type")->valuestring, "MESSAGE");
    ck_assert_str_eq(cJSON_GetObjectItem(cm, "chatType")->valuestring, "IMAGE");
    ck_assert_str_eq(cJSON_GetObjectItem(cm, "imageUrl")->valuestring, "https://x/a.png");
    ck_assert_int_eq((int) cJSON_GetObjectItem(cm, "senderId")->valuedouble, 2);
    cJSON_Delete(j);
}
END_TEST

/* same_parse: proto_parse (with its plain-TEXT path) and proto_parse_tree
 * answer text alike: result, command and error. */
static void same_parse(const char *text, size_t len)
{
    struct proto_cmd a, b;
    struct proto_error ea = {0}, eb = {0};
    int ra = proto_parse(text, len, MAX_CHARS, key, &a, &ea);
    int rb = proto_parse_tree(text, len, MAX_CHARS, key, &b, &eb);
    ck_assert_msg(ra == rb, "%.*s: %d != %d", (int) len, text, ra, rb);
    ck_assert_int_eq(a.kind, b.kind);
    ck_assert_int_eq(a.room_id, b.room_id);
    ck_assert_int_eq(a.since, b.since);
    ck_assert_int_eq(a.seq, b.seq);
    ck_assert_int_eq(a.has_user_id, b.has_user_id);
    ck_assert_int_eq(a.user_id, b.user_id);
    ck_assert_int_eq(a.type, b.type);
    ck_assert_str_eq(a.client_msg_id, b.client_msg_id);
    ck_assert_msg((a.message == NULL) == (b.message == NULL), "%.*s", (int) len, text);
    if (a.message)
        ck_assert_str_eq(a.message, b.message);
    if (ra != 0) {
        ck_assert_str_eq(ea.code, eb.code);
        ck_assert_str_eq(ea.message, eb.message);
    }
    proto_cmd_clear(&a);
    proto_cmd_clear(&b);
}

/* A plain TEXT is read without a cJSON tree: every frame below, and every
 * cut and one-byte change of the plain ones, gets the same answer both
 * ways. */
START_TEST(test_proto_plain_text_path_matches_tree)
{
    static const char *frames[] = {
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c-1\",\"message\":\"hi\"}",
        " {\"message\":\"h\xc3\xa9llo\",\"userId\":3,\"chatRoomId\":12,\"clientMsgId\":\"x\","
        "\"chatType\":\"TEXT\",\"extra\":\"e\",\"n\":5,\"z\":null}\r\n",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"1234567890\","
        "\"userId\":null}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":"
        "\"12345678901\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"a\x7f\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":"
        "\"0123456789012345678901234567890123456789012345678901234567890123\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":"
        "\"01234567890123456789012345678901234567890123456789012345678901234\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":0,\"clientMsgId\":\"c\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":07,\"clientMsgId\":\"c\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7.0,\"clientMsgId\":\"c\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":9007199254740991,\"clientMsgId\":\"c\","
        "\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":9007199254740992,\"clientMsgId\":\"c\","
        "\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":\"7\",\"clientMsgId\":\"c\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"chatRoomId\":8,\"clientMsgId\":\"c\","
        "\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"a\\nb\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"a\\u0000\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\",\"o\":{}}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\"} x",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\","
        "\"userId\":"
        "\"3\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\","
        "\"userId\":0}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"\xff\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"a\tb\"}",
        "{\"chatType\":\"ENTER\",\"chatRoomId\":7}",
        "{\"chatType\":\"text\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\"}",
        "{\"chatType\":\"TEXT\",\"chatRoomId\":7,\"clientMsgId\":\"c\",\"message\":\"m\",\"t\":"
        "true}",
        "{}",
        "",
    };
    static const char subst[] = {'"', '\\', '{',    '}',    ',',  ':',    ' ',    '0',
                                 '9', 'n',  '\x7f', '\x01', '\0', '\xc3', '\xff', '-'};
    char buf[512];
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        size_t len = strlen(frames[i]);
        same_parse(frames[i], len);
        for (size_t cut = 0; cut < len; cut++)
            same_parse(frames[i], cut);
        ck_assert_uint_lt(len, sizeof buf);
        for (size_t at = 0; at < len; at++)
            for (size_t k = 0; k < sizeof subst; k++) {
                memcpy(buf, frames[i], len);
                buf[at] = subst[k];
                same_parse(buf, len);
            }
    }
}
END_TEST

/* tree_text: what cJSON prints for the ACK or TEXT MESSAGE of m, the way
 * they were built before they were written directly. */
static char *tree_text(const struct chat_message *m, int ack)
{
    char ts[TIMEFMT_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    if (ack) {
        cJSON_AddStringToObject(o, "type", "ACK");
        cJSON_AddStringToObject(o, "clientMsgId", m->client_msg_id);
        cJSON_AddStringToObject(o, "id", m->id);
        cJSON_AddNumberToObject(o, "seq", (double) m->seq);
        cJSON_AddStringToObject(o, "createdAt", timefmt_rfc3339(ts, m->created_at_ms));
    } else {
        cJSON_AddStringToObject(o, "type", "MESSAGE");
        cJSON_AddItemToObject(o, "chatMessage", chat_message_to_json(m));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ACK and a TEXT's MESSAGE are written without cJSON: the same text as
 * cJSON's, escapes of quotes, backslashes and control bytes included, and
 * UTF-8 passed through. */
START_TEST(test_proto_direct_frames_match_cjson)
{
    static const char *texts[] = {"hello",
                                  "",
                                  "quote \" back \\ slash",
                                  "tab\tnl\ncr\rbs\bff\f",
                                  "\x01\x1f\x7f ctl",
                                  "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                  "</script>/"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct chat_message m = {.id = "0123456789abcdef01234567",
                                 .room_id = 9007199254740991LL - (int64_t) i,
                                 .seq = 2147483648LL + (int64_t) i,
                                 .sender_id = 3,
                                 .type = CHAT_TEXT,
                                 .message = (char *) texts[i],
                                 .client_msg_id = (char *) texts[(i + 2) % 7],
                                 .created_at_ms = 1800000000123LL};
        for (int ack = 0; ack < 2; ack++) {
            char *want = tree_text(&m, ack);
            char *got =
                ack ? proto_ack(m.client_msg_id, m.id, m.seq, m.created_at_ms) : proto_message(&m);
            /* Big ids: cJSON may print 1e+15 style, so compare parsed. */
            cJSON *a = cJSON_Parse(want), *b = cJSON_Parse(got);
            ck_assert_msg(cJSON_Compare(a, b, 1), "%s\n!=\n%s", got, want);
            cJSON_Delete(a);
            cJSON_Delete(b);
            free(want);
            free(got);
        }
        /* Ids cJSON prints as plain integers: byte for byte the same. */
        m.room_id = 42;
        m.seq = 7;
        for (int ack = 0; ack < 2; ack++) {
            char *want = tree_text(&m, ack);
            char *got =
                ack ? proto_ack(m.client_msg_id, m.id, m.seq, m.created_at_ms) : proto_message(&m);
            ck_assert_str_eq(got, want);
            free(want);
            free(got);
        }
    }
}
END_TEST

/* A media message passes only with an id made for its room and facts. */
START_TEST(test_proto_media_bound_to_room_and_facts)
{
    struct proto_cmd cmd;
    struct proto_error err;
    unsigned char oid[MEDIA_OID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    struct media_facts f = {"image/png", 1234, 640, 480};
    char id[MEDIA_ID_LEN + 1], frame[512];
    media_id_make(key, oid, 7, &f, id);
#define fmt                                                                                        \
    "{\"chatType\":\"%s\",\"chatRoomId\":%d,\"clientMsgId\":\"m\",\"media\":{\"id\":\"%s\","       \
    "\"name\":\"a.png\",\"type\":\"%s\",\"size\":%d,\"width\":640,\"height\":480}}"
    snprintf(frame, sizeof frame, fmt, "IMAGE", 7, id, "image/png", 1234);
    ck_assert_int_eq(parse(frame, &cmd, &err), 0);
    ck_assert_int_eq(cmd.type, CHAT_IMAGE);
    ck_assert_ptr_nonnull(cmd.media);
    ck_assert_str_eq(cmd.media->id, id);
    ck_assert_str_eq(cmd.media->name, "a.png");
    ck_assert_int_eq(cmd.media->facts.width, 640);
    proto_cmd_clear(&cmd);

    /* another room, another size, a picture posing as a video, a type
     * that does not fit the chatType */
    static const struct {
        const char *chat_type, *mime, *message;
        int room, size;
    } bad[] = {
        {"IMAGE", "image/png", "no such media in this room", 8, 1234},
        {"IMAGE", "image/png", "no such media in this room", 7, 1235},
        {"VIDEO", "video/mp4", "no such media in this room", 7, 1234},
        {"VIDEO", "image/png", "the media type does not fit the chatType", 7, 1234},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(frame, sizeof frame, fmt, bad[i].chat_type, bad[i].room, id, bad[i].mime,
                 bad[i].size);
        ck_assert_int_eq(parse(frame, &cmd, &err), ERR_INVALID);
        ck_assert_str_eq(err.message, bad[i].message);
        proto_cmd_clear(&cmd);
    }
    /* no key: media refused */
    snprintf(frame, sizeof frame, fmt, "IMAGE", 7, id, "image/png", 1234);
    ck_assert_int_eq(proto_parse(frame, strlen(frame), MAX_CHARS, NULL, &cmd, &err), ERR_INVALID);
    proto_cmd_clear(&cmd);
    /* a VIDEO without media */
    ck_assert_int_eq(parse("{\"chatType\":\"VIDEO\",\"chatRoomId\":7,\"clientMsgId\":\"v\","
                           "\"imageUrl\":\"http://x/a\"}",
                           &cmd, &err),
                     ERR_INVALID);
    proto_cmd_clear(&cmd);
#undef fmt
}
END_TEST

Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, test_proto_enter_and_leave);
    tcase_add_test(tc, test_proto_ids_end_at_2_53_minus_1);
    tcase_add_test(tc, test_proto_refuses_invalid_utf8);
    tcase_add_test(tc, test_proto_text_and_image);
    tcase_add_test(tc, test_proto_media_bound_to_room_and_facts);
    tcase_add_test(tc, test_proto_text_limit_counts_code_points);
    tcase_add_test(tc, test_proto_each_refusal);
    tcase_add_test(tc, test_proto_error_keeps_ids);
    tcase_add_test(tc, test_proto_trailing_bytes);
    tcase_add_test(tc, test_proto_escaped_backslash_is_not_nul);
    tcase_add_test(tc, test_proto_server_frames);
    tcase_add_test(tc, test_proto_direct_frames_match_cjson);
    tcase_add_test(tc, test_proto_plain_text_path_matches_tree);
    suite_add_tcase(s, tc);
    return s;
}
