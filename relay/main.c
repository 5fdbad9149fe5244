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

static struct relay *the_relay;

static void on_stop_signal(int sig)
{
    (void) sig;
    if (the_relay)
        relay_request_stop(the_relay);
}

#define SPARE_FDS 64 /* beyond relay_fds_needed: libraries' files, resolver */

/* raise_fd_limit: raise the soft RLIMIT_NOFILE to what max_connections
 * needs, up to the hard limit. When the hard limit is lower, lower
 * cfg->max_connections to what fits and say so once. */
static void raise_fd_limit(struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t) relay_fds_needed(cfg) + SPARE_FDS;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
    }
    if (rl.rlim_cur >= want)
        return;
    int configured = cfg->max_connections;
    rlim_t short_by = want - rl.rlim_cur;
    cfg->max_connections = (rlim_t) configured > short_by ? configured - (int) short_by : 1;
    log_warn("fd_limit", "max_connections=%d configured_max=%d nofile=%llu needed=%llu",
             cfg->max_connections, configured, (unsigned long long) rl.rlim_cur,
             (unsigned long long) want);
}

int main(void)
{
    struct config cfg;
    char err[512], q[1040];

    config_load_or_exit(&cfg, "chat-relay");
    log_init("chat-relay", cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    int configured_max = cfg.max_connections;
    raise_fd_limit(&cfg);

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
             cfg.relay_host, cfg.relay_port, relay_max_connections(the_relay), configured_max,
             cfg.relay_workers);
    int rc = relay_run(the_relay);
    relay_free(the_relay);
    the_relay = NULL;
    log_info("stopped", "status=%s", rc == 0 ? "clean" : "loop_failed");
    return rc == 0 ? 0 : 1;
}
