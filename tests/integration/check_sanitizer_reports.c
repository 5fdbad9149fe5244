/*
 * check_sanitizer_reports.c - runs last: every program under test was built
 * with AddressSanitizer and UBSan and writes any report to
 * var/log/{asan,ubsan}.<pid> (stack.sh sets log_path). A clean run leaves
 * none; a report fails the run and its first lines are shown.
 */
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

START_TEST(test_sanitizer_reports_none_written)
{
    static char out[16384];
    run_cmd(out, sizeof out, "ls %s/log/ | grep -E '^(asan|ubsan)\\.' || true", testenv_var_dir());
    if (out[0] != '\0') {
        static char detail[16384];
        run_cmd(detail, sizeof detail, "cd %s/log && head -n 40 asan.* ubsan.* 2>/dev/null",
                testenv_var_dir());
        ck_abort_msg("sanitizer reports were written: %s\n%s", out, detail);
    }
}
END_TEST

Suite *sanitizer_reports_suite(void)
{
    Suite *s = suite_create("sanitizer_reports");
    TCase *tc = tcase_create("logs");
    tcase_add_test(tc, test_sanitizer_reports_none_written);
    suite_add_tcase(s, tc);
    return s;
}
