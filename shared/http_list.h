/*
 * http_list.h - comma-separated header values (RFC 9110 section 5.6.1),
 * as in "Connection: keep-alive, Upgrade": the relay reads them in a
 * handshake request, the bench client in the answer. Pure function.
 */
#ifndef CHAT_HTTP_LIST_H
#define CHAT_HTTP_LIST_H

#include <stddef.h>

/* http_list_has: 1 when the header value v[0..len) lists tok (ASCII case
 * ignored, blanks around elements and empty elements skipped), else 0. */
int http_list_has(const char *v, size_t len, const char *tok);

#endif
