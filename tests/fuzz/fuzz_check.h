/* Invariants the fuzz targets assert on what a parser hands on. */
#ifndef TTR_FUZZ_CHECK_H
#define TTR_FUZZ_CHECK_H
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* 1 when the NUL-terminated s is well-formed UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF): everything stored ends up in JSON sent to TikTok. */
static inline int fuzz_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* A fixed-size text field must be terminated inside its array and be valid UTF-8. */
static inline void fuzz_check_field(const char *field, size_t size)
{
    if (!memchr(field, '\0', size) || !fuzz_utf8_valid(field))
        abort();
}
#define FUZZ_CHECK_FIELD(f) fuzz_check_field((f), sizeof(f))

/* A match key leaves a parser only as "" or a SHA-256 hex: never the raw value. */
static inline void fuzz_check_hash(const char *h)
{
    if (h[0] && !hash_is_sha256_hex(h))
        abort();
}

/* After normalize_scrub_url no email can be left: before the query an '@' only opens a
 * segment ("/@brand"), and the query and fragment hold no '@' or "%40" at all. */
static inline void fuzz_check_scrubbed(const char *url)
{
    const char *query = strpbrk(url, "?#");

    for (const char *p = url; *p; p++) {
        if (*p != '@')
            continue;
        if ((query && p > query) || (p > url && p[-1] != '/'))
            abort();
    }
    if (query && strstr(query, "%40"))
        abort();
}

#endif
