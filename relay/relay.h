/*
 * relay.h - the WebSocket relay: one event-loop thread that owns every
 * socket, worker threads for MySQL and MongoDB (docs/relay.md).
 *
 *   struct relay *r = relay_new(&cfg, err, sizeof err);
 *   relay_listen(r);          bind relay_host:relay_port
 *   relay_run(r);             until relay_request_stop (SIGTERM)
 *   relay_free(r);
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include "config.h"

#include <stddef.h>

struct relay;

/* relay_new: everything but the listening socket: the loop, the wake-up
 * pipe, the message store and the worker threads. cfg is borrowed for the
 * relay's lifetime. NULL with a one-line reason in errbuf on failure. */
struct relay *relay_new(const struct config *cfg, char *errbuf, size_t errlen);

/* relay_listen: bind and listen on cfg->relay_host:relay_port
 * (SO_REUSEADDR). Returns 0, or ERR_IO with the reason in errbuf. */
int relay_listen(struct relay *r, char *errbuf, size_t errlen);

/* relay_run: serve until a stop request has been carried out: stop
 * accepting, finish pending writes, close clients with 1001. Returns 0,
 * or ERR_IO when the event loop itself failed. */
int relay_run(struct relay *r);

/* relay_request_stop: ask the loop to shut down. Async-signal-safe: meant
 * for the SIGTERM/SIGINT handler. */
void relay_request_stop(struct relay *r);

/* relay_max_connections: the effective limit: the configured one, lowered
 * when the descriptor limit at relay_new could not hold it and the
 * relay's own descriptors. */
size_t relay_max_connections(const struct relay *r);

/* relay_fds_needed: descriptors a relay with cfg needs: max_connections
 * plus its own (databases, pipes, listener, headroom). The process'
 * RLIMIT_NOFILE must allow this many before relay_new. */
size_t relay_fds_needed(const struct config *cfg);

/* relay_free: stop the workers and free everything; NULL is a no-op. */
void relay_free(struct relay *r);

#endif
