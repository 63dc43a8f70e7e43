/* libFuzzer target: phone and email normalization. Input: [2 bytes: country] [raw value].
 * Checks the promises of normalize.h: E.164 shape, idempotence, and that the hash is
 * the SHA-256 of the normalized form (what the browser side computes too). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "hash.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* normalize.h passes a 64-hex value (surrounding whitespace trimmed) through as a hash. */
static int is_hash(const char *raw)
{
    char hex[65];
    size_t n;

    while (isspace((unsigned char)*raw))
        raw++;
    n = strlen(raw);
    while (n > 0 && isspace((unsigned char)raw[n - 1]))
        n--;
    if (n != 64)
        return 0;
    memcpy(hex, raw, 64);
    hex[64] = '\0';
    return hash_is_sha256_hex(hex);
}

/* E.164: "+", no leading 0, at most 15 digits. Lengths are libphonenumber's per country
 * (Niue's "+683 7012" is valid), so the floor here is only a country code and a digit. */
static void check_e164(const char *e164)
{
    size_t n = strlen(e164);

    if (n < 3 || n > 16 || e164[0] != '+' || e164[1] == '0')
        abort();
    for (size_t i = 1; i < n; i++)
        if (!isdigit((unsigned char)e164[i]))
            abort();
}

static void check_phone(const char *raw, const char *country)
{
    char e164[32], again[32], h[65], want[65];
    int rc = normalize_phone(raw, country, e164, sizeof e164);
    int hrc = normalize_hash_phone(raw, country, h);

    fuzz_check_hash(h);
    if (is_hash(raw))
        return;
    if (rc != 0) {
        if (hrc == 0)
            abort();
        return;
    }
    check_e164(e164);
    if (normalize_phone(e164, country, again, sizeof again) != 0 || strcmp(again, e164) != 0)
        abort();
    hash_sha256_hex(e164, strlen(e164), want);
    if (hrc != 0 || strcmp(h, want) != 0)
        abort();
    /* A buffer too small must fail cleanly, never overflow. */
    char tiny[4];
    if (normalize_phone(raw, country, tiny, sizeof tiny) == 0)
        abort();
}

static void check_email(const char *raw)
{
    char norm[400], h[65], want[65];
    int rc = normalize_email(raw, norm, sizeof norm);
    int hrc = normalize_hash_email(raw, h);

    fuzz_check_hash(h);
    if (is_hash(raw) || rc != 0)
        return;
    /* Only hashed, never stored: any bytes may pass, but it must end inside the buffer. */
    if (!memchr(norm, '\0', sizeof norm))
        abort();
    for (const char *p = norm; *p; p++)
        if (isupper((unsigned char)*p) || isspace((unsigned char)*p))
            abort();
    hash_sha256_hex(norm, strlen(norm), want);
    if (hrc != 0 || strcmp(h, want) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char country[3], h[65];
    char *raw;

    if (size < 2 || size > 4096)
        return 0;
    country[0] = (char)data[0];
    country[1] = (char)data[1];
    country[2] = '\0';
    raw = malloc(size - 1);
    if (!raw)
        abort();
    memcpy(raw, data + 2, size - 2);
    raw[size - 2] = '\0';
    check_phone(raw, country);
    check_phone(raw, NULL);
    check_email(raw);
    normalize_hash_external_id(raw, h);
    fuzz_check_hash(h);
    free(raw);
    return 0;
}
