/* JSON written straight to text, byte for byte as jansson's json_dumps(JSON_COMPACT) writes
 * it: for the stored forms built on every webhook, where a tree and its dump cost more. */
#ifndef TTR_JSON_TEXT_H
#define TTR_JSON_TEXT_H
#include <stddef.h>

/* A growing NUL-terminated buffer; after an allocation failure or a refused value, failed
 * is set and every later write does nothing. */
struct json_text {
    char *buf; /* owned */
    size_t len, cap;
    int failed;
};

/* Starts an empty text with room for cap bytes (one allocation for the usual size).
 * Returns 0, or -1 out of memory. */
int json_text_init(struct json_text *t, size_t cap);
/* The text (new: the caller frees it), or NULL when anything failed (t's buffer is freed
 * either way). */
char *json_text_finish(struct json_text *t) __attribute__((warn_unused_result));
/* Appends n raw bytes. */
void json_text_put(struct json_text *t, const char *s, size_t n);
#define JSON_TEXT_LIT(t, lit) json_text_put((t), (lit), sizeof(lit) - 1)
/* A string, escaped as jansson escapes it; invalid UTF-8 fails the text, as json_string()
 * refuses it. */
void json_text_string(struct json_text *t, const char *s);
/* "key": after a comma unless first. key is written as it is (no escaping). */
void json_text_key(struct json_text *t, const char *key, int first);
void json_text_int(struct json_text *t, long long v);
void json_text_bool(struct json_text *t, int v);
/* A real as jansson writes it with JSON_REAL_PRECISION(precision): %.<precision>g with
 * ".0" added to a whole number and the exponent without '+' or leading zeros. A value
 * that is not finite fails the text, as json_real() refuses it. */
void json_text_real(struct json_text *t, double v, int precision);

#endif
