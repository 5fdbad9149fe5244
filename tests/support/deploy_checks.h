/*
 * deploy_checks.h - the checks that every shipped web server config must
 * pass, run by tests/integration/check_deploy_<server>.c against a private
 * server instance that deploy/test/deploy.sh renders from the shipped file
 * and starts on its own port.
 *
 * A deploy suite has two test cases. "live" runs with the server up (an
 * unchecked fixture starts it once, in the runner process, and stops it
 * afterwards); its tests run forked and talk to it over HTTP and WebSocket,
 * and write every token they use to var/deploy/<instance>/tokens-used.
 * "after" runs once the server is down: nothing of it still runs, no log
 * line holds a token from that file, and no sanitizer report was written;
 * for DEPLOY_WS_ERRLOG targets it first runs a second instance (in
 * var/deploy/relay-down/) whose /ws points where no relay listens.
 */
#ifndef CHAT_DEPLOY_CHECKS_H
#define CHAT_DEPLOY_CHECKS_H

#include <check.h>

/* Which WebSocket checks a target gets. */
enum deploy_ws {
    DEPLOY_WS_NONE,   /* none: its /ws config is another suite's */
    DEPLOY_WS,        /* round trip and Origin through its /ws */
    DEPLOY_WS_ERRLOG, /* those, and with the relay down a /ws request
                       * leaves its token in no log, error logs included */
};

struct deploy_target {
    const char *instance; /* deploy.sh instance: "apache", "nginx", ... */
    int port;             /* where it listens on 127.0.0.1 */
    int needs_pools;      /* start the spawn-fcgi pools first */
    enum deploy_ws websocket;
};

/*
 * deploy_suite: a suite named `name` with the live and after test cases
 * for target `t` (borrowed; must outlive the run, i.e. be static). `setup`
 * and `teardown` are the suite file's fixtures, which only call
 * deploy_start(t) / deploy_stop(t): Check fixtures take no argument.
 */
Suite *deploy_suite(const char *name, const struct deploy_target *t, void (*setup)(void),
                    void (*teardown)(void));

/* deploy_start: start the target (and the pools it needs) and make it the
 * target of the tests that follow; a failure is recorded and reported by
 * every live test rather than aborting the runner. */
void deploy_start(const struct deploy_target *t);

/* deploy_stop: stop the target and the pools it started. */
void deploy_stop(const struct deploy_target *t);

/*
 * DEPLOY_SUITE(name, instance, port, needs_pools, websocket): everything a
 * check_deploy_<name>.c file needs: the target, the two fixtures and
 * `Suite *deploy_<name>_suite(void)`.
 */
#define DEPLOY_SUITE(name, instance, port, needs_pools, websocket)                                 \
    static const struct deploy_target target = {instance, port, needs_pools, websocket};           \
    static void setup(void)                                                                        \
    {                                                                                              \
        deploy_start(&target);                                                                     \
    }                                                                                              \
    static void teardown(void)                                                                     \
    {                                                                                              \
        deploy_stop(&target);                                                                      \
    }                                                                                              \
    Suite *deploy_##name##_suite(void)                                                             \
    {                                                                                              \
        return deploy_suite("deploy_" #name, &target, setup, teardown);                            \
    }

#endif
