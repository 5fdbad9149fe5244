/*
 * jwt.c - JWT verify (HS256 and the provider algorithms) and HS256 sign
 * (see jwt.h).
 *
 * Order of checks in jwt_verify_token: size and shape (three segments),
 * then the header (small, bounded) so an algorithm outside the allow-list
 * is refused before any key is looked at (RFC 8725 section 3.1), then the
 * key by alg and kid, then the signature, and only then the claims:
 * unauthenticated claims never reach the JSON parser.
 */
#include "jwt.h"
#include "b64url.h"
#include "errors.h"
#include "ids.h"
#include "jwk.h"
#include "jwks_source.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SIG_LEN    32   /* HMAC-SHA256 */
#define SIG_MAX    1024 /* an 8192-bit RSA signature */
#define KEYS_TRIED 4    /* keys of one alg tried for a token without kid */

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

/* typ_is: the header typ equals `want`, without case, with or without
 * "application/". */
static int typ_is(const char *t, const char *want)
{
    if (strncasecmp(t, "application/", 12) == 0)
        t += 12;
    if (strncasecmp(want, "application/", 12) == 0)
        want += 12;
    return strcasecmp(t, want) == 0;
}

/* check_header: the algorithm (in the allow-list) and the kid (NULL when
 * absent) of a token. */
static int check_header(const struct config *cfg, const cJSON *hdr, int *alg, const char **kid,
                        const char **reason)
{
    int allowed = cfg->jwt_alg_mask ? cfg->jwt_alg_mask : JWT_ALG_HS256;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(a)) {
        *reason = "no_alg";
        return ERR_AUTH;
    }
    if (strcasecmp(a->valuestring, "none") == 0) {
        *reason = "alg_none";
        return ERR_AUTH;
    }
    *alg = jwt_alg_from_name(a->valuestring);
    if (!(*alg & allowed)) {
        *reason = "alg_not_allowed";
        return ERR_AUTH;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (k && (!cJSON_IsString(k) || strlen(k->valuestring) >= JWK_KID_MAX)) {
        *reason = "bad_kid";
        return ERR_AUTH;
    }
    *kid = k ? k->valuestring : NULL;
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(hdr, "typ");
    if (cfg->jwt_typ[0]) {
        if (!cJSON_IsString(typ) || !typ_is(typ->valuestring, cfg->jwt_typ)) {
            *reason = "wrong_typ";
            return ERR_AUTH;
        }
    } else if (typ) {
        /* typ is optional; when present it must say JWT, or at+jwt for an
         * OAuth access token (RFC 9068). */
        if (!cJSON_IsString(typ) ||
            (!typ_is(typ->valuestring, "JWT") && !typ_is(typ->valuestring, "at+jwt"))) {
            *reason = "wrong_typ";
            return ERR_AUTH;
        }
    }
    /* We implement no extension, so a critical one can never be honoured. */
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit")) {
        *reason = "crit_header";
        return ERR_AUTH;
    }
    return 0;
}

/* check_signature: the token's signature over header.payload under the
 * key(s) its alg and kid select. */
static int check_signature(const struct config *cfg, struct jwks_source *keys, int alg,
                           const char *kid, const char *token, size_t signed_len,
                           const char *sig_text, size_t sig_text_len, int64_t now,
                           const char **reason)
{
    unsigned char sig[SIG_MAX + 3];
    size_t sig_len;
    if (b64url_decode(sig_text, sig_text_len, sig, sizeof sig, &sig_len) != 0) {
        *reason = "malformed_signature";
        return ERR_AUTH;
    }
    if (alg == JWT_ALG_HS256) {
        unsigned char want[SIG_LEN];
        if (sig_len != SIG_LEN) {
            *reason = "bad_signature_length";
            return ERR_AUTH;
        }
        if (hmac_sha256(cfg, token, signed_len, want) != 0) {
            *reason = "internal";
            return ERR_INTERNAL;
        }
        if (CRYPTO_memcmp(want, sig, SIG_LEN) != 0) {
            *reason = "bad_signature";
            return ERR_AUTH;
        }
        return 0;
    }
    if (alg == JWT_ALG_ES256 && sig_len != 64) {
        *reason = "bad_signature_length";
        return ERR_AUTH;
    }
    const struct jwk_key *cand[KEYS_TRIED];
    enum jwks_miss miss = JWKS_MISS_NO_KEYS;
    size_t n = keys ? jwks_source_find(keys, now, alg, kid, cand, KEYS_TRIED, &miss) : 0;
    if (n == 0) {
        *reason = miss == JWKS_MISS_KID   ? "unknown_kid"
                  : miss == JWKS_MISS_ALG ? "no_key_for_alg"
                                          : "no_provider_keys";
        return ERR_AUTH;
    }
    for (size_t i = 0; i < n; i++)
        if (jwk_verify(cand[i], token, signed_len, sig, sig_len))
            return 0;
    *reason = "bad_signature";
    return ERR_AUTH;
}

/* claim_string: a string claim copied into out; 0, or ERR_AUTH when absent,
 * not a string, empty or too long. */
static int claim_string(const cJSON *claims, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= cap)
        return ERR_AUTH;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

/* provider_identity: issuer, subject and name of a provider's token. */
static int provider_identity(const struct config *cfg, const cJSON *claims, struct jwt_identity *id,
                             const char **reason)
{
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
    if (iss && claim_string(claims, "iss", id->issuer, sizeof id->issuer) != 0) {
        *reason = "bad_issuer";
        return ERR_AUTH;
    }
    if (claim_string(claims, cfg->jwt_identity_claim, id->subject, sizeof id->subject) != 0) {
        *reason = "bad_subject";
        return ERR_AUTH;
    }
    /* the first of the name claims that is a usable string */
    char list[CONFIG_STR_MAX];
    snprintf(list, sizeof list, "%s", cfg->jwt_name_claims);
    char *save = NULL;
    for (char *c = strtok_r(list, ", ", &save); c; c = strtok_r(NULL, ", ", &save))
        if (claim_string(claims, c, id->name, sizeof id->name) == 0)
            break;
    return 0;
}

static int check_claims(const struct config *cfg, const cJSON *claims, int64_t now,
                        struct jwt_identity *id, const char **reason)
{
    int64_t exp, nbf;
    if (numeric_date(cJSON_GetObjectItemCaseSensitive(claims, "exp"), &exp) != 0) {
        *reason = "no_exp";
        return ERR_AUTH;
    }
    const cJSON *nbf_v = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    if (nbf_v && (numeric_date(nbf_v, &nbf) != 0 || now + cfg->jwt_leeway < nbf)) {
        *reason = "not_yet_valid";
        return ERR_AUTH;
    }
    if (cfg->jwt_issuer[0]) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, cfg->jwt_issuer) != 0) {
            *reason = "wrong_issuer";
            return ERR_AUTH;
        }
    }
    if (cfg->jwt_audience[0] &&
        !audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"), cfg->jwt_audience)) {
        *reason = "wrong_audience";
        return ERR_AUTH;
    }
    if (id->alg == JWT_ALG_HS256) {
        if (parse_sub(cJSON_GetObjectItemCaseSensitive(claims, "sub"), &id->user_id) != 0) {
            *reason = "bad_subject";
            return ERR_AUTH;
        }
    } else if (provider_identity(cfg, claims, id, reason) != 0) {
        return ERR_AUTH;
    }
    /* A stolen token is only as dangerous as it is long-lived: refuse one
     * whose issuer gave it more than jwt_max_lifetime, counted from iat and
     * from now (so a missing or future iat does not stretch it). */
    if (cfg->jwt_max_lifetime > 0) {
        const cJSON *iat_v = cJSON_GetObjectItemCaseSensitive(claims, "iat");
        int64_t iat;
        if ((iat_v && (numeric_date(iat_v, &iat) != 0 || exp - iat > cfg->jwt_max_lifetime)) ||
            exp - now > (int64_t) cfg->jwt_max_lifetime + cfg->jwt_leeway) {
            *reason = "lifetime_too_long";
            return ERR_AUTH;
        }
    }
    /* Expiry last: an expired token is reported as such only when it would
     * otherwise have been accepted. */
    if (now - cfg->jwt_leeway >= exp) {
        *reason = "expired";
        return ERR_EXPIRED;
    }
    return 0;
}

int jwt_verify_token(const struct config *cfg, struct jwks_source *keys, const char *token,
                     int64_t now, struct jwt_identity *id, const char **reason)
{
    memset(id, 0, sizeof *id);
    *reason = "malformed";
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    if (len == 0)
        return ERR_AUTH;
    if (len > JWT_MAX_LEN) {
        *reason = "too_long";
        return ERR_AUTH;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
        return ERR_AUTH;

    cJSON *hdr = NULL, *claims = NULL;
    const char *kid = NULL;
    int rc = ERR_AUTH;
    hdr = decode_json(token, (size_t) (dot1 - token));
    if (!hdr || check_header(cfg, hdr, &id->alg, &kid, reason) != 0)
        goto out;
    rc = check_signature(cfg, keys, id->alg, kid, token, (size_t) (dot2 - token), dot2 + 1,
                         len - (size_t) (dot2 + 1 - token), now, reason);
    if (rc != 0)
        goto out;
    rc = ERR_AUTH;
    claims = decode_json(dot1 + 1, (size_t) (dot2 - dot1 - 1));
    if (!claims) {
        *reason = "malformed_claims";
        goto out;
    }
    rc = check_claims(cfg, claims, now, id, reason);
    if (rc == 0)
        *reason = "ok";
out:
    if (rc != 0) {
        int alg = id->alg;
        memset(id, 0, sizeof *id);
        id->alg = alg;
    }
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}

int jwt_verify(const struct config *cfg, const char *token, int64_t now, int64_t *sub)
{
    struct jwt_identity id;
    const char *reason;
    int rc = jwt_verify_token(cfg, NULL, token, now, &id, &reason);
    *sub = rc == 0 && id.alg == JWT_ALG_HS256 ? id.user_id : 0;
    return rc != 0 ? rc : *sub > 0 ? 0 : ERR_AUTH;
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
