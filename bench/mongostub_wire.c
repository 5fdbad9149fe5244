/*
 * mongostub_wire.c - MongoDB message framing for the bench's stand-in store
 * (see mongostub_wire.h).
 *
 * A message is a 16-byte header (length, requestID, responseTo, opCode,
 * all little-endian int32) and a body. OP_MSG bodies are flag bits and
 * sections: kind 0 is the command document, kind 1 a named sequence of
 * documents (insert's "documents" travel that way); both are folded into
 * one document so the command handlers see what a driver would have sent
 * as a plain command. OP_QUERY is what the driver uses for its first hello
 * on each connection.
 */
#include "mongostub_wire.h"

#include "errors.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_LEN       16
#define MSG_CHECKSUM     (1u << 0)
#define MSG_MORE_TO_COME (1u << 1)

static int32_t get_i32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return (int32_t) BSON_UINT32_FROM_LE(v);
}

static void put_i32(uint8_t *p, int32_t v)
{
    uint32_t le = BSON_UINT32_TO_LE((uint32_t) v);
    memcpy(p, &le, sizeof le);
}

long stubwire_frame_len(const uint8_t *buf, size_t len)
{
    if (len < 4)
        return 0;
    int32_t n = get_i32(buf);
    if (n < HEADER_LEN || n > STUBWIRE_MAX_MESSAGE)
        return -1;
    return len >= (size_t) n ? (long) n : 0;
}

/* doc_at: the BSON document at p with at most avail bytes left, viewed in
 * place; its length in *used. Returns 0 or ERR_INVALID. */
static int doc_at(const uint8_t *p, size_t avail, bson_t *doc, size_t *used)
{
    if (avail < 5)
        return ERR_INVALID;
    int32_t n = get_i32(p);
    if (n < 5 || (size_t) n > avail || !bson_init_static(doc, p, (size_t) n))
        return ERR_INVALID;
    *used = (size_t) n;
    return 0;
}

/* append_sequence: the documents of one kind-1 section (p, n bytes after
 * its size field) as an array named by the section's identifier. */
static int append_sequence(bson_t *cmd, const uint8_t *p, size_t n)
{
    const uint8_t *nul = memchr(p, '\0', n);
    bson_t arr;
    uint32_t i = 0;
    if (!nul)
        return ERR_INVALID;
    const char *ident = (const char *) p;
    size_t off = (size_t) (nul - p) + 1;
    if (!bson_append_array_begin(cmd, ident, -1, &arr))
        return ERR_NOMEM;
    while (off < n) {
        bson_t doc;
        size_t used;
        char key[16];
        const char *k;
        if (doc_at(p + off, n - off, &doc, &used) != 0)
            return ERR_INVALID;
        bson_uint32_to_string(i++, &k, key, sizeof key);
        if (!bson_append_document(&arr, k, -1, &doc))
            return ERR_NOMEM;
        off += used;
    }
    return bson_append_array_end(cmd, &arr) ? 0 : ERR_NOMEM;
}

static void copy_db(struct stubwire_request *req, const char *s, size_t n)
{
    if (n >= sizeof req->db)
        n = sizeof req->db - 1;
    memcpy(req->db, s, n);
    req->db[n] = '\0';
}

static int parse_msg(const uint8_t *msg, size_t len, struct stubwire_request *req)
{
    if (len < HEADER_LEN + 4)
        return ERR_INVALID;
    uint32_t flags = (uint32_t) get_i32(msg + HEADER_LEN);
    size_t end = len, off = HEADER_LEN + 4;
    int have_body = 0;
    if (flags & MSG_CHECKSUM) {
        if (end < off + 4)
            return ERR_INVALID;
        end -= 4;
    }
    req->more_to_come = (flags & MSG_MORE_TO_COME) != 0;
    while (off < end) {
        uint8_t kind = msg[off++];
        if (kind == 0) {
            bson_t body;
            size_t used;
            if (have_body || doc_at(msg + off, end - off, &body, &used) != 0)
                return ERR_INVALID;
            if (!bson_concat(&req->cmd, &body))
                return ERR_NOMEM;
            have_body = 1;
            off += used;
        } else if (kind == 1) {
            if (end - off < 4)
                return ERR_INVALID;
            int32_t n = get_i32(msg + off);
            if (n < 5 || (size_t) n > end - off)
                return ERR_INVALID;
            int rc = append_sequence(&req->cmd, msg + off + 4, (size_t) n - 4);
            if (rc)
                return rc;
            off += (size_t) n;
        } else {
            return ERR_INVALID;
        }
    }
    if (!have_body)
        return ERR_INVALID;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &req->cmd, "$db") && BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t n;
        const char *s = bson_iter_utf8(&it, &n);
        copy_db(req, s, n);
    }
    return 0;
}

static int parse_query(const uint8_t *msg, size_t len, struct stubwire_request *req)
{
    size_t off = HEADER_LEN + 4; /* flags */
    if (len <= off)
        return ERR_INVALID;
    const uint8_t *nul = memchr(msg + off, '\0', len - off);
    if (!nul)
        return ERR_INVALID;
    const char *ns = (const char *) msg + off;
    const char *dot = strchr(ns, '.');
    copy_db(req, ns, dot ? (size_t) (dot - ns) : strlen(ns));
    off = (size_t) (nul - msg) + 1 + 8; /* numberToSkip, numberToReturn */
    bson_t query;
    size_t used;
    if (off > len || doc_at(msg + off, len - off, &query, &used) != 0)
        return ERR_INVALID;
    /* A read preference wraps the command in $query. */
    bson_iter_t it;
    if (bson_iter_init_find(&it, &query, "$query") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t n;
        const uint8_t *data;
        bson_t inner;
        bson_iter_document(&it, &n, &data);
        if (!bson_init_static(&inner, data, n))
            return ERR_INVALID;
        return bson_concat(&req->cmd, &inner) ? 0 : ERR_NOMEM;
    }
    return bson_concat(&req->cmd, &query) ? 0 : ERR_NOMEM;
}

int stubwire_request_parse(const uint8_t *msg, size_t len, struct stubwire_request *req)
{
    memset(req, 0, sizeof *req);
    bson_init(&req->cmd);
    if (len < HEADER_LEN)
        return ERR_INVALID;
    req->request_id = get_i32(msg + 4);
    req->opcode = get_i32(msg + 12);
    if (req->opcode == STUBWIRE_OP_MSG)
        return parse_msg(msg, len, req);
    if (req->opcode == STUBWIRE_OP_QUERY)
        return parse_query(msg, len, req);
    return ERR_INVALID;
}

void stubwire_request_clear(struct stubwire_request *req)
{
    bson_destroy(&req->cmd);
}

int stubwire_reply_append(const struct stubwire_request *req, const bson_t *doc, uint8_t **buf,
                          size_t *len, size_t *cap)
{
    static uint32_t next_id;
    int legacy = req->opcode == STUBWIRE_OP_QUERY;
    size_t prefix = HEADER_LEN + (legacy ? 20 : 5);
    size_t total = prefix + doc->len;
    if (*cap - *len < total) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap - *len < total)
            ncap *= 2;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return ERR_NOMEM;
        *buf = nb;
        *cap = ncap;
    }
    uint8_t *p = *buf + *len;
    memset(p, 0, prefix);
    put_i32(p, (int32_t) total);
    put_i32(p + 4, (int32_t) (++next_id & 0x7fffffff));
    put_i32(p + 8, req->request_id);
    put_i32(p + 12, legacy ? STUBWIRE_OP_REPLY : STUBWIRE_OP_MSG);
    if (legacy)
        put_i32(p + HEADER_LEN + 16, 1); /* responseFlags, cursorID, startingFrom: 0 */
    /* OP_MSG: flagBits 0, then section kind 0 (the zero byte before the doc) */
    memcpy(p + prefix, bson_get_data(doc), doc->len);
    *len += total;
    return 0;
}
