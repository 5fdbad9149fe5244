/*
 * jwk.c - key sets from JWKS documents and PEM files, and the EVP
 * signature checks (see jwk.h).
 *
 * Keys are built with EVP_PKEY_fromdata from the JWK members, then checked
 * (EVP_PKEY_public_check: an EC point must lie on the curve) before they
 * join a set, so a bad key is dropped once at load time and never reaches
 * a request.
 */
#include "jwk.h"
#include "b64url.h"
#include "errors.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define ES256_SIG_LEN 64
#define ED25519_LEN   32
#define P256_COORD    32
#define RSA_MAX_BYTES 1024 /* 8192-bit modulus */

static const struct {
    int alg;
    const char *name;
} alg_names[] = {
    {JWT_ALG_HS256, "HS256"}, {JWT_ALG_RS256, "RS256"}, {JWT_ALG_PS256, "PS256"},
    {JWT_ALG_ES256, "ES256"}, {JWT_ALG_EDDSA, "EdDSA"},
};

int jwt_alg_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (strcmp(alg_names[i].name, name) == 0)
            return alg_names[i].alg;
    return 0;
}

const char *jwt_alg_name(int alg)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (alg_names[i].alg == alg)
            return alg_names[i].name;
    return "?";
}

int jwt_alg_list_parse(const char *list, int *mask)
{
    char name[16];
    *mask = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        if (n >= sizeof name)
            return ERR_INVALID;
        memcpy(name, p, n);
        name[n] = '\0';
        int a = jwt_alg_from_name(name);
        if (!a)
            return ERR_INVALID;
        *mask |= a;
        p += n;
    }
    return *mask ? 0 : ERR_INVALID;
}

void jwk_set_clear(struct jwk_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        EVP_PKEY_free(set->keys[i].pkey);
    memset(set, 0, sizeof *set);
}

/* b64_member: the base64url member `name` of a JWK decoded into out. */
static int b64_member(const cJSON *jwk, const char *name, unsigned char *out, size_t cap,
                      size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
    if (!cJSON_IsString(v))
        return ERR_INVALID;
    return b64url_decode(v->valuestring, strlen(v->valuestring), out, cap, len) ? ERR_INVALID : 0;
}

/* pkey_from_params: EVP_PKEY_fromdata of one key type, NULL on failure. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_from_jwk(const cJSON *jwk)
{
    unsigned char n[RSA_MAX_BYTES + 2], e[16];
    size_t nlen, elen;
    EVP_PKEY *pkey = NULL;
    if (b64_member(jwk, "n", n, sizeof n, &nlen) || b64_member(jwk, "e", e, sizeof e, &elen) ||
        nlen == 0 || elen == 0 || nlen > RSA_MAX_BYTES)
        return NULL;
    BIGNUM *bn = BN_bin2bn(n, (int) nlen, NULL), *be = BN_bin2bn(e, (int) elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

static EVP_PKEY *ec_from_jwk(const cJSON *jwk)
{
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
    unsigned char pt[1 + 2 * P256_COORD];
    size_t xlen, ylen;
    EVP_PKEY *pkey = NULL;
    if (!cJSON_IsString(crv) || strcmp(crv->valuestring, "P-256") != 0 ||
        b64_member(jwk, "x", pt + 1, P256_COORD, &xlen) ||
        b64_member(jwk, "y", pt + 1 + P256_COORD, P256_COORD, &ylen) || xlen != P256_COORD ||
        ylen != P256_COORD)
        return NULL;
    pt[0] = 0x04; /* uncompressed point */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt))
        pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static EVP_PKEY *okp_from_jwk(const cJSON *jwk)
{
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
    unsigned char x[ED25519_LEN + 2];
    size_t xlen;
    if (!cJSON_IsString(crv) || strcmp(crv->valuestring, "Ed25519") != 0 ||
        b64_member(jwk, "x", x, sizeof x, &xlen) || xlen != ED25519_LEN)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
}

/* implied_alg: the algorithm a key's type allows when its JWK names none;
 * 0 when the key cannot verify any of ours. */
static int implied_alg(const EVP_PKEY *pkey)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        return JWT_ALG_RS256;
    case EVP_PKEY_EC:
        return JWT_ALG_ES256;
    case EVP_PKEY_ED25519:
        return JWT_ALG_EDDSA;
    default:
        return 0;
    }
}

/* key_fits: 1 when pkey may carry alg (type, curve, size) and is sound. */
static int key_fits(EVP_PKEY *pkey, int alg)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if ((alg == JWT_ALG_RS256 || alg == JWT_ALG_PS256) &&
        (id != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) < JWK_RSA_MIN_BITS))
        return 0;
    if (alg == JWT_ALG_ES256) {
        char group[32] = "";
        if (id != EVP_PKEY_EC ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            NULL) ||
            strcmp(group, "prime256v1") != 0)
            return 0;
    }
    if (alg == JWT_ALG_EDDSA && id != EVP_PKEY_ED25519)
        return 0;
    if (!(alg & JWT_ALG_ASYMMETRIC))
        return 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* add_jwk: one JWK into the set when it is usable; 1 added, 0 skipped. */
static int add_jwk(struct jwk_set *set, const cJSON *jwk, int allowed)
{
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
    if (set->n >= JWK_SET_MAX || !cJSON_IsObject(jwk) || !cJSON_IsString(kty))
        return 0;
    if (use && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig") != 0))
        return 0;
    if (kid && (!cJSON_IsString(kid) || strlen(kid->valuestring) >= JWK_KID_MAX))
        return 0;
    int want = 0;
    if (alg && (!cJSON_IsString(alg) || !(want = jwt_alg_from_name(alg->valuestring))))
        return 0;

    EVP_PKEY *pkey = NULL;
    if (strcmp(kty->valuestring, "RSA") == 0)
        pkey = rsa_from_jwk(jwk);
    else if (strcmp(kty->valuestring, "EC") == 0)
        pkey = ec_from_jwk(jwk);
    else if (strcmp(kty->valuestring, "OKP") == 0)
        pkey = okp_from_jwk(jwk);
    if (!pkey)
        return 0;
    if (!want)
        want = implied_alg(pkey);
    if (!(want & allowed) || !key_fits(pkey, want)) {
        EVP_PKEY_free(pkey);
        return 0;
    }
    struct jwk_key *k = &set->keys[set->n++];
    memset(k, 0, sizeof *k);
    if (kid)
        memcpy(k->kid, kid->valuestring, strlen(kid->valuestring) + 1);
    k->alg = want;
    k->pkey = pkey;
    return 1;
}

int jwk_set_parse(const char *text, size_t len, int allowed, struct jwk_set *set, size_t *skipped)
{
    memset(set, 0, sizeof *set);
    if (skipped)
        *skipped = 0;
    if (len > JWK_DOC_MAX)
        return ERR_TOO_LARGE;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc)
        return ERR_INVALID;
    while (end && end < text + len && isspace((unsigned char) *end))
        end++;
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    if (end != text + len || !cJSON_IsObject(doc) || !cJSON_IsArray(keys)) {
        cJSON_Delete(doc);
        return ERR_INVALID;
    }
    const cJSON *jwk;
    cJSON_ArrayForEach(jwk, keys)
    {
        if (!add_jwk(set, jwk, allowed) && skipped)
            (*skipped)++;
    }
    cJSON_Delete(doc);
    return 0;
}

int jwk_set_add_pem(struct jwk_set *set, const char *path, int alg, int allowed)
{
    if (set->n >= JWK_SET_MAX)
        return ERR_TOO_LARGE;
    FILE *f = fopen(path, "r");
    if (!f)
        return ERR_IO;
    EVP_PKEY *pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!pkey) {
        rewind(f);
        X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
        if (cert)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
    }
    fclose(f);
    if (!pkey)
        return ERR_INVALID;
    if (!alg)
        alg = implied_alg(pkey);
    if (!(alg & allowed) || !key_fits(pkey, alg)) {
        EVP_PKEY_free(pkey);
        return ERR_INVALID;
    }
    struct jwk_key *k = &set->keys[set->n++];
    memset(k, 0, sizeof *k);
    k->alg = alg;
    k->pkey = pkey;
    return 0;
}

/* es256_der: raw r||s (JWS) as the DER ECDSA-Sig-Value EVP expects. */
static int es256_der(const unsigned char *sig, unsigned char *der, size_t cap, size_t *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, P256_COORD, NULL),
           *s = BN_bin2bn(sig + P256_COORD, P256_COORD, NULL);
    int rc = ERR_INTERNAL;
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t) n > cap)
        goto out;
    unsigned char *p = der;
    *len = (size_t) i2d_ECDSA_SIG(es, &p);
    rc = 0;
out:
    ECDSA_SIG_free(es);
    return rc;
}

int jwk_verify(const struct jwk_key *k, const void *data, size_t len, const unsigned char *sig,
               size_t siglen)
{
    unsigned char der[80];
    const EVP_MD *md = EVP_sha256();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    switch (k->alg) {
    case JWT_ALG_RS256:
    case JWT_ALG_PS256:
        if (siglen != (size_t) EVP_PKEY_get_size(k->pkey))
            return 0;
        break;
    case JWT_ALG_ES256:
        /* JWS form only: exactly 64 bytes, converted here for EVP. */
        if (siglen != ES256_SIG_LEN || es256_der(sig, der, sizeof der, &siglen) != 0)
            return 0;
        sig = der;
        break;
    case JWT_ALG_EDDSA:
        if (siglen != 2 * ED25519_LEN)
            return 0;
        md = NULL; /* Ed25519 hashes itself */
        break;
    default:
        return 0;
    }

    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, k->pkey) != 1)
        goto out;
    if (k->alg == JWT_ALG_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    if (k->alg == JWT_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    ok = EVP_DigestVerify(mctx, sig, siglen, data, len) == 1;
out:
    EVP_MD_CTX_free(mctx);
    return ok;
}
