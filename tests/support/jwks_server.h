/*
 * jwks_server.h - a stand-in identity provider's key endpoint for the
 * integration tests: a small HTTP server on 127.0.0.1 in a process of its
 * own, so the forked Check tests can all drive the one the suite started.
 *
 * It is steered through files in its directory, which any test process
 * may write: `jwks.json` is the document served (read on every request)
 * with `Cache-Control: max-age=<the number in max-age>`, and while a file
 * `down` exists the server does not listen at all (connections are
 * refused). Every request it answers appends a line to `hits`.
 */
#ifndef CHAT_JWKS_SERVER_H
#define CHAT_JWKS_SERVER_H

#include <sys/types.h>

/* jwks_server_spawn: fork the server on 127.0.0.1:port serving from dir;
 * returns its pid once it listens, or -1. Stop it with jwks_server_stop. */
pid_t jwks_server_spawn(int port, const char *dir);
void jwks_server_stop(pid_t pid);

/* Steering, from any process: publish a document with its max-age, take
 * the server down or up (it follows within a tenth of a second; up waits
 * until it listens again), and count the requests answered so far. */
int jwks_server_publish(const char *dir, const char *doc, int max_age);
void jwks_server_set_down(const char *dir, int port, int down);
int jwks_server_hits(const char *dir);

#endif
