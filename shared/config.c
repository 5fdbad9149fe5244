/*
 * config.c - table-driven loader for struct config.
 *
 * Each key is described once (name, type, default, bounds, field offset);
 * the file parser and the environment overrides both go through set_value()
 * so a value is validated the same way wherever it comes from.
 */
#include "config.h"
#include "errors.h"
#include "jwk.h"
#include "media_id.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum key_type { KEY_STR, KEY_INT, KEY_SECRET };

struct key_desc {
    const char *name;
    enum key_type type;
    const char *def; /* NULL: required */
    long min, max;   /* KEY_INT bounds; KEY_SECRET minimum length in min */
    size_t offset;
};

#define STR(k, d)                                                                                  \
    {                                                                                              \
#k, KEY_STR, d, 0, 0, offsetof(struct config, k)                                           \
    }
#define INT(k, d, lo, hi)                                                                          \
    {                                                                                              \
#k, KEY_INT, #d, lo, hi, offsetof(struct config, k)                                        \
    }

static const struct key_desc keys[] = {
    STR(mysql_host, "127.0.0.1"),
    INT(mysql_port, 3306, 1, 65535),
    STR(mysql_socket, ""),
    STR(mysql_user, "chat"),
    STR(mysql_password, ""),
    STR(mysql_database, "chat"),
    INT(mysql_timeout, 5, 1, 300),
    STR(mongo_uri, "mongodb://127.0.0.1:27017/"),
    STR(mongo_database, "chat"),
    STR(mongo_write_concern, "1"),
    INT(mongo_timeout_ms, 3000, 100, 600000),
    STR(ferretdb_postgresql_url, ""),
    {"jwt_secret", KEY_SECRET, NULL, CONFIG_SECRET_MIN_LEN, 0, offsetof(struct config, jwt_secret)},
    STR(jwt_issuer, ""),
    STR(jwt_audience, ""),
    INT(jwt_leeway, 30, 0, 300),
    INT(jwt_ttl, 3600, 60, 30 * 86400),
    INT(jwt_max_lifetime, 86400, 0, 365 * 86400),
    INT(socket_token_ttl, 30, 1, 600),
    INT(socket_tokens_per_minute, 60, 0, 1000000),
    INT(dev_login, 0, 0, 1),
    STR(jwt_algorithms, "HS256"),
    STR(jwt_jwks_url, ""),
    STR(jwt_jwks_file, ""),
    STR(jwt_public_key_file, ""),
    STR(jwt_public_key_alg, ""),
    STR(jwt_jwks_cache_dir, ""),
    INT(jwt_jwks_max_age, 3600, 1, 7 * 86400),
    INT(jwt_jwks_min_interval, 30, 1, 86400),
    INT(jwt_jwks_timeout, 5, 1, 60),
    STR(jwt_typ, ""),
    STR(jwt_identity_claim, "sub"),
    STR(jwt_name_claims, "preferred_username,name,email"),
    INT(max_body_bytes, 16384, 256, 1048576),
    STR(public_ws_url, "ws://127.0.0.1:8080/ws"),
    STR(media_secret, ""),
    INT(media_max_image_bytes, 10485760, 1024, 1073741824),
    INT(media_max_video_bytes, 52428800, 1024, 1073741824),
    INT(media_max_pixels, 40000000, 1, 1000000000),
    INT(media_uploads_per_hour, 60, 0, 1000000),
    INT(media_quota_mb, 1024, 0, 100000000),
    INT(media_unreferenced_ttl, 86400, 0, 365 * 86400),
    STR(relay_host, "127.0.0.1"),
    INT(relay_port, 8090, 1, 65535),
    INT(relay_workers, 2, 1, 64),
    STR(allowed_origins, ""),
    INT(max_connections, 10000, 1, 1000000),
    INT(max_message_bytes, 65536, 1024, 16777216),
    INT(max_text_chars, 4000, 1, 1000000),
    INT(rate_per_sec, 20, 1, 1000000),
    INT(rate_burst, 60, 1, 1000000),
    INT(max_outbuf_bytes, 1048576, 65536, 1073741824),
    INT(handshake_timeout, 10, 1, 300),
    INT(max_handshakes, 0, 0, 1000000),
    INT(max_handshakes_per_address, 32, 0, 1000000),
    INT(handshake_limit_loopback, 0, 0, 1),
    INT(max_connections_per_user, 20, 0, 1000000),
    INT(ping_interval, 30, 1, 3600),
    INT(pong_timeout, 60, 2, 7200),
    INT(max_rooms_per_conn, 100, 1, 10000),
    INT(write_batch_max, 256, 1, 10000),
    INT(max_pending_messages, 16384, 16, 1000000),
    STR(redis_url, ""),
    STR(log_level, "info"),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

static const struct key_desc *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* set_value: validate `value` for key `k` and store it; `origin` names the
 * source for the error line. */
static int set_value(struct config *cfg, const struct key_desc *k, const char *value,
                     const char *origin, char *errbuf, size_t errlen)
{
    char *field = (char *) cfg + k->offset;
    size_t len = strlen(value);

    switch (k->type) {
    case KEY_SECRET:
        if (len < (size_t) k->min)
            return fail(errbuf, errlen, "config: %s must be at least %ld bytes (%s)", k->name,
                        k->min, origin);
        /* fall through */
    case KEY_STR:
        if (len >= CONFIG_STR_MAX)
            return fail(errbuf, errlen, "config: %s is longer than %d bytes (%s)", k->name,
                        CONFIG_STR_MAX - 1, origin);
        memcpy(field, value, len + 1);
        return 0;
    case KEY_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (len == 0 || *end != '\0' || errno != 0)
            return fail(errbuf, errlen, "config: %s must be a whole number, got \"%s\" (%s)",
                        k->name, value, origin);
        if (v < k->min || v > k->max)
            return fail(errbuf, errlen, "config: %s must be between %ld and %ld, got %ld (%s)",
                        k->name, k->min, k->max, v, origin);
        *(int *) (void *) field = (int) v;
        return 0;
    }
    }
    return ERR_INTERNAL;
}

/* env_name: CHAT_ followed by the key in upper case. */
static void env_name(char *buf, size_t cap, const char *key)
{
    size_t n = (size_t) snprintf(buf, cap, "CHAT_%s", key);
    for (size_t j = 5; j < n && j < cap; j++)
        buf[j] = (char) toupper((unsigned char) buf[j]);
}

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *cfg, const char *path, unsigned char *seen, char *errbuf,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(errbuf, errlen, "config: cannot open %s: %s", path, strerror(errno));

    char line[2048], origin[CONFIG_STR_MAX + 32];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(origin, sizeof origin, "%.*s:%d", CONFIG_STR_MAX, path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            rc = fail(errbuf, errlen, "config: line too long (%s)", origin);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = fail(errbuf, errlen, "config: expected key = value (%s)", origin);
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        const struct key_desc *k = find_key(name);
        if (!k) {
            rc = fail(errbuf, errlen, "config: unknown key %s (%s)", name, origin);
            break;
        }
        rc = set_value(cfg, k, value, origin, errbuf, errlen);
        seen[k - keys] = 1;
    }
    fclose(f);
    return rc;
}

/* loopback_http: 1 when url is http:// to 127.0.0.1, [::1] or localhost,
 * the one place a key set may travel without TLS (tests, a local proxy). */
static int loopback_http(const char *url)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://[::1]", "http://localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(url, hosts[i], n) == 0 && (url[n] == ':' || url[n] == '/' || url[n] == '\0'))
            return 1;
    }
    return 0;
}

/* has_userinfo: 1 when the URL's authority holds a "user@": with it,
 * "http://localhost:1@evil.example/" names evil.example, not localhost. */
static int has_userinfo(const char *url)
{
    const char *a = strstr(url, "://");
    if (!a)
        return 0;
    a += 3;
    size_t n = strcspn(a, "/?#");
    return memchr(a, '@', n) != NULL;
}

/* check_idp: the identity provider keys fit together: known algorithms, a
 * key source exactly when an asymmetric algorithm is allowed, HTTPS. */
static int check_idp(struct config *cfg, char *errbuf, size_t errlen)
{
    if (jwt_alg_list_parse(cfg->jwt_algorithms, &cfg->jwt_alg_mask) != 0)
        return fail(errbuf, errlen,
                    "config: jwt_algorithms must list some of HS256, RS256, PS256, ES256, EdDSA");
    int any_source = cfg->jwt_jwks_url[0] || cfg->jwt_jwks_file[0] || cfg->jwt_public_key_file[0];
    if ((cfg->jwt_alg_mask & JWT_ALG_ASYMMETRIC) && !any_source)
        return fail(errbuf, errlen,
                    "config: jwt_algorithms names a public-key algorithm but no jwt_jwks_url, "
                    "jwt_jwks_file or jwt_public_key_file is set");
    if (any_source && !(cfg->jwt_alg_mask & JWT_ALG_ASYMMETRIC))
        return fail(errbuf, errlen,
                    "config: a provider key is configured but jwt_algorithms allows none of "
                    "RS256, PS256, ES256, EdDSA");
    if (cfg->jwt_jwks_url[0] &&
        ((strncmp(cfg->jwt_jwks_url, "https://", 8) != 0 && !loopback_http(cfg->jwt_jwks_url)) ||
         has_userinfo(cfg->jwt_jwks_url)))
        return fail(errbuf, errlen,
                    "config: jwt_jwks_url must start with https:// (http:// only to loopback) "
                    "and carry no user@ part");
    if (cfg->jwt_public_key_alg[0]) {
        int a = jwt_alg_from_name(cfg->jwt_public_key_alg);
        if (!(a & JWT_ALG_ASYMMETRIC) || !(a & cfg->jwt_alg_mask))
            return fail(errbuf, errlen,
                        "config: jwt_public_key_alg must be one of the public-key algorithms of "
                        "jwt_algorithms");
    }
    if (!cfg->jwt_identity_claim[0] || !cfg->jwt_name_claims[0])
        return fail(errbuf, errlen, "config: jwt_identity_claim and jwt_name_claims must be set");
    if (cfg->jwt_jwks_min_interval > cfg->jwt_jwks_max_age)
        return fail(errbuf, errlen,
                    "config: jwt_jwks_min_interval must not exceed jwt_jwks_max_age");
    return 0;
}

int config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen)
{
    unsigned char seen[NKEYS] = {0};
    int rc;

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def && (rc = set_value(cfg, &keys[i], keys[i].def, "default", errbuf, errlen)))
            return rc;
    }

    if (!path)
        path = getenv("CHAT_CONFIG");
    int explicit_path = path != NULL;
    if (!path)
        path = CONFIG_DEFAULT_PATH;

    FILE *probe = fopen(path, "r");
    if (probe || explicit_path) {
        if (probe)
            fclose(probe);
        if ((rc = load_file(cfg, path, seen, errbuf, errlen)))
            return rc;
    }

    for (size_t i = 0; i < NKEYS; i++) {
        char env[80];
        env_name(env, sizeof env, keys[i].name);
        const char *v = getenv(env);
        if (v) {
            if ((rc = set_value(cfg, &keys[i], v, env, errbuf, errlen)))
                return rc;
            seen[i] = 1;
        }
    }

    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].def && !seen[i]) {
            char env[80];
            env_name(env, sizeof env, keys[i].name);
            return fail(errbuf, errlen, "config: %s is required (set it in %s or %s)", keys[i].name,
                        path, env);
        }
    }

    if (cfg->jwt_max_lifetime > 0 && cfg->jwt_ttl > cfg->jwt_max_lifetime)
        return fail(errbuf, errlen, "config: jwt_ttl must not exceed jwt_max_lifetime");
    if ((rc = check_idp(cfg, errbuf, errlen)) != 0)
        return rc;
    if (cfg->media_secret[0] && strlen(cfg->media_secret) < CONFIG_SECRET_MIN_LEN)
        return fail(errbuf, errlen, "config: media_secret must be empty or at least %d bytes",
                    CONFIG_SECRET_MIN_LEN);
    media_key_derive(cfg, cfg->media_key);
    if (cfg->pong_timeout <= cfg->ping_interval)
        return fail(errbuf, errlen, "config: pong_timeout must be greater than ping_interval");
    if (strcmp(cfg->log_level, "debug") != 0 && strcmp(cfg->log_level, "info") != 0 &&
        strcmp(cfg->log_level, "warn") != 0 && strcmp(cfg->log_level, "error") != 0)
        return fail(errbuf, errlen, "config: log_level must be debug, info, warn or error");
    return 0;
}

void config_load_or_exit(struct config *cfg, const char *program)
{
    char err[1024];
    if (config_load(cfg, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        exit(2);
    }
}

int config_value(const struct config *cfg, const char *name, char *buf, size_t cap)
{
    const struct key_desc *k = find_key(name);
    if (!k)
        return ERR_NOT_FOUND;
    const char *field = (const char *) cfg + k->offset;
    int n = k->type == KEY_INT ? snprintf(buf, cap, "%d", *(const int *) (const void *) field)
                               : snprintf(buf, cap, "%s", field);
    return n >= 0 && (size_t) n < cap ? 0 : ERR_INVALID;
}

/* url_password: in "scheme://user:password@host/...", where the password
 * starts and how long it is; 0 when the value holds none. */
static size_t url_password(const char *v, size_t *start)
{
    const char *auth = strstr(v, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t span = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', span);
    const char *colon = at ? memchr(auth, ':', (size_t) (at - auth)) : NULL;
    if (!colon)
        return 0;
    *start = (size_t) (colon + 1 - v);
    return (size_t) (at - colon - 1);
}

void config_dump(const struct config *cfg, FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *field = (const char *) cfg + keys[i].offset;
        size_t pw_at = 0, pw_len = 0;
        if (keys[i].type == KEY_INT)
            fprintf(out, "%s = %d\n", keys[i].name, *(const int *) (const void *) field);
        else if (keys[i].type == KEY_SECRET || strstr(keys[i].name, "password") ||
                 strstr(keys[i].name, "secret"))
            fprintf(out, "%s = (%zu bytes, hidden)\n", keys[i].name, strlen(field));
        else if ((pw_len = url_password(field, &pw_at)) > 0)
            fprintf(out, "%s = %.*s(hidden)%s\n", keys[i].name, (int) pw_at, field,
                    field + pw_at + pw_len);
        else
            fprintf(out, "%s = %s\n", keys[i].name, field);
    }
}
