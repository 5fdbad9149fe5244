/*
 * token_api.h - POST /api/v1/socket-token: a single-use token that opens
 * one WebSocket to the relay (browsers cannot send the JWT on the
 * handshake). Served by chat-token.
 */
#ifndef CHAT_TOKEN_API_H
#define CHAT_TOKEN_API_H

#include "api.h"

extern const struct api_app token_api_app;

/* token_api_url: public_ws_url with the token as its query ("?token=" or,
 * when the URL has a query already, "&token="), into out (cap bytes).
 * Returns 0 or ERR_TOO_LARGE. */
int token_api_url(const char *base, const char *token, char *out, size_t cap);

#endif
