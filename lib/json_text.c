/* JSON text without a tree: see json_text.h. */
#include "json_text.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int json_text_init(struct json_text *t, size_t cap)
{
    t->len = 0;
    t->failed = 0;
    t->cap = cap < 16 ? 16 : cap;
    if (!(t->buf = malloc(t->cap))) {
        t->failed = 1;
        return -1;
    }
    t->buf[0] = '\0';
    return 0;
}

char *json_text_finish(struct json_text *t)
{
    char *text = t->buf;

    if (t->failed) {
        free(text);
        text = NULL;
    }
    t->buf = NULL;
    t->len = t->cap = 0;
    return text;
}

void json_text_put(struct json_text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void json_text_string(struct json_text *t, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    if (!utf8_valid(s)) {
        t->failed = 1;
        return;
    }
    JSON_TEXT_LIT(t, "\"");
    for (;;) {
        const char *run = s;
        unsigned char ch;
        while ((ch = (unsigned char)*s) >= 0x20 && ch != '"' && ch != '\\')
            s++;
        json_text_put(t, run, (size_t)(s - run));
        if (!ch)
            break;
        char esc[6] = {'\\', (char)ch, 'u', '0', '0', '0'};
        size_t n = 2;
        switch (ch) {
        case '"':
        case '\\': break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        json_text_put(t, esc, n);
        s++;
    }
    JSON_TEXT_LIT(t, "\"");
}

void json_text_key(struct json_text *t, const char *key, int first)
{
    if (first)
        JSON_TEXT_LIT(t, "\"");
    else
        JSON_TEXT_LIT(t, ",\"");
    json_text_put(t, key, strlen(key));
    JSON_TEXT_LIT(t, "\":");
}

void json_text_int(struct json_text *t, long long v)
{
    char num[24];
    json_text_put(t, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

void json_text_bool(struct json_text *t, int v)
{
    if (v)
        JSON_TEXT_LIT(t, "true");
    else
        JSON_TEXT_LIT(t, "false");
}

/* jansson's jsonp_dtostr: the locale's decimal point back to '.', a '.' or 'e' always
 * present (else the reader takes an integer), no '+' or leading zeros in the exponent. */
void json_text_real(struct json_text *t, double v, int precision)
{
    char num[100], *e;
    int n;

    if (!isfinite(v) || (n = snprintf(num, sizeof num, "%.*g", precision, v)) < 0 ||
        (size_t)n + 3 >= sizeof num) {
        t->failed = 1;
        return;
    }
    char point = localeconv()->decimal_point[0];
    if (point != '.' && (e = strchr(num, point)))
        *e = '.';
    if (!strchr(num, '.') && !strchr(num, 'e')) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(num, 'e'))) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(num + n - end) + 1);
            n -= (int)(end - start);
        }
    }
    json_text_put(t, num, (size_t)n);
}
