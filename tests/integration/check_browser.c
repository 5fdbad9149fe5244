/*
 * check_browser.c - the end-to-end browser test (tests/browser/, Playwright
 * driving Debian's Chromium) as one Check test, so `make test` reports it in
 * the same summary. Its own output goes to $CHAT_TEST_OUT/browser.log.
 */
#include "run_cmd.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_browser_two_people_chat)
{
    static char out[65536];
    const char *dir = getenv("CHAT_TEST_OUT") ? getenv("CHAT_TEST_OUT") : "var/test-out";
    /* setsid: the test restarts the relay, and Check kills this test's
     * process group when it ends; the new relay must outlive the test. */
    int rc = run_cmd(out, sizeof out,
                     "setsid -w tests/browser/run.sh > %s/browser.log 2>&1; rc=$?; "
                     "tail -n 40 %s/browser.log; exit $rc",
                     dir, dir);
    ck_assert_msg(rc == 0, "browser test failed (exit %d); last lines:\n%s", rc, out);
}
END_TEST

Suite *browser_suite(void)
{
    Suite *s = suite_create("browser");
    TCase *tc = tcase_create("chromium");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_browser_two_people_chat);
    suite_add_tcase(s, tc);
    return s;
}
