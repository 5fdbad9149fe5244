/*
 * testenv.h - where the stack under test lives, for integration tests.
 *
 * The stack is the one `make test` started (deploy/dev/stack.sh): its
 * settings are read from $CHAT_CONFIG (var/chat.conf), its pid files from
 * $CHAT_VAR_DIR/run/<component>.pid. Tests may stop, pause and restart
 * components through testenv_stack(); a test that does must leave the
 * component running again before it returns.
 */
#ifndef CHAT_TESTENV_H
#define CHAT_TESTENV_H

#include "config.h"

#include <stdint.h>
#include <sys/types.h>

/* testenv_config: the loaded stack config (loaded once; aborts on error). */
const struct config *testenv_config(void);

/* testenv_var_dir: the stack's var/ directory (CHAT_VAR_DIR, else ./var). */
const char *testenv_var_dir(void);

/* testenv_web_base: "http://127.0.0.1:8080" (CHAT_TEST_WEB_BASE overrides). */
const char *testenv_web_base(void);

/* testenv_pid: pid of a component started by stack.sh ("mariadb",
 * "ferretdb", "lighttpd", "relay", "redis"), or -1 when not running. */
pid_t testenv_pid(const char *component);

/* testenv_stack: run `deploy/dev/stack.sh <args>` with the same environment;
 * returns its exit status. */
int testenv_stack(const char *args);

/* testenv_wait_port: wait up to timeout_ms for 127.0.0.1:port to accept a
 * TCP connection; returns 0 when it did, -1 on time-out. */
int testenv_wait_port(int port, int timeout_ms);

/* testenv_unique: a name unique to this test run ("<prefix>_<pid>_<n>"),
 * so repeated runs against the same databases never collide. Static buffer
 * rotated over 8 slots. */
const char *testenv_unique(const char *prefix);

#endif
