/*
 * jwt.c - HS256 verify and sign (see jwt.h).
 *
 * Order of checks in jwt_verify: size and shape (three segments), then the
 * header (small, bounded) so anything but alg HS256 is refused before a MAC
 * is computed (RFC 8725 section 3.1), then the signature, and only then the
 * claims: unauthenticated claims never reach the JSON parser.
 */
#include "jwt.h"
#include "b64url.h"
#include "errors.h"
#include "ids.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SIG_LEN 32 /* HMAC-SHA256 */

/* has_duplicate_member: 1 when an object repeats a member name (RFC 7519
 * lets us refuse such a token, and cJSON would silently take the first). */
static int has_duplicate_member(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return 1;
    return 0;
}

/* decode_json: base64url-decode one segment and parse it as a JSON object.
 * Returns the object (caller frees with cJSON_Delete) or NULL. */
static cJSON *decode_json(const char *seg, size_t len)
{
    unsigned char buf[B64URL_DEC_MAX(JWT_MAX_LEN)];
    size_t n;
    if (b64url_decode(seg, len, buf, sizeof buf, &n) != 0 || n == 0)
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *) buf, n, &end, 0);
    if (!j)
        return NULL;
    if (end != (const char *) buf + n || !cJSON_IsObject(j) || has_duplicate_member(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int hmac_sha256(const struct config *cfg, const char *data, size_t len,
                       unsigned char out[SIG_LEN])
{
    unsigned int outlen = 0;
    if (!HMAC(EVP_sha256(), cfg->jwt_secret, (int) strlen(cfg->jwt_secret),
              (const unsigned char *) data, len, out, &outlen) ||
        outlen != SIG_LEN)
        return ERR_INTERNAL;
    return 0;
}

/* numeric_date: a NumericDate claim as whole seconds (fractions are
 * floored); 0 when present and valid, ERR_AUTH otherwise. */
static int numeric_date(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 253402300799.0) /* year 9999 */
        return ERR_AUTH;
    *out = (int64_t) v->valuedouble; /* >= 0: truncation is floor */
    return 0;
}

/* parse_sub: the user id in "sub"; decimal string (canonical, no sign, no
 * leading zero) or an integral number. */
static int parse_sub(const cJSON *v, int64_t *out)
{
    if (cJSON_IsString(v)) {
        return id_parse(v->valuestring, strlen(v->valuestring), out) == 0 ? 0 : ERR_AUTH;
    }
    if (cJSON_IsNumber(v) && id_from_double(v->valuedouble, 1, out) == 0)
        return 0;
    return ERR_AUTH;
}

/* audience_ok: "aud" is a string or an array of strings, one of which must
 * equal the configured audience. */
static int audience_ok(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, aud)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, want) == 0)
            return 1;
    }
    return 0;
}

static int check_header(const cJSON *hdr)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
        return ERR_AUTH;
    /* typ is optional; when present it must say JWT, or at+jwt for an
     * OAuth access token (RFC 9068), with or without "application/". */
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(hdr, "typ");
    if (typ) {
        if (!cJSON_IsString(typ))
            return ERR_AUTH;
        const char *t = typ->valuestring;
        if (strncasecmp(t, "application/", 12) == 0)
            t += 12;
        if (strcasecmp(t, "JWT") != 0 && strcasecmp(t, "at+jwt") != 0)
            return ERR_AUTH;
    }
    /* We implement no extension, so a critical one can never be honoured. */
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit"))
        return ERR_AUTH;
    return 0;
}

static int check_claims(const struct config *cfg, const cJSON *claims, int64_t now, int64_t *sub)
{
    int64_t exp, nbf;
    if (numeric_date(cJSON_GetObjectItemCaseSensitive(claims, "exp"), &exp) != 0)
        return ERR_AUTH;
    const cJSON *nbf_v = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    if (nbf_v && (numeric_date(nbf_v, &nbf) != 0 || now + cfg->jwt_leeway < nbf))
        return ERR_AUTH;
    if (cfg->jwt_issuer[0]) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, cfg->jwt_issuer) != 0)
            return ERR_AUTH;
    }
    if (cfg->jwt_audience[0] &&
        !audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"), cfg->jwt_audience))
        return ERR_AUTH;
    if (parse_sub(cJSON_GetObjectItemCaseSensitive(claims, "sub"), sub) != 0)
        return ERR_AUTH;
    /* A stolen token is only as dangerous as it is long-lived: refuse one
     * whose issuer gave it more than jwt_max_lifetime, counted from iat and
     * from now (so a missing or future iat does not stretch it). */
    if (cfg->jwt_max_lifetime > 0) {
        const cJSON *iat_v = cJSON_GetObjectItemCaseSensitive(claims, "iat");
        int64_t iat;
        if (iat_v && (numeric_date(iat_v, &iat) != 0 || exp - iat > cfg->jwt_max_lifetime))
            return ERR_AUTH;
        if (exp - now > (int64_t) cfg->jwt_max_lifetime + cfg->jwt_leeway)
            return ERR_AUTH;
    }
    /* Expiry last: an expired token is reported as such only when it would
     * otherwise have been accepted. */
    if (now - cfg->jwt_leeway >= exp)
        return ERR_EXPIRED;
    return 0;
}

int jwt_verify(const struct config *cfg, const char *token, int64_t now, int64_t *sub)
{
    *sub = 0;
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    if (len == 0 || len > JWT_MAX_LEN)
        return ERR_AUTH;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
        return ERR_AUTH;

    cJSON *hdr = NULL, *claims = NULL;
    int rc = ERR_AUTH;
    hdr = decode_json(token, (size_t) (dot1 - token));
    if (!hdr || check_header(hdr) != 0)
        goto out;

    unsigned char want[SIG_LEN], got[SIG_LEN + 3];
    size_t got_len;
    if (b64url_decode(dot2 + 1, len - (size_t) (dot2 + 1 - token), got, sizeof got, &got_len) ||
        got_len != SIG_LEN)
        goto out;
    if ((rc = hmac_sha256(cfg, token, (size_t) (dot2 - token), want)) != 0)
        goto out;
    rc = ERR_AUTH;
    if (CRYPTO_memcmp(want, got, SIG_LEN) != 0)
        goto out;

    claims = decode_json(dot1 + 1, (size_t) (dot2 - dot1 - 1));
    if (!claims)
        goto out;
    rc = check_claims(cfg, claims, now, sub);
out:
    if (rc != 0)
        *sub = 0;
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}

/* append_b64_json: encode a cJSON object as one base64url segment at
 * out + *pos. */
static int append_b64_json(const cJSON *obj, char *out, size_t cap, size_t *pos)
{
    char *txt = cJSON_PrintUnformatted(obj);
    if (!txt)
        return ERR_NOMEM;
    int n = b64url_encode(txt, strlen(txt), out + *pos, cap - *pos);
    cJSON_free(txt);
    if (n < 0)
        return n;
    *pos += (size_t) n;
    return 0;
}

int jwt_sign(const struct config *cfg, int64_t sub, int64_t now, char *out, size_t cap)
{
    char sub_txt[24];
    size_t pos = 0;
    int rc = ERR_NOMEM;
    cJSON *hdr = cJSON_CreateObject(), *claims = cJSON_CreateObject();
    if (cap)
        out[0] = '\0';
    snprintf(sub_txt, sizeof sub_txt, "%lld", (long long) sub);
    if (!hdr || !claims || !cJSON_AddStringToObject(hdr, "alg", "HS256") ||
        !cJSON_AddStringToObject(hdr, "typ", "JWT") ||
        !cJSON_AddStringToObject(claims, "sub", sub_txt) ||
        !cJSON_AddNumberToObject(claims, "iat", (double) now) ||
        !cJSON_AddNumberToObject(claims, "exp", (double) (now + cfg->jwt_ttl)))
        goto out;
    if (cfg->jwt_issuer[0] && !cJSON_AddStringToObject(claims, "iss", cfg->jwt_issuer))
        goto out;
    if (cfg->jwt_audience[0] && !cJSON_AddStringToObject(claims, "aud", cfg->jwt_audience))
        goto out;

    if ((rc = append_b64_json(hdr, out, cap, &pos)) != 0)
        goto out;
    rc = ERR_TOO_LARGE;
    if (cap - pos < 2)
        goto out;
    out[pos++] = '.';
    if ((rc = append_b64_json(claims, out, cap, &pos)) != 0)
        goto out;
    rc = ERR_TOO_LARGE;
    if (cap - pos < 2)
        goto out;
    unsigned char sig[SIG_LEN];
    if ((rc = hmac_sha256(cfg, out, pos, sig)) != 0)
        goto out;
    out[pos++] = '.';
    int n = b64url_encode(sig, sizeof sig, out + pos, cap - pos);
    rc = n < 0 ? n : 0;
out:
    if (rc != 0 && cap)
        out[0] = '\0';
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}
