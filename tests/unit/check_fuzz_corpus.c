/*
 * check_fuzz_corpus.c - every committed fuzz seed through its harness on
 * every `make test`, so the corpus keeps working as regression input
 * under ASan and UBSan without clang (tests/fuzz/README.md). A harness
 * aborts on a broken property or a sanitizer report, which fails the
 * test of that harness.
 */
#include "fuzz.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_CORPUS_DIR
#define FUZZ_CORPUS_DIR "tests/fuzz/corpus"
#endif

static const struct {
    const char *name;
    int (*one)(const uint8_t *data, size_t size);
} harnesses[] = {
    {"handshake", fuzz_handshake_one},
    {"proto", fuzz_proto_one},
    {"jwt", fuzz_jwt_one},
    {"jwks", fuzz_jwks_one},
    {"pct", fuzz_pct_one},
    {"b64url", fuzz_b64url_one},
    {"config", fuzz_config_one},
    {"api", fuzz_api_one},
    {"media", fuzz_media_one},
};

/* read_file: the whole file into a malloc'd block of exactly its size (at
 * least 1 byte allocated), so a harness reading past it is caught. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *data = malloc(n > 0 ? (size_t) n : 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    *len = (size_t) n;
    return data;
}

START_TEST(test_fuzz_corpus_replays_cleanly)
{
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/%s", FUZZ_CORPUS_DIR, harnesses[_i].name);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no corpus directory %s", dir);
    int files = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *data = read_file(path, &len);
        ck_assert_int_eq(harnesses[_i].one(data, len), 0);
        free(data);
        files++;
    }
    closedir(d);
    ck_assert_msg(files >= 3, "%s: only %d seeds", dir, files);
}
END_TEST

Suite *fuzz_corpus_suite(void)
{
    Suite *s = suite_create("fuzz_corpus");
    TCase *tc = tcase_create("corpus");
    tcase_add_loop_test(tc, test_fuzz_corpus_replays_cleanly, 0,
                        (int) (sizeof harnesses / sizeof harnesses[0]));
    suite_add_tcase(s, tc);
    return s;
}
