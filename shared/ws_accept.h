/*
 * ws_accept.h - Sec-WebSocket-Accept (RFC 6455 section 4.2.2): the relay
 * sends it, the test client and the bench client check it.
 */
#ifndef CHAT_WS_ACCEPT_H
#define CHAT_WS_ACCEPT_H

#define WS_KEY_LEN    24 /* base64 of the 16-byte Sec-WebSocket-Key */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* ws_accept_key: base64(SHA-1(key + the RFC's GUID)) for the NUL-ended
 * key (at most WS_KEY_LEN bytes of it are used), NUL-ended, into out.
 * Returns 0, or -1 when the digest cannot be computed (out is then ""). */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

#endif
