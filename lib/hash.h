/* SHA-256, HMAC-SHA256, hex/base64 and constant-time comparison (OpenSSL libcrypto). */
#ifndef TTR_HASH_H
#define TTR_HASH_H
#include <stddef.h>

#define HASH_HEX_LEN 64

/* out receives 64 lowercase hex chars + NUL. */
void hash_sha256_hex(const void *data, size_t len, char out[HASH_HEX_LEN + 1]);
/* out receives the 32 raw bytes of HMAC-SHA256(key, data). */
void hash_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                      unsigned char out[32]);
void hash_hex_encode(const unsigned char *in, size_t len, char *out /* 2*len+1 */);
/* The value of one hex digit (either case), or -1. */
int hash_hex_value(int c);
/* Base64 (standard alphabet, padded). Returns bytes written (excluding NUL) or -1. */
int hash_base64_encode(const unsigned char *in, size_t len, char *out, size_t outsize);
int hash_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize);
/* Constant time in len; returns 1 when equal. */
int hash_equal(const void *a, const void *b, size_t len);
/* Constant-time comparison of two NUL-terminated strings (time depends on lengths only). */
int hash_str_equal(const char *a, const char *b);
/* 1 when s is exactly 64 hex digits (an already-hashed value). */
int hash_is_sha256_hex(const char *s);

#endif
