/*
 * runner.c - the one Check runner, built twice: once over the unit suites,
 * once over the integration suites (SUITES_H names the generated list).
 *
 *   unit_tests [suite [test]]     run everything, one suite, or one test
 *
 * RUNNER_NAME is "unit" or "integration". CK_FORK stays on (the default) so a crash in one test is reported as that
 * test's failure. Exits non-zero when any test failed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include SUITES_H
#undef SUITE

int main(int argc, char **argv)
{
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include SUITES_H
#undef SUITE
    const char *only_suite = argc > 1 ? argv[1] : NULL;
    const char *only_test = argc > 2 ? argv[2] : NULL;
    if (getenv("CHECK_XML"))
        srunner_set_xml(sr, getenv("CHECK_XML"));
    srunner_run(sr, only_suite, only_test, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
