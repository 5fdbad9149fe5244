/*
 * api_fcgi.h - the process around an API program: configuration, logging,
 * the per-process database handles, and the request loop.
 *
 * Started by a web server or spawn-fcgi with a listening socket on fd 0
 * (FastCGI), the program serves requests until it is stopped. Started with
 * anything else on fd 0 (a CGI invocation: the request in the environment,
 * the body on stdin), it serves that one request on stdout and exits.
 * libfcgi's FCGX_Accept_r itself does not fall back to CGI; FCGX_IsCGI()
 * tells the two apart and this module provides the CGI path.
 */
#ifndef CHAT_API_FCGI_H
#define CHAT_API_FCGI_H

#include "api.h"

/* api_fcgi_main: run app as a FastCGI or CGI program; the whole main().
 * Exits with status 2 on a configuration error (one line on stderr naming
 * the key); returns 0 when the FastCGI socket is closed, or after the CGI
 * request. */
int api_fcgi_main(const struct api_app *app);

#endif
