/*
 * fuzz_config.c - the `key = value` config parser behind config_load.
 *
 * The loader reads a file by path, so each input is written to an
 * unlinked temporary file reached through /proc/self/fd (nothing is left
 * behind) and loaded from there. CHAT_* variables are removed from the
 * environment first so only the input decides the outcome. Properties:
 * only 0 or ERR_INVALID with a message; a loaded config honours the rules
 * config_load checks last (pong_timeout after ping_interval, a known log
 * level), and config_dump never prints the JWT secret.
 */
#include "config.h"
#include "errors.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* input_file: the descriptor of the scratch file, made on first use. */
static int input_file(void)
{
    static int fd = -1;
    if (fd >= 0)
        return fd;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "CHAT_", 5) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int) n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/chat-fuzz-config-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
    int fd = input_file();
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t) size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    static struct config cfg;
    char err[1024] = "";
    int rc = config_load(&cfg, path, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID);
    if (rc != 0) {
        FUZZ_CHECK(strncmp(err, "config: ", 8) == 0);
        return 0;
    }
    FUZZ_CHECK(cfg.pong_timeout > cfg.ping_interval);
    FUZZ_CHECK(strlen(cfg.jwt_secret) >= CONFIG_SECRET_MIN_LEN);
    FUZZ_CHECK(strcmp(cfg.log_level, "debug") == 0 || strcmp(cfg.log_level, "info") == 0 ||
               strcmp(cfg.log_level, "warn") == 0 || strcmp(cfg.log_level, "error") == 0);

    char *dump = NULL;
    size_t dump_len = 0;
    FILE *out = open_memstream(&dump, &dump_len);
    if (!out)
        return 0;
    config_dump(&cfg, out);
    fclose(out);
    const char *line = strstr(dump, "\njwt_secret = ");
    FUZZ_CHECK(line != NULL);
    char want[64];
    snprintf(want, sizeof want, "\njwt_secret = (%zu bytes, hidden)\n", strlen(cfg.jwt_secret));
    FUZZ_CHECK(strncmp(line, want, strlen(want)) == 0);
    free(dump);
    return 0;
}

FUZZ_TARGET(fuzz_config_one)
