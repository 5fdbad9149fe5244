/*
 * jwks_source.c - provider keys from files and a JWKS URL, with caching,
 * rate-limited refresh and a shared cache file (see jwks_source.h).
 *
 * Why on the request path and not in a thread: the FastCGI programs serve
 * one request at a time and CGI processes live for one request, so there
 * is no idle moment to use. A refresh costs one HTTPS round trip to the
 * provider at most once per jwt_jwks_min_interval; every other request
 * only compares two numbers.
 *
 * Cache file (jwt_jwks_cache_dir/jwks-<hash of the URL>): one line
 * "chat-jwks 1 <fetched> <expires> <attempted>" and then the document as
 * the provider sent it. Written to a temporary name and renamed, so a
 * reader sees the old file or the new one, never half of one.
 */
#include "jwks_source.h"
#include "errors.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "chat-jwks 1"

struct jwks_source {
    const struct config *cfg;
    int allowed; /* the asymmetric algorithms of the allow-list */
    struct jwk_set files;
    struct timespec pem_mtime, jwks_mtime;
    int64_t files_checked;
    struct jwk_set url;
    int64_t fetched, expires, last_attempt;
    unsigned long fetches;
    char cache_path[CONFIG_STR_MAX + 64];
    char event[256];
};

/* doc: a growing buffer for a document read from a file or the network. */
struct doc {
    char *buf;
    size_t len, cap;
    int too_large;
    long max_age; /* from Cache-Control; -1 none */
};

static int doc_append(struct doc *d, const void *p, size_t n)
{
    if (d->len + n > JWK_DOC_MAX) {
        d->too_large = 1;
        return ERR_TOO_LARGE;
    }
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8192;
        while (cap < d->len + n + 1)
            cap *= 2;
        char *nb = realloc(d->buf, cap);
        if (!nb)
            return ERR_NOMEM;
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
    d->buf[d->len] = '\0';
    return 0;
}

static void set_event(struct jwks_source *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_event(struct jwks_source *src, const char *fmt, ...)
{
    va_list ap;
    size_t used = strlen(src->event);
    if (used && used + 1 < sizeof src->event)
        src->event[used++] = ' ';
    va_start(ap, fmt);
    vsnprintf(src->event + used, sizeof src->event - used, fmt, ap);
    va_end(ap);
}

/* set_move: append every key of `from` to `to` (taking ownership); keys
 * beyond JWK_SET_MAX are freed. `from` is left empty. */
static void set_move(struct jwk_set *to, struct jwk_set *from)
{
    for (size_t i = 0; i < from->n; i++) {
        if (to->n < JWK_SET_MAX)
            to->keys[to->n++] = from->keys[i];
        else
            EVP_PKEY_free(from->keys[i].pkey);
    }
    memset(from, 0, sizeof *from);
}

static int read_file(const char *path, struct doc *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_IO;
    char chunk[8192];
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(fd, chunk, sizeof chunk)) > 0)
        rc = doc_append(d, chunk, (size_t) n);
    if (rc == 0 && n < 0)
        rc = ERR_IO;
    close(fd);
    if (rc == 0 && !d->buf)
        rc = doc_append(d, "", 0);
    return rc;
}

/* load_files: the PEM and JWKS files into a fresh set; on failure the old
 * set stays and the reason goes to err. */
static int load_files(struct jwks_source *src, char *err, size_t errlen)
{
    const struct config *cfg = src->cfg;
    struct jwk_set set = {0};
    int rc = 0;
    if (cfg->jwt_public_key_file[0]) {
        rc = jwk_set_add_pem(&set, cfg->jwt_public_key_file,
                             cfg->jwt_public_key_alg[0] ? jwt_alg_from_name(cfg->jwt_public_key_alg)
                                                        : 0,
                             src->allowed);
        if (rc != 0) {
            snprintf(err, errlen, "jwt_public_key_file %s: %s", cfg->jwt_public_key_file,
                     rc == ERR_IO ? strerror(errno)
                                  : "no public key fit for an allowed algorithm in it");
            goto out;
        }
    }
    if (cfg->jwt_jwks_file[0]) {
        struct doc d = {0};
        struct jwk_set more;
        rc = read_file(cfg->jwt_jwks_file, &d);
        if (rc == 0)
            rc = jwk_set_parse(d.buf, d.len, src->allowed, &more, NULL);
        free(d.buf);
        if (rc == 0 && more.n == 0) {
            jwk_set_clear(&more);
            rc = ERR_INVALID;
        }
        if (rc != 0) {
            snprintf(err, errlen, "jwt_jwks_file %s: %s", cfg->jwt_jwks_file,
                     rc == ERR_IO ? "cannot be read" : "not a JWKS with a usable key");
            goto out;
        }
        set_move(&set, &more);
    }
    jwk_set_clear(&src->files);
    src->files = set;
    return 0;
out:
    jwk_set_clear(&set);
    return rc;
}

static int mtime_of(const char *path, struct timespec *ts)
{
    struct stat st;
    if (!path[0] || stat(path, &st) != 0) {
        memset(ts, 0, sizeof *ts);
        return -1;
    }
    *ts = st.st_mtim;
    return 0;
}

static int ts_differ(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec != b->tv_sec || a->tv_nsec != b->tv_nsec;
}

/* check_files: reload the files when one has changed since the last look,
 * looking at most once per min_interval. */
static void check_files(struct jwks_source *src, int64_t now)
{
    const struct config *cfg = src->cfg;
    if (!cfg->jwt_public_key_file[0] && !cfg->jwt_jwks_file[0])
        return;
    if (now - src->files_checked < cfg->jwt_jwks_min_interval)
        return;
    src->files_checked = now;
    struct timespec pem, jwks;
    mtime_of(cfg->jwt_public_key_file, &pem);
    mtime_of(cfg->jwt_jwks_file, &jwks);
    if (!ts_differ(&pem, &src->pem_mtime) && !ts_differ(&jwks, &src->jwks_mtime))
        return;
    char err[256];
    if (load_files(src, err, sizeof err) == 0) {
        src->pem_mtime = pem;
        src->jwks_mtime = jwks;
        set_event(src, "files_reloaded=1 file_keys=%zu", src->files.n);
    } else {
        set_event(src, "files_reloaded=0 kept=%zu", src->files.n);
    }
}

/* ------------------------------------------------------------ the URL */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return doc_append(arg, p, size * n) == 0 ? size * n : 0;
}

/* on_header: the max-age of a Cache-Control header (no-store and no-cache
 * count as 0: look again as soon as the interval allows). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct doc *d = arg;
    size_t len = size * n;
    static const char name[] = "cache-control:";
    if (len > sizeof name - 1 && len < 1024 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[1024];
        memcpy(v, p + sizeof name - 1, len - (sizeof name - 1));
        v[len - (sizeof name - 1)] = '\0';
        for (char *c = v; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char) (*c - 'A' + 'a');
        const char *ma = strstr(v, "max-age=");
        if (strstr(v, "no-store") || strstr(v, "no-cache"))
            d->max_age = 0;
        else if (ma)
            d->max_age = strtol(ma + 8, NULL, 10);
    }
    return len;
}

/* http_get: the URL's body into d; 0 on a 200 answer. */
static int http_get(const struct config *cfg, struct doc *d, char *why, size_t whylen)
{
    CURL *c = curl_easy_init();
    if (!c)
        return ERR_NOMEM;
    int https_only = strncmp(cfg->jwt_jwks_url, "https://", 8) == 0;
    curl_easy_setopt(c, CURLOPT_URL, cfg->jwt_jwks_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, https_only ? "https" : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) cfg->jwt_jwks_timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long) cfg->jwt_jwks_timeout);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "chat-jwks/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "%s", d->too_large ? "too_large" : "unreachable");
        return ERR_UNAVAILABLE;
    }
    if (status != 200) {
        snprintf(why, whylen, "http_%ld", status);
        return ERR_UNAVAILABLE;
    }
    return 0;
}

static int64_t lifetime(const struct config *cfg, long max_age)
{
    int64_t t = max_age < 0 ? cfg->jwt_jwks_max_age : max_age;
    if (t > cfg->jwt_jwks_max_age)
        t = cfg->jwt_jwks_max_age;
    return t;
}

/* cache_write: the last good document (d, or none) and the attempt time. */
static void cache_write(const struct jwks_source *src, const struct doc *d)
{
    if (!src->cache_path[0] || !d || !d->buf)
        return;
    char tmp[sizeof src->cache_path + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld", src->cache_path, (long) getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    int ok = fprintf(f, CACHE_MAGIC " %" PRId64 " %" PRId64 " %" PRId64 "\n", src->fetched,
                     src->expires, src->last_attempt) > 0 &&
             fwrite(d->buf, 1, d->len, f) == d->len;
    if (fclose(f) != 0 || !ok || rename(tmp, src->cache_path) != 0)
        unlink(tmp);
}

/* cache_read: adopt the cache file when it holds a document newer than
 * ours, and the later attempt time in any case. *doc_out (may be NULL)
 * receives the file's document for rewriting. */
static void cache_read(struct jwks_source *src, struct doc *doc_out)
{
    if (!src->cache_path[0])
        return;
    struct doc d = {.max_age = -1};
    if (read_file(src->cache_path, &d) != 0) {
        free(d.buf);
        return;
    }
    int64_t v[3];
    char *nl = memchr(d.buf, '\n', d.len);
    const char *p = d.buf + sizeof CACHE_MAGIC - 1;
    int ok = nl && strncmp(d.buf, CACHE_MAGIC " ", sizeof CACHE_MAGIC) == 0;
    for (int i = 0; ok && i < 3; i++) {
        char *end;
        errno = 0;
        v[i] = strtoll(p, &end, 10);
        ok = errno == 0 && end != p && end <= nl && (*end == ' ' || *end == '\n');
        p = end;
    }
    if (!ok) {
        free(d.buf);
        return;
    }
    int64_t fetched = v[0], expires = v[1], attempted = v[2];
    if (attempted > src->last_attempt)
        src->last_attempt = attempted;
    size_t off = (size_t) (nl + 1 - d.buf);
    if (fetched > src->fetched) {
        struct jwk_set set;
        if (jwk_set_parse(d.buf + off, d.len - off, src->allowed, &set, NULL) == 0 && set.n > 0) {
            jwk_set_clear(&src->url);
            src->url = set;
            src->fetched = fetched;
            src->expires = expires;
            set_event(src, "jwks_cache=adopted keys=%zu", set.n);
        } else {
            jwk_set_clear(&set);
        }
    }
    if (doc_out) {
        memmove(d.buf, d.buf + off, d.len - off);
        d.len -= off;
        d.buf[d.len] = '\0';
        *doc_out = d;
    } else {
        free(d.buf);
    }
}

/* fetch: one attempt at the URL; on success the keys are replaced. */
static void fetch(struct jwks_source *src, int64_t now)
{
    const struct config *cfg = src->cfg;
    struct doc d = {.max_age = -1};
    char why[64] = "";
    struct jwk_set set = {0};
    src->last_attempt = now;
    src->fetches++;
    int rc = http_get(cfg, &d, why, sizeof why);
    if (rc == 0 && (rc = jwk_set_parse(d.buf ? d.buf : "", d.len, src->allowed, &set, NULL)) != 0)
        snprintf(why, sizeof why, "not_jwks");
    if (rc == 0 && set.n == 0) {
        snprintf(why, sizeof why, "no_usable_key");
        rc = ERR_INVALID;
    }
    if (rc == 0) {
        jwk_set_clear(&src->url);
        src->url = set;
        src->fetched = now;
        src->expires = now + lifetime(cfg, d.max_age);
        set_event(src, "jwks_fetch=ok keys=%zu max_age=%" PRId64, set.n, src->expires - now);
        cache_write(src, &d);
    } else {
        jwk_set_clear(&set);
        set_event(src, "jwks_fetch=failed reason=%s kept=%zu", why, src->url.n);
        /* Record the attempt for the other processes, with the last good
         * document as it stands in the file. */
        struct doc old = {0};
        int64_t keep = src->last_attempt;
        cache_read(src, &old);
        src->last_attempt = keep;
        cache_write(src, &old);
        free(old.buf);
    }
    free(d.buf);
}

/* refresh: fetch when allowed; `stale` says why we are here (stale keys,
 * else an unknown kid). Another process's fetch through the cache file
 * counts as ours. */
static void refresh(struct jwks_source *src, int64_t now, int stale)
{
    int64_t had = src->fetched;
    cache_read(src, NULL);
    if (stale ? (src->url.n > 0 && now < src->expires) : src->fetched > had)
        return;
    if (src->last_attempt && now - src->last_attempt < src->cfg->jwt_jwks_min_interval)
        return;
    fetch(src, now);
}

static size_t collect(const struct jwk_set *set, int alg, const char *kid,
                      const struct jwk_key **keys, size_t max, size_t n, int *alg_seen)
{
    for (size_t i = 0; i < set->n && n < max; i++) {
        const struct jwk_key *k = &set->keys[i];
        if (k->alg != alg)
            continue;
        *alg_seen = 1;
        if (!kid || !k->kid[0] || strcmp(kid, k->kid) == 0)
            keys[n++] = k;
    }
    return n;
}

size_t jwks_source_find(struct jwks_source *src, int64_t now, int alg, const char *kid,
                        const struct jwk_key **keys, size_t max, enum jwks_miss *miss)
{
    int alg_seen = 0;
    int url = src->cfg->jwt_jwks_url[0] != '\0';
    src->event[0] = '\0';
    *miss = JWKS_MISS_NONE;
    check_files(src, now);
    if (url && (src->url.n == 0 || now >= src->expires))
        refresh(src, now, 1);
    size_t n = collect(&src->files, alg, kid, keys, max, 0, &alg_seen);
    n = collect(&src->url, alg, kid, keys, max, n, &alg_seen);
    if (n == 0 && kid && url) {
        refresh(src, now, 0);
        alg_seen = 0;
        n = collect(&src->files, alg, kid, keys, max, 0, &alg_seen);
        n = collect(&src->url, alg, kid, keys, max, n, &alg_seen);
    }
    if (n == 0)
        *miss = src->files.n + src->url.n == 0 ? JWKS_MISS_NO_KEYS
                : alg_seen                     ? JWKS_MISS_KID
                                               : JWKS_MISS_ALG;
    return n;
}

const char *jwks_source_event(const struct jwks_source *src)
{
    return src->event[0] ? src->event : NULL;
}

unsigned long jwks_source_fetches(const struct jwks_source *src)
{
    return src->fetches;
}

int jwks_source_open(const struct config *cfg, struct jwks_source **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->jwt_jwks_url[0] && !cfg->jwt_jwks_file[0] && !cfg->jwt_public_key_file[0])
        return 0;
    struct jwks_source *src = calloc(1, sizeof *src);
    if (!src) {
        snprintf(err, errlen, "out of memory");
        return ERR_NOMEM;
    }
    src->cfg = cfg;
    src->allowed = (cfg->jwt_alg_mask & JWT_ALG_ASYMMETRIC);
    int rc = load_files(src, err, errlen);
    if (rc != 0) {
        jwks_source_free(src);
        return rc;
    }
    mtime_of(cfg->jwt_public_key_file, &src->pem_mtime);
    mtime_of(cfg->jwt_jwks_file, &src->jwks_mtime);
    if (cfg->jwt_jwks_url[0]) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl did not initialise");
            jwks_source_free(src);
            return ERR_INTERNAL;
        }
        if (cfg->jwt_jwks_cache_dir[0]) {
            unsigned char h[SHA256_DIGEST_LENGTH];
            SHA256((const unsigned char *) cfg->jwt_jwks_url, strlen(cfg->jwt_jwks_url), h);
            snprintf(src->cache_path, sizeof src->cache_path,
                     "%s/jwks-%02x%02x%02x%02x%02x%02x%02x%02x", cfg->jwt_jwks_cache_dir, h[0],
                     h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
            cache_read(src, NULL);
        }
    }
    *out = src;
    return 0;
}

void jwks_source_free(struct jwks_source *src)
{
    if (!src)
        return;
    jwk_set_clear(&src->files);
    jwk_set_clear(&src->url);
    free(src);
}
