/* UTF-8 checks and cuts. Every text that reaches the store, the admin API or TikTok goes
 * through jansson, which refuses invalid UTF-8: a byte-count cut must never split a character. */
#ifndef TTR_UTF8_H
#define TTR_UTF8_H
#include <stddef.h>

/* 1 when the NUL-terminated s is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
int utf8_valid(const char *s);
/* 1 when s holds a byte below 0x20 or 0x7f (DEL). */
int utf8_has_control(const char *s);
/* The longest prefix of s, at most n bytes, that does not end inside a character. */
size_t utf8_boundary(const char *s, size_t n);
/* Drops a character left incomplete at the end of s (by a byte-count cut), in place. */
void utf8_trim_partial(char *s);
/* Replaces each byte of s that is not part of a well-formed character with '?', in place:
 * for text read back from stores written before it was checked at ingest. */
void utf8_scrub(char *s);

#endif
