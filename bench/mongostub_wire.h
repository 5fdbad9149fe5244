/*
 * mongostub_wire.h - the MongoDB wire framing of chat-bench-mongostub: cut
 * a byte stream into messages, turn an OP_MSG or a legacy OP_QUERY into one
 * command document, and frame the answer in the opcode the client used.
 *
 * The stand-in exists so the bench can tell the relay's share of the
 * latency from the store's; only what mongo-c-driver 1.23 sends is read
 * (no compression, no checksums checked, no exhaust cursors).
 */
#ifndef BENCH_MONGOSTUB_WIRE_H
#define BENCH_MONGOSTUB_WIRE_H

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>

#define STUBWIRE_OP_REPLY 1
#define STUBWIRE_OP_QUERY 2004
#define STUBWIRE_OP_MSG   2013

/* Largest message accepted: the maxMessageSizeBytes the stand-in announces. */
#define STUBWIRE_MAX_MESSAGE 48000000

struct stubwire_request {
    int32_t opcode;     /* STUBWIRE_OP_QUERY or STUBWIRE_OP_MSG */
    int32_t request_id; /* the answer's responseTo */
    int more_to_come;   /* OP_MSG moreToCome: the client wants no answer */
    bson_t cmd;         /* the command, document sequences added as arrays */
    char db[128];       /* "$db" (OP_MSG) or the part before ".$cmd" (OP_QUERY) */
};

/* stubwire_frame_len: the length of the message that starts buf (len bytes
 * buffered): 0 while its header or body is incomplete, -1 when the header
 * is not a message length the stand-in accepts. */
long stubwire_frame_len(const uint8_t *buf, size_t len);

/* stubwire_request_parse: the command in the complete message msg (len
 * bytes, as stubwire_frame_len measured it) into req; req->cmd is always
 * initialized (free it with stubwire_request_clear). Returns 0, or
 * ERR_INVALID for an opcode other than OP_MSG/OP_QUERY or a malformed body,
 * ERR_NOMEM. */
int stubwire_request_parse(const uint8_t *msg, size_t len, struct stubwire_request *req);

/* stubwire_request_clear: the memory of a parsed request, released. */
void stubwire_request_clear(struct stubwire_request *req);

/* stubwire_reply_append: the framed answer (OP_MSG for an OP_MSG request,
 * OP_REPLY for OP_QUERY) to req carrying doc, appended to the buffer *buf
 * of *len bytes and *cap capacity (grown with realloc). Returns 0 or
 * ERR_NOMEM (the buffer unchanged). */
int stubwire_reply_append(const struct stubwire_request *req, const bson_t *doc, uint8_t **buf,
                          size_t *len, size_t *cap);

#endif
