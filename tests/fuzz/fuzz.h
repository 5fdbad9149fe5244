/*
 * fuzz.h - the harnesses over the code that reads what a client sends.
 *
 * Each tests/fuzz/fuzz_<name>.c defines fuzz_<name>_one(), which feeds one
 * input to the parser it covers and abort()s when a property the parser
 * promises does not hold (sanitizers catch the rest). The same function is
 * built twice: with clang and libFuzzer (FUZZ_LIBFUZZER defined, see
 * FUZZ_TARGET) by `make fuzz`, and with gcc into the unit tests, where
 * check_fuzz_corpus replays the committed corpus through it on every
 * `make test`.
 */
#ifndef CHAT_FUZZ_H
#define CHAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 (libFuzzer's convention); a failed property aborts. */
int fuzz_handshake_one(const uint8_t *data, size_t size);
int fuzz_proto_one(const uint8_t *data, size_t size);
int fuzz_jwt_one(const uint8_t *data, size_t size);
int fuzz_jwks_one(const uint8_t *data, size_t size);
int fuzz_pct_one(const uint8_t *data, size_t size);
int fuzz_b64url_one(const uint8_t *data, size_t size);
int fuzz_config_one(const uint8_t *data, size_t size);
int fuzz_api_one(const uint8_t *data, size_t size);
int fuzz_media_one(const uint8_t *data, size_t size);

/* A reader over memory that hands out at most `step` bytes a call, so a
 * parser meets block boundaries everywhere, and a writer into a buffer of
 * cap bytes (ERR_TOO_LARGE beyond): the shapes media_scan pulls and pushes
 * through. */
struct fuzz_feed {
    const uint8_t *p;
    size_t len, pos, step;
};
long fuzz_feed_read(void *arg, char *buf, size_t n);

struct fuzz_sink {
    uint8_t *p;
    size_t len, cap;
};
int fuzz_sink_write(void *arg, const void *buf, size_t n);

/* FUZZ_CHECK: abort on a broken property, in both builds (not assert(),
 * which NDEBUG would remove). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

/* fuzz_fail: print the broken property and abort (fuzz_util.c). */
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* FUZZ_TARGET: libFuzzer's entry point for the harness fn, only in the
 * clang build; the unit-test build links several harnesses together. */
#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(fn)                                                                            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return fn(data, size);                                                                     \
    }
#else
#define FUZZ_TARGET(fn)
#endif

#endif
