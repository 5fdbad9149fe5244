/*
 * wsconn.c - wslay event-API glue (see wsconn.h).
 *
 * The recv/send callbacks translate the pluggable I/O's errno into wslay's
 * vocabulary: EAGAIN -> WSLAY_ERR_WOULDBLOCK (try later), anything else
 * -> WSLAY_ERR_CALLBACK_FAILURE (connection over). One context per
 * connection; hot path of every frame in and out.
 */
#include "wsconn.h"
#include "errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

struct wsconn {
    wslay_event_context_ptr ctx;
    const struct wsconn_io *io;
    void *io_arg;
    const struct wsconn_events *ev;
    void *ev_arg;
    uint16_t close_code;   /* what we queued, 0 until then */
};

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct wsconn *wc = user_data;
    (void) flags;
    ssize_t r = wc->io->recv(wc->io_arg, buf, len);
    if (r > 0)
        return r;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); /* EOF or error */
    return -1;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct wsconn *wc = user_data;
    ssize_t r = wc->io->send(wc->io_arg, data, len, (flags & WSLAY_MSG_MORE) != 0);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user_data)
{
    struct wsconn *wc = user_data;
    (void) ctx;
    if (wc->ev->on_alive)
        wc->ev->on_alive(wc->ev_arg);
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (wc->close_code == 0)
            wc->ev->on_text(wc->ev_arg, (const char *) arg->msg, arg->msg_length);
        break;
    case WSLAY_BINARY_FRAME:
        wsconn_close(wc, WSLAY_CODE_UNSUPPORTED_DATA, "text frames only");
        break;
    case WSLAY_CONNECTION_CLOSE:
        /* wslay queued the echoing close frame already. */
        if (wc->close_code == 0)
            wc->close_code = arg->status_code ? arg->status_code : WSLAY_CODE_NORMAL_CLOSURE;
        break;
    default: /* ping (answered by wslay), pong */
        break;
    }
}

struct wsconn *wsconn_new(const struct wsconn_io *io, void *io_arg,
                          const struct wsconn_events *ev, void *ev_arg, size_t max_msg)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = cb_recv,
        .send_callback = cb_send,
        .on_msg_recv_callback = cb_msg,
    };
    struct wsconn *wc = calloc(1, sizeof *wc);
    if (!wc)
        return NULL;
    wc->io = io;
    wc->io_arg = io_arg;
    wc->ev = ev;
    wc->ev_arg = ev_arg;
    if (wslay_event_context_server_init(&wc->ctx, &callbacks, wc) != 0) {
        free(wc);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(wc->ctx, max_msg);
    /* No extension is negotiated, so any RSV bit is a protocol error (wslay's default). */
    return wc;
}

void wsconn_free(struct wsconn *wc)
{
    if (!wc)
        return;
    wslay_event_context_free(wc->ctx);
    free(wc);
}

int wsconn_read(struct wsconn *wc)
{
    return wslay_event_recv(wc->ctx) == 0 ? 0 : ERR_IO;
}

int wsconn_write(struct wsconn *wc)
{
    return wslay_event_send(wc->ctx) == 0 ? 0 : ERR_IO;
}

static int queue(struct wsconn *wc, uint8_t opcode, const void *data, size_t len)
{
    struct wslay_event_msg msg = {opcode, data, len};
    int r = wslay_event_queue_msg(wc->ctx, &msg);
    if (r == 0)
        return 0;
    return r == WSLAY_ERR_NOMEM ? ERR_NOMEM : ERR_IO;
}

int wsconn_send_text(struct wsconn *wc, const char *text, size_t len)
{
    return queue(wc, WSLAY_TEXT_FRAME, text, len);
}

int wsconn_ping(struct wsconn *wc)
{
    return queue(wc, WSLAY_PING, "", 0);
}

int wsconn_close(struct wsconn *wc, uint16_t code, const char *reason)
{
    if (wc->close_code != 0 || wslay_event_get_close_sent(wc->ctx))
        return 0;
    wc->close_code = code;
    size_t rlen = reason ? strnlen(reason, 122) : 0;
    int r = wslay_event_queue_close(wc->ctx, code, (const uint8_t *) reason, rlen);
    wslay_event_shutdown_read(wc->ctx);
    return r == WSLAY_ERR_NOMEM ? ERR_NOMEM : 0;
}

size_t wsconn_queued_bytes(const struct wsconn *wc)
{
    return wslay_event_get_queued_msg_length(wc->ctx);
}

int wsconn_read_wanted(const struct wsconn *wc)
{
    return wslay_event_want_read(wc->ctx);
}

int wsconn_write_wanted(const struct wsconn *wc)
{
    return wslay_event_want_write(wc->ctx);
}

int wsconn_finished(const struct wsconn *wc)
{
    return !wslay_event_want_read(wc->ctx) && !wslay_event_want_write(wc->ctx);
}

uint16_t wsconn_close_code(const struct wsconn *wc)
{
    if (wc->close_code)
        return wc->close_code;
    return wslay_event_get_close_sent(wc->ctx) ? wslay_event_get_status_code_sent(wc->ctx) : 0;
}
