/*
 * fuzz_b64url.c - strict unpadded base64url, the outer layer of every JWT
 * and socket token a client presents.
 *
 * The input is decoded as text (heap block of its exact size) and encoded
 * as bytes. Properties: decoding is canonical (what decodes re-encodes to
 * the very same text) and never writes more than B64URL_DEC_MAX; encoding
 * any bytes gives B64URL_ENC_LEN characters that decode back to them.
 */
#include "b64url.h"
#include "errors.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int fuzz_b64url_one(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    size_t dcap = B64URL_DEC_MAX(size);
    unsigned char *dec = malloc(dcap);
    size_t ecap = B64URL_ENC_LEN(size) + 1;
    char *enc = malloc(ecap);
    unsigned char *back = malloc(size ? size : 1);
    if (!text || !dec || !enc || !back)
        goto out;
    if (size)
        memcpy(text, data, size);

    size_t n = 0;
    int rc = b64url_decode(text, size, dec, dcap, &n);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID);
    if (rc == 0) {
        FUZZ_CHECK(n <= dcap);
        char *re = malloc(B64URL_ENC_LEN(n) + 1);
        if (re) {
            FUZZ_CHECK(b64url_encode(dec, n, re, B64URL_ENC_LEN(n) + 1) == (int) size);
            FUZZ_CHECK(memcmp(re, text, size) == 0);
            free(re);
        }
    }

    int len = b64url_encode(data, size, enc, ecap);
    FUZZ_CHECK(len == (int) B64URL_ENC_LEN(size) && strlen(enc) == (size_t) len);
    FUZZ_CHECK(b64url_decode(enc, (size_t) len, back, size ? size : 1, &n) == 0);
    FUZZ_CHECK(n == size && memcmp(back, data, size) == 0);
out:
    free(text);
    free(dec);
    free(enc);
    free(back);
    return 0;
}

FUZZ_TARGET(fuzz_b64url_one)
