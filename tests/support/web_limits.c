/*
 * web_limits.c - see web_limits.h.
 *
 * The body checks talk raw HTTP/1.1 over a socket with a receive time-out:
 * the client must be able to stop sending early (a server that refuses a
 * body answers before it has read it) and to notice that no answer comes
 * (a server waiting for 99999999 bytes). The time-out only ends a wait; the
 * checks assert the status and the source of the answer.
 */
#include "web_limits.h"
#include "http_client.h"
#include "testenv.h"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define WAIT_SECONDS 10 /* only ends a hung wait */

/* raw_post: POST `path` declaring content_length, then send the `sent`
 * bytes of body (stopping quietly when the server has closed), and read the
 * answer into resp until the server closes or WAIT_SECONDS pass without
 * data. Returns the status of the answer, 0 when none came. */
static int raw_post(int port, const char *path, size_t content_length, const char *body,
                    size_t sent, char *resp, size_t cap)
{
    char head[512];
    int status = 0;
    size_t got = 0;
    resp[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket");
    struct timeval tv = {WAIT_SECONDS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0)
        goto out;
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, content_length);
    if (send(fd, head, (size_t) n, MSG_NOSIGNAL) != n)
        goto out;
    for (size_t off = 0; off < sent;) {
        ssize_t w = send(fd, body + off, sent - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server answered and closed: read what it said */
        off += (size_t) w;
    }
    while (got + 1 < cap) {
        ssize_t r = recv(fd, resp + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.", 7) == 0 && strlen(resp) > 12)
        status = (int) strtol(resp + 9, NULL, 10);
out:
    close(fd);
    return status;
}

/* count_header: how many times header `name` is in http_resp r, and its
 * first value in buf. */
static int count_header(const struct http_resp *r, const char *name, char *buf, size_t cap)
{
    int n = 0;
    size_t len = strlen(name);
    buf[0] = '\0';
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t l = eol ? (size_t) (eol - p) : strlen(p);
        if (l > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            if (n++ == 0) {
                const char *v = p + len + 1;
                while (*v == ' ')
                    v++;
                size_t vl = l - (size_t) (v - p);
                snprintf(buf, cap, "%.*s", (int) vl, v);
            }
        }
        p = eol ? eol + 2 : p + l;
    }
    return n;
}

void web_check_security_headers(int port, const char *who)
{
    static const struct {
        const char *method, *path;
        long status;
    } reqs[] = {
        {"GET", "/", 200},
        {"GET", "/api/v1/me", 401},
        {"GET", "/api/v1/no-such-thing", 404},
    };
    static const struct {
        const char *name, *value;
    } want[] = {
        {"Content-Security-Policy", WEB_CSP},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        char url[256], val[1024];
        struct http_resp r;
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, reqs[i].path);
        ck_assert_int_eq(http_request(reqs[i].method, url, NULL, NULL, NULL, 0, &r), 0);
        ck_assert_msg(r.status == reqs[i].status, "%s %s via %s: expected %ld, got %ld",
                      reqs[i].method, reqs[i].path, who, reqs[i].status, r.status);
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            int n = count_header(&r, want[k].name, val, sizeof val);
            ck_assert_msg(n == 1, "%s %s via %s: %d %s headers (expected 1)\n%s", reqs[i].method,
                          reqs[i].path, who, n, want[k].name, r.headers ? r.headers : "");
            ck_assert_msg(strcmp(val, want[k].value) == 0, "%s %s via %s: %s is \"%s\", not \"%s\"",
                          reqs[i].method, reqs[i].path, who, want[k].name, val, want[k].value);
        }
        http_resp_free(&r);
    }
}

void web_check_body_cap(int port, int api_limit, const char *who)
{
    static char resp[65536], body[WEB_BODY_CAP + 16384];
    const char *path = "/api/v1/dev/login";
    ck_assert_msg(api_limit < WEB_BODY_CAP, "max_body_bytes %d is not below the web server cap %d",
                  api_limit, WEB_BODY_CAP);

    /* A login padded to exactly the API's limit: the web server passes it
     * on and the program signs the user in. */
    size_t n = (size_t) api_limit;
    int head = snprintf(body, sizeof body, "{\"username\":\"%s\"", testenv_unique("cap"));
    memset(body + head, ' ', n - (size_t) head - 1);
    body[n - 1] = '}';
    int st = raw_post(port, path, n, body, n, resp, sizeof resp);
    ck_assert_msg(st == 200, "%zu-byte login via %s: expected 200, got %d\n%.600s", n, who, st,
                  resp);

    /* Over the API's limit but under the cap, sent in full: the program
     * answers 413 itself (as CGI too, where it must read the body it
     * refuses, or the server resets the connection instead). */
    n = (size_t) api_limit + 1024;
    memset(body, 'x', n);
    st = raw_post(port, path, n, body, n, resp, sizeof resp);
    ck_assert_msg(st == 413 && strstr(resp, "too_large"),
                  "%zu-byte body via %s: expected the API's 413, got %d (0: no answer)\n%.600s", n,
                  who, st, resp);

    /* Over the cap, sent in full: the server refuses it itself. */
    n = sizeof body;
    memset(body, 'x', n);
    st = raw_post(port, path, n, body, n, resp, sizeof resp);
    ck_assert_msg(st == 413, "%zu-byte body via %s: expected 413, got %d\n%.600s", n, who, st,
                  resp);
    ck_assert_msg(!strstr(resp, "too_large"),
                  "%zu-byte body via %s: the API answered, the server let the body through\n%.600s",
                  n, who, resp);

    /* A declared body far over the cap, two bytes of it sent: an answer
     * from the header alone, not a wait for the rest. */
    st = raw_post(port, path, 99999999, "{}", 2, resp, sizeof resp);
    ck_assert_msg(st == 413,
                  "Content-Length: 99999999 via %s: expected 413, got %d (0: no answer)"
                  "\n%.600s",
                  who, st, resp);
    ck_assert_msg(!strstr(resp, "too_large"),
                  "Content-Length: 99999999 via %s: the API answered, not the server\n%.600s", who,
                  resp);
}

void web_check_media_cap(int port, const char *who)
{
    static char resp[65536];
    size_t n = 1024 * 1024;
    char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    memset(body, 'x', n);

    /* Over the API's cap, under the media cap: the program answers. */
    int st = raw_post(port, "/api/v1/rooms/1/media", n, body, n, resp, sizeof resp);
    ck_assert_msg(st == 401 && strstr(resp, "unauthorized"),
                  "1 MiB upload via %s: expected chat-media's 401, got %d\n%.600s", who, st, resp);

    /* Past the media cap, declared: the server refuses from the header. */
    st = raw_post(port, "/api/v1/rooms/1/media", (size_t) WEB_MEDIA_CAP + 1, "{}", 2, resp,
                  sizeof resp);
    ck_assert_msg(st == 413 && !strstr(resp, "too_large"),
                  "Content-Length %d via %s: expected the server's 413, got %d\n%.600s",
                  WEB_MEDIA_CAP + 1, who, st, resp);

    /* Only that route: its neighbours keep the small cap. */
    static const char *const others[] = {"/api/v1/rooms/1/media/x", "/api/v1/rooms/1/mediax",
                                         "/api/v1/rooms", "/api/v1/media/x"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        st = raw_post(port, others[i], n, body, 2, resp, sizeof resp);
        ck_assert_msg(st == 413 && !strstr(resp, "too_large"),
                      "1 MiB declared to %s via %s: expected the server's 413, got %d\n%.600s",
                      others[i], who, st, resp);
    }
    free(body);
}
