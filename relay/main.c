/*
 * main.c - chat-relay: load the config, start the relay, run until
 * SIGTERM/SIGINT, exit 0 after a clean shutdown.
 */
#include "config.h"
#include "log.h"
#include "relay.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>

static struct relay *the_relay;

static void on_stop_signal(int sig)
{
    (void) sig;
    if (the_relay)
        relay_request_stop(the_relay);
}

/* raise_fd_limit: allow descriptors past FD_SETSIZE, so a connection over
 * the limit is accepted and refused on purpose rather than leaving accept()
 * failing with EMFILE. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = FD_SETSIZE * 4;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(void)
{
    struct config cfg;
    char err[512], q[1040];

    config_load_or_exit(&cfg, "chat-relay");
    log_init("chat-relay", cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    /* err holds text from libraries and config values: quoted and escaped. */
    if (!(the_relay = relay_new(&cfg, err, sizeof err))) {
        log_error("start_failed", "reason=%s", log_quote(q, sizeof q, err));
        return 1;
    }
    if (relay_listen(the_relay, err, sizeof err) != 0) {
        log_error("start_failed", "reason=%s", log_quote(q, sizeof q, err));
        relay_free(the_relay);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    log_info("started", "host=%s port=%d max_connections=%zu configured_max=%d workers=%d",
             cfg.relay_host, cfg.relay_port, relay_max_connections(the_relay), cfg.max_connections,
             cfg.relay_workers);
    int rc = relay_run(the_relay);
    relay_free(the_relay);
    the_relay = NULL;
    log_info("stopped", "status=%s", rc == 0 ? "clean" : "loop_failed");
    return rc == 0 ? 0 : 1;
}
