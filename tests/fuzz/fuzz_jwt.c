/*
 * fuzz_jwt.c - bearer-token verification (jwt_verify), run on every API
 * request before anything else looks at the caller.
 *
 * A random token almost never carries a valid HMAC, so the claims checks
 * would stay unreached; the first input byte therefore picks a mode:
 *   bit 0 clear  the rest is the token text as a client sends it;
 *   bit 0 set    the rest is "header JSON \n claims JSON": the harness
 *                encodes both and signs them with the configured secret,
 *                so the header and claims rules run on hostile JSON.
 * Bit 1 makes the config name an issuer and an audience. The clock is
 * fixed (FUZZ_NOW), so seeds mean the same thing on every run.
 * Properties: only 0, ERR_AUTH or ERR_EXPIRED come back; success yields
 * a positive subject, failure leaves it 0; a token minted by jwt_sign
 * for that subject verifies to it.
 */
#include "b64url.h"
#include "errors.h"
#include "fuzz.h"
#include "jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW    1700000000
#define FUZZ_SECRET "fuzz-secret-0123456789abcdef-0123456789"

/* sign_token: "b64(hdr).b64(claims).b64(HMAC)" into a new NUL-terminated
 * string, or NULL when too big for a token or out of memory. */
static char *sign_token(const struct config *cfg, const uint8_t *hdr, size_t hlen,
                        const uint8_t *claims, size_t clen)
{
    if (hlen > JWT_MAX_LEN || clen > JWT_MAX_LEN)
        return NULL;
    size_t cap = B64URL_ENC_LEN(hlen) + B64URL_ENC_LEN(clen) + B64URL_ENC_LEN(32) + 3;
    char *tok = malloc(cap);
    if (!tok)
        return NULL;
    int n = b64url_encode(hdr, hlen, tok, cap);
    tok[n++] = '.';
    n += b64url_encode(claims, clen, tok + n, cap - (size_t) n);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), cfg->jwt_secret, (int) strlen(cfg->jwt_secret),
              (const unsigned char *) tok, (size_t) n, mac, &mac_len) ||
        mac_len != sizeof mac) {
        free(tok);
        return NULL;
    }
    tok[n++] = '.';
    b64url_encode(mac, sizeof mac, tok + n, cap - (size_t) n);
    return tok;
}

int fuzz_jwt_one(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    memcpy(cfg.jwt_secret, FUZZ_SECRET, sizeof FUZZ_SECRET);
    cfg.jwt_leeway = 30;
    cfg.jwt_ttl = 600;
    if (data[0] & 2) {
        memcpy(cfg.jwt_issuer, "chat-fuzz", sizeof "chat-fuzz");
        memcpy(cfg.jwt_audience, "chat-api", sizeof "chat-api");
    }
    const uint8_t *rest = data + 1;
    size_t len = size - 1;

    char *tok;
    if (data[0] & 1) {
        const uint8_t *nl = memchr(rest, '\n', len);
        size_t hlen = nl ? (size_t) (nl - rest) : len;
        tok = sign_token(&cfg, rest, hlen, nl ? nl + 1 : rest + len, nl ? len - hlen - 1 : 0);
    } else {
        tok = malloc(len + 1);
        if (tok) {
            memcpy(tok, rest, len);
            tok[len] = '\0';
        }
    }
    if (!tok)
        return 0;

    int64_t sub = -1;
    int rc = jwt_verify(&cfg, tok, FUZZ_NOW, &sub);
    FUZZ_CHECK(rc == 0 || rc == ERR_AUTH || rc == ERR_EXPIRED);
    FUZZ_CHECK(rc == 0 ? sub > 0 : sub == 0);
    free(tok);

    if (rc == 0) {
        char minted[JWT_MAX_LEN];
        int64_t back = 0;
        FUZZ_CHECK(jwt_sign(&cfg, sub, FUZZ_NOW, minted, sizeof minted) == 0);
        FUZZ_CHECK(jwt_verify(&cfg, minted, FUZZ_NOW, &back) == 0 && back == sub);
    }
    return 0;
}

FUZZ_TARGET(fuzz_jwt_one)
