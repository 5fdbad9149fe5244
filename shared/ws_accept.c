/*
 * ws_accept.c - the handshake's proof of a WebSocket server (see
 * ws_accept.h).
 */
#include "ws_accept.h"

#include <openssl/evp.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    unsigned char in[WS_KEY_LEN + sizeof WS_GUID], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t klen = strnlen(key, WS_KEY_LEN);
    memcpy(in, key, klen);
    memcpy(in + klen, WS_GUID, sizeof WS_GUID - 1);
    out[0] = '\0';
    if (EVP_Digest(in, klen + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *) out, md, 20);
    out[WS_ACCEPT_LEN] = '\0';
    return 0;
}
