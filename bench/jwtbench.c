/*
 * jwtbench.c - chat-bench-jwt: token verifications per second for each
 * algorithm in one process, the cost the API pays on every request.
 *
 *   chat-bench-jwt [--seconds N] [--out FILE]
 *
 * Keys are made at start (RSA 2048, P-256, Ed25519), published as a JWKS
 * file and loaded through jwks_source, exactly as the API programs load a
 * provider's keys; HS256 uses the config's secret. Per algorithm one valid
 * token is verified in a loop for N seconds (default 2) with
 * jwt_verify_token, the API's call; every verification must pass (a
 * failure stops the run). No server is involved. Prints one row per
 * algorithm and writes the numbers as JSON when --out is given.
 */
#include "config.h"
#include "errors.h"
#include "idp_keys.h"
#include "jwk.h"
#include "jwks_source.h"
#include "jwt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
           (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static int setup(struct config *cfg, struct idp_key *keys, size_t n, char *jwks_path, size_t cap)
{
    static char doc[16384];
    const struct idp_key *pub[4];
    for (size_t i = 0; i < n; i++)
        pub[i] = &keys[i];
    snprintf(jwks_path, cap, "/tmp/chat-bench-jwt-%ld.json", (long) getpid());
    FILE *f = fopen(jwks_path, "w");
    if (!f || idp_jwks(pub, n, doc, sizeof doc) < 0 || fputs(doc, f) < 0) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->jwt_secret, sizeof cfg->jwt_secret, "bench-secret-0123456789abcdef-0123456789");
    snprintf(cfg->jwt_algorithms, sizeof cfg->jwt_algorithms, "HS256,RS256,PS256,ES256,EdDSA");
    jwt_alg_list_parse(cfg->jwt_algorithms, &cfg->jwt_alg_mask);
    snprintf(cfg->jwt_jwks_file, sizeof cfg->jwt_jwks_file, "%s", jwks_path);
    snprintf(cfg->jwt_issuer, sizeof cfg->jwt_issuer, "https://idp.bench.invalid/");
    snprintf(cfg->jwt_audience, sizeof cfg->jwt_audience, "chat-api");
    snprintf(cfg->jwt_identity_claim, sizeof cfg->jwt_identity_claim, "sub");
    snprintf(cfg->jwt_name_claims, sizeof cfg->jwt_name_claims, "preferred_username");
    cfg->jwt_leeway = 30;
    cfg->jwt_ttl = 3600;
    cfg->jwt_max_lifetime = 86400;
    cfg->jwt_jwks_max_age = 3600;
    cfg->jwt_jwks_min_interval = 30;
    cfg->jwt_jwks_timeout = 5;
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 2;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: chat-bench-jwt [--seconds N] [--out FILE]\n");
            return 2;
        }
    }
    static const int algs[] = {JWT_ALG_HS256, JWT_ALG_RS256, JWT_ALG_PS256, JWT_ALG_ES256,
                               JWT_ALG_EDDSA};
    struct idp_key keys[4];
    static const char *const kids[] = {"rs", "ps", "es", "ed"};
    for (size_t i = 0; i < 4; i++)
        if (idp_key_new(&keys[i], algs[i + 1], kids[i]) != 0) {
            fprintf(stderr, "chat-bench-jwt: key generation failed\n");
            return 1;
        }
    struct config cfg;
    char path[128], err[256] = "";
    struct jwks_source *src = NULL;
    if (setup(&cfg, keys, 4, path, sizeof path) != 0 ||
        jwks_source_open(&cfg, &src, err, sizeof err) != 0) {
        fprintf(stderr, "chat-bench-jwt: set-up failed %s\n", err);
        return 1;
    }
    unlink(path);

    long now = (long) time(NULL);
    char payload[512], tok[8192];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://idp.bench.invalid/\",\"aud\":\"chat-api\",\"sub\":\"42\","
             "\"preferred_username\":\"bench\",\"iat\":%ld,\"exp\":%ld}",
             now, now + 3600);
    cJSON *doc = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(doc, "rows");
    cJSON_AddStringToObject(doc, "generator", "chat-bench-jwt");
    cJSON_AddNumberToObject(doc, "secondsPerAlgorithm", seconds);
    cJSON_AddNumberToObject(doc, "nproc", (double) sysconf(_SC_NPROCESSORS_ONLN));
    double load[1] = {0};
    if (getloadavg(load, 1) == 1)
        cJSON_AddNumberToObject(doc, "loadAvg1AtStart", load[0]);
    printf("%-6s %14s %12s %14s\n", "alg", "verifications", "per second", "us each (CPU)");
    int rc = 0;
    for (size_t a = 0; a < sizeof algs / sizeof algs[0] && rc == 0; a++) {
        int n = algs[a] == JWT_ALG_HS256 ? idp_sign_hs256(cfg.jwt_secret, strlen(cfg.jwt_secret),
                                                          "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                                                          payload, tok, sizeof tok)
                                         : idp_sign(&keys[a - 1], NULL, payload, tok, sizeof tok);
        if (n < 0) {
            rc = 1;
            break;
        }
        struct jwt_identity id;
        const char *reason;
        long count = 0;
        double t0 = mono(), c0 = cpu(), t;
        do {
            for (int i = 0; i < 32; i++, count++)
                if (jwt_verify_token(&cfg, src, tok, (int64_t) time(NULL), &id, &reason) != 0) {
                    fprintf(stderr, "chat-bench-jwt: %s refused: %s\n", jwt_alg_name(algs[a]),
                            reason);
                    rc = 1;
                    break;
                }
            t = mono() - t0;
        } while (rc == 0 && t < seconds);
        double c = cpu() - c0;
        printf("%-6s %14ld %12.0f %14.1f\n", jwt_alg_name(algs[a]), count, (double) count / t,
               c * 1e6 / (double) count);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "alg", jwt_alg_name(algs[a]));
        cJSON_AddNumberToObject(row, "verifications", (double) count);
        cJSON_AddNumberToObject(row, "seconds", t);
        cJSON_AddNumberToObject(row, "perSecond", (double) count / t);
        cJSON_AddNumberToObject(row, "cpuUsEach", c * 1e6 / (double) count);
        cJSON_AddItemToArray(rows, row);
    }
    if (out && rc == 0) {
        char *text = cJSON_Print(doc);
        FILE *f = fopen(out, "w");
        if (!text || !f || fputs(text, f) < 0 || fputc('\n', f) < 0)
            rc = 1;
        if (f && fclose(f) != 0)
            rc = 1;
        free(text);
    }
    cJSON_Delete(doc);
    jwks_source_free(src);
    for (size_t i = 0; i < 4; i++)
        idp_key_free(&keys[i]);
    return rc;
}
