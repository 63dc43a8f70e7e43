/* Digest, MAC and encoding primitives over OpenSSL libcrypto. */
#include "hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

int hash_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hash_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void hash_sha256_hex(const void *data, size_t len, char out[HASH_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        /* Never hand back an uninitialised buffer that could pass as a hash. */
        out[0] = '\0';
        return;
    }
    hash_hex_encode(md, 32, out);
}

void hash_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      unsigned char out[32])
{
    unsigned int outlen = 0;
    static const unsigned char empty[1];

    /* OpenSSL treats a NULL key as "reuse the previous key"; an empty key must be explicit. */
    if (!HMAC(EVP_sha256(), key ? key : empty, (int)keylen, data ? data : empty, len, out,
              &outlen) ||
        outlen != 32)
        memset(out, 0, 32);
}

int hash_base64_encode(const unsigned char *in, size_t len, char *out, size_t outsize)
{
    size_t need = 4 * ((len + 2) / 3) + 1;

    if (!out || outsize < need || len > 0x3fffffff)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* EVP_DecodeBlock counts padding bytes as zero output bytes; subtract them, and it does
 * not accept whitespace or a missing '=' so those are normalised first. */
int hash_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize)
{
    unsigned char *clean = NULL, *raw = NULL;
    size_t n = 0, pad = 0;
    int rc = -1, got;

    if (!in || !out)
        return -1;
    clean = OPENSSL_malloc(inlen + 4);
    if (!clean)
        goto out;
    for (size_t i = 0; i < inlen; i++) {
        char ch = in[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        clean[n++] = (unsigned char)ch;
    }
    while (n % 4 != 0) {
        if (n % 4 == 1)
            goto out;
        clean[n++] = '=';
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    for (size_t i = n; i > 0 && clean[i - 1] == '='; i--)
        pad++;
    /* Padding only at the very end, at most two: EVP_DecodeBlock would accept more. */
    if (pad > 2 || memchr(clean, '=', n - pad) != NULL)
        goto out;
    raw = OPENSSL_malloc(n / 4 * 3 + 1);
    if (!raw)
        goto out;
    got = EVP_DecodeBlock(raw, clean, (int)n);
    if (got < 0 || (size_t)got < pad)
        goto out;
    got -= (int)pad;
    if ((size_t)got > outsize)
        goto out;
    memcpy(out, raw, (size_t)got);
    rc = got;
out:
    OPENSSL_free(clean);
    OPENSSL_free(raw);
    return rc;
}

int hash_equal(const void *a, const void *b, size_t len)
{
    if (!a || !b)
        return 0;
    return CRYPTO_memcmp(a, b, len) == 0;
}

int hash_str_equal(const char *a, const char *b)
{
    size_t la, lb;

    if (!a || !b)
        return 0;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb) {
        /* Still compare something so that the timing depends on lengths only. */
        (void)CRYPTO_memcmp(a, a, la);
        return 0;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}

int hash_is_sha256_hex(const char *s)
{
    size_t i;

    if (!s)
        return 0;
    for (i = 0; s[i]; i++) {
        char ch = s[i];
        int hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        if (!hex || i >= HASH_HEX_LEN)
            return 0;
    }
    return i == HASH_HEX_LEN;
}
