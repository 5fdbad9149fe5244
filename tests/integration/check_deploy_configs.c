/*
 * check_deploy_configs.c - the shipped deploy files pass their tools' own
 * checks: apache2 -t, nginx -t and lighttpd -t on the files as shipped and
 * on the copies rendered for the tests, systemd-analyze verify on the
 * units, a real logrotate run on the rotation config, and the example
 * chat.conf documents every key with its true default.
 */
#include "config.h"
#include "run_cmd.h"
#include "testenv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[65536];

static const char *dir_of(const char *leaf)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/deploy/configtest/%s", testenv_var_dir(), leaf);
    return buf;
}

START_TEST(test_deploy_configs_shipped_pass_config_tests)
{
    int rc = run_cmd(out, sizeof out, "deploy/test/deploy.sh check-shipped");
    ck_assert_msg(rc == 0, "config tests of the shipped files failed:\n%s", out);
}
END_TEST

START_TEST(test_deploy_configs_rendered_pass_config_tests)
{
    static const char *instances[] = {"apache",         "nginx", "lighttpd",
                                      "lighttpd-pools", "cgi",   "fcgid"};
    for (size_t i = 0; i < sizeof instances / sizeof instances[0]; i++) {
        int rc = run_cmd(out, sizeof out, "deploy/test/deploy.sh check %s", instances[i]);
        ck_assert_msg(rc == 0, "config test of the rendered %s config failed:\n%s", instances[i],
                      out);
    }
}
END_TEST

/* systemd-analyze verify works offline here (no systemd as PID 1 needed);
 * any warning it prints (unknown key, bad value, missing binary) fails. */
START_TEST(test_deploy_configs_systemd_units_verify)
{
    const char *d = dir_of("units");
    int rc = run_cmd(out, sizeof out, "rm -rf %s && deploy/test/deploy.sh render-units %s", d, d);
    ck_assert_msg(rc == 0, "render-units: %s", out);
    /* A template is verified through an instance of it. */
    rc = run_cmd(out, sizeof out, "cp '%s/chat-fcgi@.service' '%s/chat-fcgi@rooms.service'", d, d);
    ck_assert_msg(rc == 0, "%s", out);
    rc = run_cmd(out, sizeof out,
                 "cd %s && systemd-analyze verify ./chat-relay.service ./chat-fcgi@rooms.service "
                 "./chat-media-gc.service ./chat-media-gc.timer",
                 d);
    ck_assert_msg(rc == 0 && out[0] == '\0', "systemd-analyze verify: rc %d\n%s", rc, out);
}
END_TEST

START_TEST(test_deploy_configs_logrotate_rotates_in_place)
{
    const char *d = dir_of("units");
    int rc = run_cmd(out, sizeof out,
                     "rm -rf %s && deploy/test/deploy.sh render-units %s && mkdir -p %s/log && "
                     "echo 'ts=1 event=before' > %s/log/relay.log && "
                     "logrotate -f -s %s/logrotate.state %s/logrotate.conf",
                     d, d, d, d, d, d);
    ck_assert_msg(rc == 0, "logrotate: %s", out);
    rc = run_cmd(out, sizeof out, "cat %s/log/relay.log.1", d);
    ck_assert_msg(rc == 0 && strcmp(out, "ts=1 event=before\n") == 0,
                  "rotated copy: expected the old line, got rc %d: %s", rc, out);
    /* copytruncate: the file the program holds open is now empty. */
    rc = run_cmd(out, sizeof out, "stat -c %%s %s/log/relay.log", d);
    ck_assert_msg(rc == 0 && strcmp(out, "0\n") == 0, "live log after rotation: size %s", out);
}
END_TEST

/* Every key of the config table is in deploy/chat.conf.example, and the
 * example with every line uncommented loads to exactly the built-in
 * defaults: the documented defaults are the real ones. */
START_TEST(test_deploy_configs_example_documents_every_key)
{
    const char *secret = "0123456789abcdef0123456789abcdef-example";
    const char *d = dir_of("example");
    char path[600], plain[600], err[1024] = "";

    int rc = run_cmd(out, sizeof out,
                     "sed -n -e 's/^[[:space:]]*\\(STR\\|INT\\)(\\([a-z_]*\\),.*/\\2/p' "
                     "-e 's/^[[:space:]]*{\"\\(jwt_secret\\)\".*/\\1/p' shared/config.c");
    ck_assert_msg(rc == 0 && out[0], "cannot list the keys of shared/config.c: %s", out);
    char keys[8192];
    ck_assert_msg(strlen(out) < sizeof keys, "key list too long");
    memcpy(keys, out, strlen(out) + 1);
    int n = 0;
    for (char *save = NULL, *k = strtok_r(keys, "\n", &save); k; k = strtok_r(NULL, "\n", &save)) {
        rc = run_cmd(out, sizeof out, "grep -cE '^# %s =' deploy/chat.conf.example", k);
        ck_assert_msg(rc == 0 && strcmp(out, "1\n") == 0,
                      "deploy/chat.conf.example: expected one '# %s = ...' line, found %s", k, out);
        n++;
    }
    ck_assert_msg(n > 30, "only %d keys found in shared/config.c", n);

    snprintf(path, sizeof path, "%s/all.conf", d);
    snprintf(plain, sizeof plain, "%s/secret-only.conf", d);
    rc = run_cmd(
        out, sizeof out,
        "mkdir -p %s && sed -e 's/^# \\([a-z_]* =\\)/\\1/' -e 's/^jwt_secret =.*/jwt_secret = %s/' "
        "deploy/chat.conf.example > %s && echo 'jwt_secret = %s' > %s",
        d, secret, path, secret, plain);
    ck_assert_msg(rc == 0, "%s", out);

    struct config *all = calloc(1, sizeof *all), *defaults = calloc(1, sizeof *defaults);
    ck_assert_ptr_nonnull(all);
    ck_assert_ptr_nonnull(defaults);
    rc = config_load(all, path, err, sizeof err);
    ck_assert_msg(rc == 0, "the uncommented example does not load: %s", err);
    rc = config_load(defaults, plain, err, sizeof err);
    ck_assert_msg(rc == 0, "a config with only the secret does not load: %s", err);
    ck_assert_msg(memcmp(all, defaults, sizeof *all) == 0,
                  "a value in deploy/chat.conf.example differs from the built-in default "
                  "(compare %s with shared/config.c)",
                  path);
    free(all);
    free(defaults);
}
END_TEST

Suite *deploy_configs_suite(void)
{
    Suite *s = suite_create("deploy_configs");
    TCase *tc = tcase_create("configs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deploy_configs_shipped_pass_config_tests);
    tcase_add_test(tc, test_deploy_configs_rendered_pass_config_tests);
    tcase_add_test(tc, test_deploy_configs_systemd_units_verify);
    tcase_add_test(tc, test_deploy_configs_logrotate_rotates_in_place);
    tcase_add_test(tc, test_deploy_configs_example_documents_every_key);
    suite_add_tcase(s, tc);
    return s;
}
