/* idp_keys.c - test key pairs, JWKS text and token signing (see idp_keys.h). */
#include "idp_keys.h"
#include "b64url.h"
#include "jwk.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>

int idp_key_new(struct idp_key *k, int alg, const char *kid)
{
    memset(k, 0, sizeof *k);
    EVP_PKEY *p = NULL;
    switch (alg) {
    case JWT_ALG_RS256:
    case JWT_ALG_PS256:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        break;
    case JWT_ALG_ES256:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case JWT_ALG_EDDSA:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return -1;
    }
    if (!p)
        return -1;
    k->pkey = p;
    k->alg = alg;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    return 0;
}

void idp_key_free(struct idp_key *k)
{
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

static int b64_bn(const EVP_PKEY *p, const char *name, char *out, size_t cap)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    if (!EVP_PKEY_get_bn_param(p, name, &bn))
        return -1;
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    return n > 0 ? b64url_encode(buf, (size_t) n, out, cap) : -1;
}

int idp_jwk(const struct idp_key *k, char *out, size_t cap)
{
    char a[700], b[700];
    int n;
    if (k->alg == JWT_ALG_RS256 || k->alg == JWT_ALG_PS256) {
        if (b64_bn(k->pkey, OSSL_PKEY_PARAM_RSA_N, a, sizeof a) < 0 ||
            b64_bn(k->pkey, OSSL_PKEY_PARAM_RSA_E, b, sizeof b) < 0)
            return -1;
        n = snprintf(out, cap,
                     "{\"kty\":\"RSA\",\"kid\":\"%s\",\"alg\":\"%s\",\"use\":\"sig\",\"n\":\"%s\","
                     "\"e\":\"%s\"}",
                     k->kid, jwt_alg_name(k->alg), a, b);
    } else if (k->alg == JWT_ALG_ES256) {
        unsigned char pt[65];
        size_t len = 0;
        if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                             sizeof pt, &len) ||
            len != 65 || b64url_encode(pt + 1, 32, a, sizeof a) < 0 ||
            b64url_encode(pt + 33, 32, b, sizeof b) < 0)
            return -1;
        n = snprintf(out, cap,
                     "{\"kty\":\"EC\",\"kid\":\"%s\",\"alg\":\"ES256\",\"use\":\"sig\","
                     "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                     k->kid, a, b);
    } else {
        unsigned char raw[32];
        size_t len = sizeof raw;
        if (!EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) ||
            b64url_encode(raw, len, a, sizeof a) < 0)
            return -1;
        n = snprintf(out, cap,
                     "{\"kty\":\"OKP\",\"kid\":\"%s\",\"alg\":\"EdDSA\",\"use\":\"sig\","
                     "\"crv\":\"Ed25519\",\"x\":\"%s\"}",
                     k->kid, a);
    }
    return n > 0 && (size_t) n < cap ? n : -1;
}

int idp_jwks(const struct idp_key *const *keys, size_t n, char *out, size_t cap)
{
    size_t pos = 0;
    int w = snprintf(out, cap, "{\"keys\":[");
    if (w < 0 || (size_t) w >= cap)
        return -1;
    pos = (size_t) w;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            if (pos + 1 >= cap)
                return -1;
            out[pos++] = ',';
        }
        w = idp_jwk(keys[i], out + pos, cap - pos);
        if (w < 0)
            return -1;
        pos += (size_t) w;
    }
    w = snprintf(out + pos, cap - pos, "]}");
    return w < 0 || (size_t) w >= cap - pos ? -1 : (int) (pos + (size_t) w);
}

int idp_pem_text(const struct idp_key *k, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    int rc = -1;
    if (b && PEM_write_bio_PUBKEY(b, k->pkey)) {
        long n = BIO_get_mem_data(b, &data);
        if (n > 0 && (size_t) n < cap) {
            memcpy(out, data, (size_t) n);
            out[n] = '\0';
            rc = 0;
        }
    }
    BIO_free(b);
    return rc;
}

int idp_pem_write(const struct idp_key *k, const char *path)
{
    char pem[4096];
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = idp_pem_text(k, pem, sizeof pem) == 0 && fputs(pem, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* signing_input: b64(header).b64(payload) into out; its length or -1. */
static int signing_input(const char *header, const char *payload, char *out, size_t cap)
{
    int a = b64url_encode(header, strlen(header), out, cap);
    if (a < 0 || (size_t) a + 2 >= cap)
        return -1;
    out[a] = '.';
    int b = b64url_encode(payload, strlen(payload), out + a + 1, cap - (size_t) a - 1);
    return b < 0 ? -1 : a + 1 + b;
}

static int append_sig(char *out, size_t cap, int pos, const unsigned char *sig, size_t len)
{
    if (pos < 0 || (size_t) pos + 2 >= cap)
        return -1;
    out[pos] = '.';
    int n = b64url_encode(sig, len, out + pos + 1, cap - (size_t) pos - 1);
    return n < 0 ? -1 : pos + 1 + n;
}

int idp_sign_raw(const char *header, const char *payload, const unsigned char *sig, size_t sig_len,
                 char *out, size_t cap)
{
    return append_sig(out, cap, signing_input(header, payload, out, cap), sig, sig_len);
}

int idp_sign_hs256(const void *secret, size_t len, const char *header, const char *payload,
                   char *out, size_t cap)
{
    int pos = signing_input(header, payload, out, cap);
    unsigned char mac[32];
    unsigned int mlen = 0;
    if (pos < 0 ||
        !HMAC(EVP_sha256(), secret, (int) len, (unsigned char *) out, (size_t) pos, mac, &mlen))
        return -1;
    return append_sig(out, cap, pos, mac, mlen);
}

int idp_sign(const struct idp_key *k, const char *header, const char *payload, char *out,
             size_t cap)
{
    char hdr[256];
    if (!header) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 jwt_alg_name(k->alg), k->kid);
        header = hdr;
    }
    int pos = signing_input(header, payload, out, cap);
    if (pos < 0)
        return -1;
    unsigned char sig[1024], raw[64];
    size_t slen = sizeof sig;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = m && EVP_DigestSignInit(m, &pctx, k->alg == JWT_ALG_EDDSA ? NULL : EVP_sha256(), NULL,
                                     k->pkey) == 1;
    if (ok && k->alg == JWT_ALG_PS256)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(m, sig, &slen, (unsigned char *) out, (size_t) pos) == 1;
    EVP_MD_CTX_free(m);
    if (!ok)
        return -1;
    if (k->alg == JWT_ALG_ES256) {
        /* DER ECDSA-Sig-Value to the JWS form: r and s, 32 bytes each */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) slen);
        if (!es)
            return -1;
        ok = BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32;
        ECDSA_SIG_free(es);
        if (!ok)
            return -1;
        return append_sig(out, cap, pos, raw, sizeof raw);
    }
    return append_sig(out, cap, pos, sig, slen);
}
