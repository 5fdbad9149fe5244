/*
 * listener.h - the relay's listening socket: bound at start, accepting
 * while a client descriptor is free (when none is, the oldest connection
 * still in the HTTP stage makes room, or accepting pauses briefly), and
 * closed at shutdown. What is accepted is the transport's (transport.h).
 * Loop thread only.
 */
#ifndef RELAY_LISTENER_H
#define RELAY_LISTENER_H

#include "config.h"

#include <stddef.h>

struct admission;
struct ev_loop;
struct transport;

struct listener;

/* listener_new: loop, t and adm are borrowed. fd_slots: descriptors for
 * clients of every stage. NULL when out of memory. */
struct listener *listener_new(struct ev_loop *loop, struct transport *t, struct admission *adm,
                              size_t fd_slots);

/* listener_free: close the socket if open. NULL is fine. */
void listener_free(struct listener *l);

/* listener_open: bind and listen on cfg->relay_host:relay_port
 * (SO_REUSEADDR; SO_REUSEPORT with redis_url) and start accepting.
 * Returns 0, or ERR_IO with the reason in errbuf. */
int listener_open(struct listener *l, const struct config *cfg, char *errbuf, size_t errlen);

/* listener_close: stop accepting and close the socket (at shutdown). */
void listener_close(struct listener *l);

#endif
