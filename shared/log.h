/*
 * log.h - one line per event, key=value, to stderr.
 *
 *   log_info("room_created", "room=%lld user=%lld", room, user);
 *   -> ts=2026-11-29T10:00:00.123Z level=info prog=chat-rooms event=room_created room=7 user=1
 *
 * Only handlers and main() log; library code returns error codes. Values
 * that may contain spaces or quotes go through log_quote(). Never pass a
 * token, JWT or password. Thread-safe: each line is one write(2).
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_init: program name for every line and the lowest level written
 * ("debug", "info", "warn", "error"; anything else means info). */
void log_init(const char *program, const char *level);

void log_write(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_write(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_write(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_write(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_write(LOG_ERROR, ev, __VA_ARGS__)

/* log_quote: copy `s` into buf as a double-quoted value with quotes,
 * backslashes and control bytes escaped, cut to fit; returns buf. */
const char *log_quote(char *buf, size_t cap, const char *s);

#endif
