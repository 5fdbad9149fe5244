/*
 * http_reason.h - the reason phrase of every HTTP status the project
 * sends, for the API's Status lines and the relay's responses alike.
 */
#ifndef CHAT_HTTP_REASON_H
#define CHAT_HTTP_REASON_H

/* http_reason: "OK", "Bad Request", ... for status; "Unknown" for a status
 * the project does not send. Static strings. */
const char *http_reason(int status);

#endif
