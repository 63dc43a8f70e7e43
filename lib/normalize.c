/* Match-key normalization. The browser (/collect) and every webhook source go through
 * these same functions so that both sides of a match hash to the same value. */
#include "normalize.h"

#include "hash.h"
#include "phone.h"

#include <ctype.h>
#include <string.h>

/* "+", at most 15 digits (E.164), NUL. */
#define PHONE_E164_SIZE 17
/* Longest raw input looked at: anything longer is not a phone number or email. */
#define RAW_MAX 320

/* Bounds [*start, *end) to raw without leading/trailing ASCII whitespace. */
static void trim_bounds(const char *raw, const char **start, const char **end)
{
    const char *s = raw, *e = raw + strnlen(raw, RAW_MAX + 1);

    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *start = s;
    *end = e;
}

int normalize_email(const char *raw, char *out, size_t size)
{
    const char *s, *e, *at = NULL;
    size_t n;

    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    if (!raw || strnlen(raw, RAW_MAX + 1) > RAW_MAX)
        return -1;
    trim_bounds(raw, &s, &e);
    n = (size_t)(e - s);
    if (n == 0 || n >= size)
        return -1;
    for (const char *p = s; p < e; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == 0x7f)
            return -1;
        if (ch == '@') {
            if (at)
                return -1;
            at = p;
        }
    }
    if (!at || at == s || at == e - 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
    return 0;
}

/* Collects the digits of raw into digits[] (size > PHONE_E164_SIZE + 4), after a "+" when
 * raw starts with one, dropping the usual separators. Letters or other symbols make it -1:
 * a vanity number ("555-555-SHIP") or an extension ("ext 7") is not what a shopper's
 * other systems hold for them, and libphonenumber would read both as dialable digits. */
static int phone_collect(const char *raw, char *digits, size_t size)
{
    const char *s, *e;
    size_t n = 0;

    trim_bounds(raw, &s, &e);
    if (s < e && *s == '+') {
        digits[n++] = '+';
        s++;
    }
    for (const char *p = s; p < e; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= size)
                return -1;
            digits[n++] = *p;
        } else if (!strchr(" \t-.()/", *p)) {
            return -1;
        }
    }
    digits[n] = '\0';
    return n > 0 && strcmp(digits, "+") != 0 ? 0 : -1;
}

/* libphonenumber (phone.cc) does the reading: the country's trunk prefix, also when typed
 * after the country code ("+44 07700 900123"), its international prefix ("011" in US,
 * "0011" in AU) and its number lengths. A leading "00" is read as the international
 * prefix first, whatever the country: most of the world dials out with it and no national
 * number starts with it; the country's own rule is tried after. */
int normalize_phone(const char *raw, const char *country, char *out, size_t size)
{
    char digits[PHONE_E164_SIZE + 8];

    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    if (!raw || strnlen(raw, RAW_MAX + 1) > RAW_MAX)
        return -1;
    if (phone_collect(raw, digits, sizeof digits) != 0)
        return -1;
    if (digits[0] == '+')
        return phone_format_e164(digits, NULL, out, size);
    if (strncmp(digits, "00", 2) == 0) {
        digits[1] = '+';
        if (phone_format_e164(digits + 1, NULL, out, size) == 0)
            return 0;
        digits[1] = '0';
    }
    /* A national number without its country cannot be read: "07911 123456" is British
     * only because the order says GB. */
    if (!country || !country[0])
        return -1;
    return phone_format_e164(digits, country, out, size);
}

/* A value that is already a SHA-256 hex digest is kept (lower-cased): senders and the
 * browser may hash before we see it. */
static int hash_passthrough(const char *raw, char out[65])
{
    const char *s, *e;

    /* Longer than any value looked at: not a hash, whatever its first bytes are. */
    if (strnlen(raw, RAW_MAX + 1) > RAW_MAX)
        return 0;
    trim_bounds(raw, &s, &e);
    if (e - s != HASH_HEX_LEN)
        return 0;
    /* Checked whole before anything is written: a refused value must leave out "", not
     * the raw text's first characters. */
    for (int i = 0; i < HASH_HEX_LEN; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    }
    for (int i = 0; i < HASH_HEX_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[HASH_HEX_LEN] = '\0';
    return 1;
}

int normalize_hash_email(const char *raw, char out[65])
{
    char norm[RAW_MAX + 1];

    out[0] = '\0';
    if (!raw)
        return -1;
    if (hash_passthrough(raw, out))
        return 0;
    if (normalize_email(raw, norm, sizeof norm) != 0)
        return -1;
    hash_sha256_hex(norm, strlen(norm), out);
    return out[0] ? 0 : -1;
}

int normalize_hash_phone(const char *raw, const char *country, char out[65])
{
    char norm[PHONE_E164_SIZE];

    out[0] = '\0';
    if (!raw)
        return -1;
    if (hash_passthrough(raw, out))
        return 0;
    if (normalize_phone(raw, country, norm, sizeof norm) != 0)
        return -1;
    hash_sha256_hex(norm, strlen(norm), out);
    return out[0] ? 0 : -1;
}

int normalize_hash_external_id(const char *raw, char out[65])
{
    const char *s, *e;

    out[0] = '\0';
    if (!raw || strnlen(raw, RAW_MAX + 1) > RAW_MAX)
        return -1;
    if (hash_passthrough(raw, out))
        return 0;
    trim_bounds(raw, &s, &e);
    if (s == e)
        return -1;
    hash_sha256_hex(s, (size_t)(e - s), out);
    return out[0] ? 0 : -1;
}

/* 1 when the n bytes at s hold '@' past offset from, raw or percent-encoded up to three
 * times ("%40", "%2540", "%252540"). */
static int scrub_has_at(const char *s, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        if (s[i] == '@')
            return 1;
        if (s[i] != '%')
            continue;
        size_t j = i + 1;
        for (int round = 0; round < 3 && j + 1 < n && s[j] == '2' && s[j + 1] == '5'; round++)
            j += 2;
        if (j + 1 < n && s[j] == '4' && s[j + 1] == '0')
            return 1;
    }
    return 0;
}

/* 1 when the query key [s, s+n) names a phone number: "phone", "mobile", "telephone",
 * "msisdn", "whatsapp" anywhere, or a word "tel", "cell", "sms", "number" ("invitee_phone",
 * "customer[phone]", Calendly's "text_reminder_number"). */
static int scrub_phone_key(const char *s, size_t n)
{
    static const char *const anywhere[] = {"phone", "mobile", "msisdn", "whatsapp"};
    static const char *const words[] = {"tel", "cell", "sms", "number"};
    char key[64];
    size_t k = 0;

    for (size_t i = 0; i < n && k + 1 < sizeof key; i++)
        key[k++] = (char)tolower((unsigned char)s[i]);
    key[k] = '\0';
    for (size_t i = 0; i < sizeof anywhere / sizeof anywhere[0]; i++)
        if (strstr(key, anywhere[i]))
            return 1;
    for (char *w = key; *w;) {
        size_t len = 0;
        while (isalpha((unsigned char)w[len]))
            len++;
        for (size_t i = 0; len && i < sizeof words / sizeof words[0]; i++)
            if (len == strlen(words[i]) && strncmp(w, words[i], len) == 0)
                return 1;
        w += len ? len : 1;
    }
    return 0;
}

/* 1 when the value [s, s+n) (percent-decoded once) is a phone number: "+", "00" or "tel:"
 * then 8-15 digits, or 10-15 digits written with a phone's separators ("(404) 555-1234").
 * Ids and timestamps (digits alone) are left alone. */
static int scrub_phone_value(const char *s, size_t n)
{
    char v[96];
    size_t k = 0, digits = 0, seps = 0, i = 0;
    int intl = 0;

    for (; i < n && k + 1 < sizeof v; i++) {
        if (s[i] == '%' && i + 2 < n && hash_hex_value((unsigned char)s[i + 1]) >= 0 &&
            hash_hex_value((unsigned char)s[i + 2]) >= 0) {
            v[k++] = (char)(hash_hex_value((unsigned char)s[i + 1]) << 4 |
                            hash_hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else {
            v[k++] = s[i];
        }
    }
    if (i < n)
        return 0; /* longer than any phone */
    v[k] = '\0';
    const char *p = v;
    while (*p == ' ')
        p++; /* an unencoded "+" reads as a space in a query */
    if (strncasecmp(p, "tel:", 4) == 0)
        p += 4, intl = 1;
    if (*p == '+' || (p > v && p[-1] == ' ' && isdigit((unsigned char)*p)))
        intl = 1;
    if (*p == '+')
        p++;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (strchr(" ()-./", *p))
            seps++;
        else
            return 0;
    }
    if (strncmp(v, "00", 2) == 0)
        intl = 1;
    return digits <= 15 && (intl ? digits >= 8 : digits >= 10 && seps > 0);
}

/* Just past "scheme://" when the URL starts with a scheme (RFC 3986: a letter, then
 * letters, digits, '+', '-', '.'), or NULL. */
static char *scrub_authority(char *url)
{
    char *p = url;

    if (!isalpha((unsigned char)*p))
        return NULL;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return strncmp(p, "://", 3) == 0 ? p + 3 : NULL;
}

/* Drops "user:password@" after "scheme://": credentials or an address, never wanted. */
static void scrub_userinfo(char *url)
{
    char *auth = scrub_authority(url), *end, *at = NULL;

    if (!auth)
        return;
    end = auth + strcspn(auth, "/?#");
    for (char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (at)
        memmove(auth, at + 1, strlen(at + 1) + 1);
}

void normalize_scrub_url(char *url)
{
    char *p, *w, *start, *end, *query;

    if (!url || !*url)
        return;
    end = url + strlen(url);
    scrub_userinfo(url);
    start = scrub_authority(url);
    start = start ? start + strcspn(start, "/?#") : url;
    /* Path segments are split on '/', query and fragment items on '&', ';' and '#'. Reads
     * (p) run ahead of writes (w), so query points into text not yet rewritten. */
    query = strpbrk(start, "?#");
    w = p = start;
    while (*p) {
        int in_path = !query || p <= query;
        const char *seps = in_path ? "/?#" : "&#;";
        size_t n = strcspn(p, seps);
        char *eq = in_path ? NULL : memchr(p, '=', n);
        size_t keylen = eq ? (size_t)(eq - p) : n, keep = n;
        if (scrub_has_at(p, keylen, in_path ? 1 : 0))
            keep = 0;
        else if (in_path && n > 1 && (p[0] == '+' || strncasecmp(p, "%2B", 3) == 0) &&
                 scrub_phone_value(p, n))
            keep = 0; /* "/call/+14045551234" */
        else if (eq && (scrub_has_at(eq + 1, n - keylen - 1, 0) ||
                        scrub_phone_key(p, keylen) || scrub_phone_value(eq + 1, n - keylen - 1)))
            keep = keylen + 1;
        memmove(w, p, keep);
        w += keep;
        p += n;
        if (*p)
            *w++ = *p++;
    }
    /* The whole tail is zeroed: dropped text must not linger in the buffer. */
    memset(w, 0, (size_t)(end - w) + 1);
}
