/*
 * web_limits.h - what every web server in front of the API must enforce
 * itself, checked the same way for the dev stack's lighttpd
 * (tests/integration/check_stack.c) and each shipped config
 * (tests/support/deploy_checks.c): a request body cap a little above the
 * API's own limit, and the browser hardening headers.
 */
#ifndef CHAT_WEB_LIMITS_H
#define CHAT_WEB_LIMITS_H

/* The body cap of every shipped config (lighttpd server.max-request-size
 * 32, Apache LimitRequestBody 32768, nginx client_max_body_size 32k). */
#define WEB_BODY_CAP 32768

/* The cap on POST /api/v1/rooms/<id>/media, the one route allowed more:
 * media_max_video_bytes (lighttpd 51200 KiB, Apache LimitRequestBody
 * 52428800, nginx client_max_body_size 50m). */
#define WEB_MEDIA_CAP 52428800

/* The Content-Security-Policy every config sends, word for word. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data: "  \
    "blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; "             \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/*
 * web_check_security_headers: the page (GET /), an API answer (GET
 * /api/v1/me without credentials: 401) and an API 404 from the server on
 * 127.0.0.1:port each carry Content-Security-Policy (WEB_CSP),
 * X-Content-Type-Options: nosniff, X-Frame-Options: DENY and
 * Referrer-Policy: no-referrer, each exactly once. `who` names the server
 * in failure messages. Fails the running Check test otherwise.
 */
void web_check_security_headers(int port, const char *who);

/*
 * web_check_body_cap: on 127.0.0.1:port, a dev login padded to exactly the
 * API's limit (api_limit) still signs in (200); a body over
 * WEB_BODY_CAP is refused with 413 by the server itself (no JSON from the
 * program); and a request that declares Content-Length: 99999999 but
 * sends two bytes gets the server's 413 instead of a wait for the rest.
 * Fails the running Check test otherwise.
 */
void web_check_body_cap(int port, int api_limit, const char *who);

/*
 * web_check_media_cap: on 127.0.0.1:port, a 1 MiB body (over WEB_BODY_CAP)
 * reaches chat-media on the upload route (its 401, as no JWT is sent);
 * a declared body over WEB_MEDIA_CAP there, and the same 1 MiB body on a
 * neighbouring path or on POST /api/v1/rooms, get the server's own 413.
 */
void web_check_media_cap(int port, const char *who);

#endif
