/*
 * listener.c - bind, accept within the descriptor budget, close (see
 * listener.h).
 */
#include "listener.h"

#include "admission.h"
#include "errors.h"
#include "ev.h"
#include "log.h"
#include "transport.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct listener {
    struct ev_loop *loop;
    struct transport *t;
    struct admission *adm;
    size_t fd_slots;
    int fd;
};

struct listener *listener_new(struct ev_loop *loop, struct transport *t, struct admission *adm,
                              size_t fd_slots)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    *l = (struct listener){.loop = loop, .t = t, .adm = adm, .fd_slots = fd_slots, .fd = -1};
    return l;
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}

static int64_t accept_retry_timer(struct ev_loop *loop, int64_t id, void *data);

static void on_accept(struct ev_loop *loop, int fd, void *data, int mask)
{
    struct listener *l = data;
    (void) mask;
    for (int i = 0; i < 64; i++) {
        if (transport_count(l->t) >= l->fd_slots) {
            /* Every client descriptor is taken (closed ones are released
             * before the next select()): make room by closing the oldest
             * connection in the HTTP stage, or wait a little when every
             * slot holds a WebSocket or a token check. */
            int reaping = transport_reaping(l->t);
            struct adm_entry *victim = reaping ? NULL : admission_victim(l->adm, 0, 1);
            if (victim) {
                transport_shed(l->t, victim);
            } else if (!reaping) {
                ev_del(loop, fd, EV_READ);
                ev_timer_add(loop, 100, accept_retry_timer, l);
            }
            break;
        }
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *) &ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            transport_accept(l->t, cfd, (struct sockaddr *) &ss, sslen);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: stop listening briefly instead of spinning. */
            log_warn("accept_failed", "errno=%d", errno);
            ev_del(loop, fd, EV_READ);
            ev_timer_add(loop, 100, accept_retry_timer, l);
        }
        break;
    }
}

static int64_t accept_retry_timer(struct ev_loop *loop, int64_t id, void *data)
{
    struct listener *l = data;
    (void) id;
    if (l->fd >= 0)
        ev_add(loop, l->fd, EV_READ, on_accept, l);
    return EV_TIMER_DONE;
}

int listener_open(struct listener *l, const struct config *cfg, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->relay_port);
    int rc = getaddrinfo(cfg->relay_host[0] ? cfg->relay_host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "relay_host %s: %s", cfg->relay_host, gai_strerror(rc));
        return ERR_IO;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* With Redis, several relays (same user) may share the port; the
         * kernel spreads new connections over them (docs/operations.md, "Scaling out").
         * Without it a relay is alone, so a second one started by mistake
         * fails with "address in use" instead of silently taking half of
         * the users, who could then not reach the other half. */
        if (cfg->redis_url[0])
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        snprintf(errbuf, errlen, "listen on %s:%s: %s", cfg->relay_host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ERR_IO;
    if (ev_add(l->loop, fd, EV_READ, on_accept, l) != 0) {
        snprintf(errbuf, errlen, "cannot watch the listening socket (fd %d)", fd);
        close(fd);
        return ERR_IO;
    }
    l->fd = fd;
    return 0;
}

void listener_close(struct listener *l)
{
    if (l->fd < 0)
        return;
    ev_del(l->loop, l->fd, EV_READ);
    close(l->fd);
    l->fd = -1;
}
