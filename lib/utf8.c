/* UTF-8 checks and character-boundary cuts (RFC 3629). */
#include "utf8.h"

#include <string.h>

/* Length of the well-formed character at p (1-4), or 0 when p does not start one. */
static size_t utf8_char_len(const unsigned char *p)
{
    unsigned cp;
    size_t n;

    if (*p < 0x80)
        return 1;
    if (*p >= 0xC2 && *p <= 0xDF) {
        n = 1;
        cp = *p & 0x1Fu;
    } else if (*p >= 0xE0 && *p <= 0xEF) {
        n = 2;
        cp = *p & 0x0Fu;
    } else if (*p >= 0xF0 && *p <= 0xF4) {
        n = 3;
        cp = *p & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_char_len(p);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

int utf8_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

size_t utf8_boundary(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = n, need;

    if (n == 0 || p[n] == '\0' || (p[n] & 0xC0) != 0x80)
        return n; /* the next byte starts a character (or ends the text) */
    /* p[n] continues a character: back off to its lead byte, at most three steps. */
    while (i > 0 && n - i < 3 && (p[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return n; /* no lead byte at all: not UTF-8, nothing to protect */
    need = p[i - 1] >= 0xF0 ? 4 : p[i - 1] >= 0xE0 ? 3 : p[i - 1] >= 0xC0 ? 2 : 1;
    return n - (i - 1) < need ? i - 1 : n;
}

void utf8_trim_partial(char *s)
{
    size_t n = strlen(s), i = n, need;
    const unsigned char *p = (const unsigned char *)s;

    while (i > 0 && n - i < 3 && (p[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0 || p[i - 1] < 0xC0)
        return;
    need = p[i - 1] >= 0xF0 ? 4 : p[i - 1] >= 0xE0 ? 3 : 2;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        size_t n = utf8_char_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}
