/*
 * check_stack.c - the local stack as `make run` leaves it: the first request
 * paths answer, and `stack.sh down` (make stop) leaves no listener behind.
 */
#include "http_client.h"
#include "run_cmd.h"
#include "testenv.h"
#include "web_limits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[8192];

START_TEST(test_stack_serves_page_api_and_relay)
{
    struct http_resp r;
    char ct[128];

    ck_assert_int_eq(http_request("GET", "/", NULL, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(http_header(&r, "Content-Type", ct, sizeof ct));
    ck_assert_msg(strstr(ct, "text/html"), "GET / content type: %s", ct);
    http_resp_free(&r);

    /* An unknown API path still reaches a FastCGI program: a JSON 404. */
    ck_assert_int_eq(http_json("GET", "/api/v1/no-such-thing", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_msg(r.json != NULL, "expected a JSON error body, got: %s", r.body);
    ck_assert_str_eq(http_error_code(&r), "not_found");
    http_resp_free(&r);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", testenv_config()->relay_port);
    ck_assert_int_eq(http_request("GET", url, NULL, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "relay /healthz: %ld %s", r.status, r.body);
    http_resp_free(&r);
}
END_TEST

/* The dev stack's lighttpd enforces what the shipped configs do. */
START_TEST(test_stack_web_server_limits_and_headers)
{
    const char *base = testenv_web_base(), *colon = strrchr(base, ':');
    int port = colon ? (int) strtol(colon + 1, NULL, 10) : 0;
    ck_assert_msg(strncmp(base, "http://127.0.0.1:", 17) == 0 && port > 0,
                  "the stack checks need http://127.0.0.1:PORT, not %s", base);
    web_check_security_headers(port, "the dev lighttpd");
    web_check_body_cap(port, testenv_config()->max_body_bytes, "the dev lighttpd");
    web_check_media_cap(port, "the dev lighttpd");
}
END_TEST

START_TEST(test_stack_status_names_every_component)
{
    ck_assert_msg(run_cmd(out, sizeof out, "deploy/dev/stack.sh status") == 0, "status: %s", out);
    const char *names[] = {"mariadb", "postgres", "ferretdb", "relay", "lighttpd"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s", names[i]);
        ck_assert_msg(strstr(out, want), "status does not mention %s: %s", names[i], out);
    }
    ck_assert_msg(!strstr(out, "stopped") || strstr(out, "redis     stopped"), "status: %s", out);
}
END_TEST

START_TEST(test_stack_down_leaves_no_listener_and_up_restores)
{
    const int ports[] = {8080, testenv_config()->relay_port, 3307, 5433, 27018};
    ck_assert_msg(run_cmd(out, sizeof out, "deploy/dev/stack.sh down") == 0, "down: %s", out);
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        ck_assert_msg(testenv_wait_port(ports[i], 0) != 0, "port %d still accepts after down",
                      ports[i]);
    ck_assert_msg(run_cmd(out, sizeof out, "deploy/dev/stack.sh status") != 0,
                  "status should report stopped components: %s", out);

    /* Own session, as in testenv_stack(): Check kills the test's process
     * group when it ends, which would take the servers started here along. */
    ck_assert_msg(run_cmd(out, sizeof out, "setsid -w deploy/dev/stack.sh up") == 0, "up: %s", out);
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        ck_assert_msg(testenv_wait_port(ports[i], 0) == 0, "port %d not back after up", ports[i]);

    /* A second up finds everything healthy and restarts nothing. */
    pid_t relay = testenv_pid("relay"), db = testenv_pid("mariadb"), pg = testenv_pid("postgres"),
          ferret = testenv_pid("ferretdb");
    ck_assert_msg(run_cmd(out, sizeof out, "deploy/dev/stack.sh up") == 0, "up again: %s", out);
    ck_assert_int_eq(testenv_pid("relay"), relay);
    ck_assert_int_eq(testenv_pid("mariadb"), db);
    ck_assert_int_eq(testenv_pid("postgres"), pg);
    ck_assert_int_eq(testenv_pid("ferretdb"), ferret);
}
END_TEST

/* FerretDB keeps its data in the stack's PostgreSQL: restarted under it,
 * FerretDB (not restarted) answers queries on the messages again. */
START_TEST(test_stack_ferretdb_serves_after_postgres_restart)
{
    const char *bin = getenv("CHAT_BIN_DIR") ? getenv("CHAT_BIN_DIR") : "build/san/bin";
    pid_t ferret = testenv_pid("ferretdb"), pg = testenv_pid("postgres");
    ck_assert_int_gt(ferret, 0);
    ck_assert_int_gt(pg, 0);
    ck_assert_int_eq(testenv_stack("restart postgres"), 0);
    ck_assert_int_ne(testenv_pid("postgres"), pg);
    ck_assert_int_eq(testenv_pid("ferretdb"), ferret);

    /* The first query may meet a connection the restart closed. */
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        rc = run_cmd(out, sizeof out,
                     "echo '{\"count\": \"chat_messages\"}' | %s/chat-mongo-cmd run -", bin);
        if (rc != 0)
            usleep(200 * 1000);
    }
    ck_assert_msg(rc == 0, "FerretDB does not answer after PostgreSQL restarted: %s", out);
}
END_TEST

/* With the relay away, lighttpd writes the request URI of /ws into its
 * error log; the shipped configs pipe that log through a redactor. */
START_TEST(test_stack_error_log_never_holds_a_token)
{
    const char *secret = testenv_unique("tokensecret");
    ck_assert_int_eq(testenv_stack("stop relay"), 0);
    char url[256];
    snprintf(url, sizeof url, "/ws?token=%s", secret);
    struct http_resp r;
    http_request("GET", url, NULL, NULL, NULL, 0, &r);
    long status = r.status;
    http_resp_free(&r);
    ck_assert_int_eq(testenv_stack("start relay"), 0);
    ck_assert_msg(status >= 500, "GET /ws with the relay down: expected 5xx, got %ld", status);

    char log[512];
    snprintf(log, sizeof log, "%s/log/lighttpd-error.log", testenv_var_dir());
    /* The redactor is a pipe: give it a moment to write. */
    for (int i = 0; i < 20 && run_cmd(out, sizeof out, "grep -c REDACTED %s", log) != 0; i++)
        usleep(100 * 1000);
    ck_assert_msg(run_cmd(out, sizeof out, "grep -F -- '%s' %s %s/log/lighttpd-access.log", secret,
                          log, testenv_var_dir()) == 1,
                  "the token appears in a lighttpd log: %s", out);
}
END_TEST

Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stack_serves_page_api_and_relay);
    tcase_add_test(tc, test_stack_web_server_limits_and_headers);
    tcase_add_test(tc, test_stack_status_names_every_component);
    tcase_add_test(tc, test_stack_error_log_never_holds_a_token);
    tcase_add_test(tc, test_stack_ferretdb_serves_after_postgres_restart);
    tcase_add_test(tc, test_stack_down_leaves_no_listener_and_up_restores);
    suite_add_tcase(s, tc);
    return s;
}
