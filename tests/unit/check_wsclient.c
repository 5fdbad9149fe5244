/*
 * check_wsclient.c - the load generator's WebSocket client against wslay's
 * own server side, over a socketpair: handshake, masking, messages split
 * across many writes, bytes that arrive with the handshake answer, refused
 * handshakes and the closing handshake.
 */
#include "errors.h"
#include "wsclient.h"
#include "ws_accept.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

/* ------------------------------------------------------------ fake relay */

struct srv {
    int fd;
    wslay_event_context_ptr ws;
    char req[4096];
    size_t req_len;
    char *got; /* last text message received, owned */
    size_t got_len;
    int got_count;
    uint16_t close_code; /* received from the client */
    int proto_error;     /* wslay rejected a client frame */
    int framing;         /* the handshake is over: wslay owns the socket */
};

static ssize_t srv_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void) flags;
    struct srv *s = ud;
    ssize_t n = recv(s->fd, buf, len, 0);
    if (n > 0)
        return n;
    wslay_event_set_error(ctx, n < 0 && errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK
                                                        : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t srv_send(wslay_event_context_ptr ctx, const uint8_t *d, size_t len, int flags,
                        void *ud)
{
    (void) flags;
    struct srv *s = ud;
    ssize_t n = send(s->fd, d, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    wslay_event_set_error(ctx, errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void srv_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                    void *ud)
{
    (void) ctx;
    struct srv *s = ud;
    if (a->opcode == WSLAY_TEXT_FRAME) {
        free(s->got);
        s->got = malloc(a->msg_length + 1);
        ck_assert_ptr_nonnull(s->got);
        memcpy(s->got, a->msg, a->msg_length);
        s->got[a->msg_length] = '\0';
        s->got_len = a->msg_length;
        s->got_count++;
    } else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        s->close_code = a->status_code;
        if (a->status_code == WSLAY_CODE_PROTOCOL_ERROR)
            s->proto_error = 1;
    }
}

static const struct wslay_event_callbacks srv_cbs = {
    .recv_callback = srv_recv, .send_callback = srv_send, .on_msg_recv_callback = srv_msg};

/* srv_read_request: read the client's handshake request, if complete. */
static int srv_read_request(struct srv *s)
{
    ssize_t n = recv(s->fd, s->req + s->req_len, sizeof s->req - 1 - s->req_len, 0);
    if (n > 0) {
        s->req_len += (size_t) n;
        s->req[s->req_len] = '\0';
    }
    return strstr(s->req, "\r\n\r\n") != NULL;
}

/* srv_key: the Sec-WebSocket-Key of the request. */
static void srv_key(const struct srv *s, char *out, size_t cap)
{
    const char *k = strstr(s->req, "Sec-WebSocket-Key: ");
    ck_assert_msg(k != NULL, "expected a Sec-WebSocket-Key header, got request:\n%s", s->req);
    k += strlen("Sec-WebSocket-Key: ");
    size_t n = strcspn(k, "\r");
    ck_assert_uint_lt(n, cap);
    memcpy(out, k, n);
    out[n] = '\0';
}

static void srv_write_all(struct srv *s, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
        ck_assert_int_gt((int) n, 0);
        data += n;
        len -= (size_t) n;
    }
}

/* ------------------------------------------------------------ client side */

struct cli {
    int opened;
    int closed;
    int texts;
    char *last; /* owned */
    size_t last_len;
    int reply_on_open; /* send "hello relay" from on_open */
};

static void cli_open(struct wsclient *c, void *ud)
{
    struct cli *k = ud;
    k->opened++;
    if (k->reply_on_open)
        ck_assert_int_eq(wsclient_send_text(c, "hello relay", 11), 0);
}

static void cli_text(struct wsclient *c, const uint8_t *msg, size_t len, void *ud)
{
    (void) c;
    struct cli *k = ud;
    free(k->last);
    k->last = malloc(len + 1);
    ck_assert_ptr_nonnull(k->last);
    memcpy(k->last, msg, len);
    k->last[len] = '\0';
    k->last_len = len;
    k->texts++;
}

static void cli_closed(struct wsclient *c, void *ud)
{
    (void) c;
    ((struct cli *) ud)->closed++;
}

static const struct wsclient_handlers cli_handlers = {cli_open, cli_text, cli_closed};

/* ------------------------------------------------------------ fixture */

static int epfd = -1;
static struct srv srv;
static struct cli cli;
static struct wsclient *wc;
static struct wsclient_target target;

static void setup(void)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    /* small buffers, so big messages need many partial writes */
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.fd = sv[1];
    ck_assert_int_eq(wslay_event_context_server_init(&srv.ws, &srv_cbs, &srv), 0);
    epfd = epoll_create1(0);
    ck_assert_int_ge(epfd, 0);
    ck_assert_int_eq(wsclient_target_parse("ws://127.0.0.1:8090/ws", &target), 0);
    int err = 0;
    wc = wsclient_adopt(epfd, sv[0], &target, "tok123", &cli_handlers, &cli, &err);
    ck_assert_msg(wc != NULL, "expected a client, got error %d", err);
}

static void teardown(void)
{
    wsclient_free(wc);
    wc = NULL;
    wslay_event_context_free(srv.ws);
    close(srv.fd);
    close(epfd);
    free(srv.got);
    free(cli.last);
}

/* pump: run the client's events and the server's wslay until done() or
 * 1000 rounds (each waits at most 2 ms), so a broken client fails an
 * assertion instead of hanging. */
static void pump(int (*done)(void))
{
    for (int round = 0; round < 1000 && !done(); round++) {
        struct epoll_event ev[4];
        int n = epoll_wait(epfd, ev, 4, 2);
        for (int i = 0; i < n; i++)
            wsclient_on_event(ev[i].data.ptr, ev[i].events);
        if (srv.framing && wslay_event_want_read(srv.ws))
            wslay_event_recv(srv.ws);
        if (srv.framing && wslay_event_want_write(srv.ws))
            wslay_event_send(srv.ws);
    }
}

static int request_done(void)
{
    return srv_read_request(&srv);
}

static void answer_101(const char *extra, size_t extra_len)
{
    char key[64], accept[WS_ACCEPT_LEN + 1], resp[512];
    srv_key(&srv, key, sizeof key);
    ws_accept_key(key, accept);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    char *all = malloc((size_t) n + extra_len);
    ck_assert_ptr_nonnull(all);
    memcpy(all, resp, (size_t) n);
    if (extra_len)
        memcpy(all + n, extra, extra_len);
    srv_write_all(&srv, all, (size_t) n + extra_len);
    free(all);
    srv.framing = 1;
}

static int opened(void)
{
    return cli.opened > 0 || cli.closed > 0;
}

static int client_closed(void)
{
    return cli.closed > 0;
}

static int both_texts(void)
{
    return (cli.texts > 0 && srv.got_count > 0) || cli.closed > 0;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_wsclient_target_parse)
{
    struct wsclient_target t;
    ck_assert_int_eq(wsclient_target_parse("ws://localhost:8080/ws", &t), 0);
    ck_assert_str_eq(t.host, "localhost:8080");
    ck_assert_str_eq(t.path, "/ws");
    ck_assert_int_eq(wsclient_target_parse("ws://127.0.0.1:8090", &t), 0);
    ck_assert_str_eq(t.path, "/");
    ck_assert_int_eq(wsclient_target_parse("http://127.0.0.1:8090/ws", &t), ERR_INVALID);
    ck_assert_int_eq(wsclient_target_parse("ws://127.0.0.1/ws", &t), ERR_INVALID);
    ck_assert_int_eq(wsclient_target_parse("ws://127.0.0.1:0/ws", &t), ERR_INVALID);
    ck_assert_int_eq(wsclient_target_parse("ws://example.org:80/ws", &t), ERR_INVALID);
}
END_TEST

START_TEST(test_wsclient_request_carries_token)
{
    pump(request_done);
    ck_assert_msg(strncmp(srv.req, "GET /ws?token=tok123 HTTP/1.1\r\n", 31) == 0,
                  "expected the request line with the token, got:\n%s", srv.req);
    ck_assert_ptr_nonnull(strstr(srv.req, "\r\nHost: 127.0.0.1:8090\r\n"));
    ck_assert_ptr_nonnull(strstr(srv.req, "\r\nSec-WebSocket-Version: 13\r\n"));
    ck_assert_int_eq(wsclient_state(wc), WSCLIENT_HANDSHAKE);
}
END_TEST

START_TEST(test_wsclient_frames_roundtrip_through_wslay)
{
    cli.reply_on_open = 1;
    pump(request_done);

    /* a server frame sent in the same write as the 101 answer */
    uint8_t frame[64] = {0x81, 5, 'w', 'e', 'l', 'c', 'o'};
    answer_101((const char *) frame, 7);
    pump(opened);
    ck_assert_int_eq(cli.opened, 1);
    ck_assert_int_eq(wsclient_state(wc), WSCLIENT_OPEN);
    ck_assert_int_eq(wsclient_http_status(wc), 101);

    pump(both_texts);
    ck_assert_int_eq(cli.texts, 1);
    ck_assert_str_eq(cli.last, "welco");
    /* wslay's server side refuses unmasked client frames with 1002 */
    ck_assert_int_eq(srv.proto_error, 0);
    ck_assert_int_eq(srv.got_count, 1);
    ck_assert_str_eq(srv.got, "hello relay");
}
END_TEST

static size_t big_len;

static int big_both_ways(void)
{
    return srv.got_len == big_len && cli.last_len == big_len;
}

START_TEST(test_wsclient_large_messages_across_partial_writes)
{
    pump(request_done);
    answer_101(NULL, 0);
    pump(opened);
    ck_assert_int_eq(wsclient_state(wc), WSCLIENT_OPEN);

    big_len = 300 * 1000; /* far beyond the 4 KiB socket buffers */
    char *big = malloc(big_len);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char) ('a' + i % 26);
    ck_assert_int_eq(wsclient_send_text(wc, big, big_len), 0);
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *) big, big_len};
    ck_assert_int_eq(wslay_event_queue_msg(srv.ws, &m), 0);
    pump(big_both_ways);
    ck_assert_uint_eq(srv.got_len, big_len);
    ck_assert_uint_eq(cli.last_len, big_len);
    ck_assert_msg(memcmp(srv.got, big, big_len) == 0, "server got a different payload");
    ck_assert_msg(memcmp(cli.last, big, big_len) == 0, "client got a different payload");
    ck_assert_uint_eq(wsclient_queued_bytes(wc), 0);
    free(big);
}
END_TEST

START_TEST(test_wsclient_refused_handshake_keeps_status)
{
    pump(request_done);
    const char *r = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    srv_write_all(&srv, r, strlen(r));
    pump(client_closed);
    ck_assert_int_eq(cli.opened, 0);
    ck_assert_int_eq(cli.closed, 1);
    ck_assert_int_eq(wsclient_state(wc), WSCLIENT_CLOSED);
    ck_assert_int_eq(wsclient_http_status(wc), 503);
    ck_assert_str_eq(wsclient_why(wc), "http 503");
    ck_assert_int_eq(wsclient_send_text(wc, "x", 1), ERR_INVALID);
}
END_TEST

START_TEST(test_wsclient_wrong_accept_is_refused)
{
    pump(request_done);
    const char *r =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
    srv_write_all(&srv, r, strlen(r));
    pump(client_closed);
    ck_assert_int_eq(cli.opened, 0);
    ck_assert_str_eq(wsclient_why(wc), "handshake: wrong Sec-WebSocket-Accept");
}
END_TEST

START_TEST(test_wsclient_server_close_is_answered)
{
    pump(request_done);
    answer_101(NULL, 0);
    pump(opened);
    ck_assert_int_eq(wslay_event_queue_close(srv.ws, 1001, NULL, 0), 0);
    pump(client_closed);
    ck_assert_int_eq(cli.closed, 1);
    ck_assert_int_eq(wsclient_close_code(wc), 1001);
    ck_assert_str_eq(wsclient_why(wc), "closed by peer");
    /* the client echoed the close, as RFC 6455 requires */
    ck_assert_int_eq(srv.close_code, 1001);
}
END_TEST

START_TEST(test_wsclient_client_close_completes)
{
    pump(request_done);
    answer_101(NULL, 0);
    pump(opened);
    wsclient_close(wc, 1000);
    ck_assert_int_eq(wsclient_send_text(wc, "late", 4), ERR_INVALID);
    pump(client_closed);
    ck_assert_int_eq(srv.close_code, 1000);
    ck_assert_int_eq(cli.closed, 1);
    ck_assert_int_eq(wsclient_state(wc), WSCLIENT_CLOSED);
}
END_TEST

START_TEST(test_wsclient_eof_mid_handshake)
{
    pump(request_done);
    const char *r = "HTTP/1.1 101 Swi";
    srv_write_all(&srv, r, strlen(r));
    shutdown(srv.fd, SHUT_WR);
    pump(client_closed);
    ck_assert_int_eq(cli.opened, 0);
    ck_assert_str_eq(wsclient_why(wc), "eof during handshake");
}
END_TEST

Suite *wsclient_suite(void)
{
    Suite *s = suite_create("wsclient");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_wsclient_target_parse);
    tcase_add_test(t, test_wsclient_request_carries_token);
    tcase_add_test(t, test_wsclient_frames_roundtrip_through_wslay);
    tcase_add_test(t, test_wsclient_large_messages_across_partial_writes);
    tcase_add_test(t, test_wsclient_refused_handshake_keeps_status);
    tcase_add_test(t, test_wsclient_wrong_accept_is_refused);
    tcase_add_test(t, test_wsclient_server_close_is_answered);
    tcase_add_test(t, test_wsclient_client_close_completes);
    tcase_add_test(t, test_wsclient_eof_mid_handshake);
    suite_add_tcase(s, t);
    return s;
}
