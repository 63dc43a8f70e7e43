/* Match-key normalization. The browser (/collect) and every webhook source go through
 * these same functions so that both sides of a match hash to the same value. */
#include "normalize.h"

#include "hash.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* E.164 allows at most 15 digits; fewer than 8 is no reachable number. */
#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15
/* Longest raw input looked at: anything longer is not a phone number or email. */
#define RAW_MAX 320

struct country_code {
    char iso[3];
    const char *cc;    /* country calling code */
    const char *trunk; /* national trunk prefix dropped before the subscriber number */
    const char *trunk2;
};

/* NANP countries (cc "1") have no "0" trunk: a national number written with a leading 1
 * carries the country code itself, handled in phone_national(). Italy, Spain, Portugal,
 * Greece, the Nordics without trunk and Mexico keep every digit. */
static const struct country_code country_codes[] = {
    {"US", "1", "", NULL},    {"CA", "1", "", NULL},    {"PR", "1", "", NULL},
    {"GB", "44", "0", NULL},  {"IE", "353", "0", NULL}, {"DE", "49", "0", NULL},
    {"FR", "33", "0", NULL},  {"NL", "31", "0", NULL},  {"BE", "32", "0", NULL},
    {"LU", "352", "", NULL},  {"ES", "34", "", NULL},   {"PT", "351", "", NULL},
    {"IT", "39", "", NULL},   {"CH", "41", "0", NULL},  {"AT", "43", "0", NULL},
    {"SE", "46", "0", NULL},  {"NO", "47", "", NULL},   {"DK", "45", "", NULL},
    {"FI", "358", "0", NULL}, {"IS", "354", "", NULL},  {"PL", "48", "", NULL},
    {"CZ", "420", "", NULL},  {"SK", "421", "0", NULL}, {"HU", "36", "06", NULL},
    {"RO", "40", "0", NULL},  {"BG", "359", "0", NULL}, {"GR", "30", "", NULL},
    {"HR", "385", "0", NULL}, {"SI", "386", "0", NULL}, {"RS", "381", "0", NULL},
    {"EE", "372", "", NULL},  {"LV", "371", "", NULL},  {"LT", "370", "8", "0"},
    {"UA", "380", "0", NULL}, {"RU", "7", "8", NULL},   {"KZ", "7", "8", NULL},
    {"TR", "90", "0", NULL},  {"IL", "972", "0", NULL}, {"AE", "971", "0", NULL},
    {"SA", "966", "0", NULL}, {"QA", "974", "", NULL},  {"KW", "965", "", NULL},
    {"EG", "20", "0", NULL},  {"MA", "212", "0", NULL}, {"NG", "234", "0", NULL},
    {"KE", "254", "0", NULL}, {"GH", "233", "0", NULL}, {"ZA", "27", "0", NULL},
    {"AU", "61", "0", NULL},  {"NZ", "64", "0", NULL},  {"IN", "91", "0", NULL},
    {"PK", "92", "0", NULL},  {"BD", "880", "0", NULL}, {"LK", "94", "0", NULL},
    {"JP", "81", "0", NULL},  {"KR", "82", "0", NULL},  {"CN", "86", "0", NULL},
    {"HK", "852", "", NULL},  {"TW", "886", "0", NULL}, {"SG", "65", "", NULL},
    {"MY", "60", "0", NULL},  {"TH", "66", "0", NULL},  {"VN", "84", "0", NULL},
    {"PH", "63", "0", NULL},  {"ID", "62", "0", NULL},  {"BR", "55", "0", NULL},
    {"AR", "54", "0", NULL},  {"MX", "52", "", NULL},   {"CO", "57", "", NULL},
    {"CL", "56", "", NULL},   {"PE", "51", "0", NULL},
};

static const struct country_code *country_find(const char *iso)
{
    if (!iso || strlen(iso) != 2)
        return NULL;
    for (size_t i = 0; i < sizeof country_codes / sizeof country_codes[0]; i++) {
        if (strcasecmp(country_codes[i].iso, iso) == 0)
            return &country_codes[i];
    }
    return NULL;
}

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

/* Collects the digits of raw into digits[] (size > PHONE_MAX_DIGITS + 5), dropping the
 * usual separators. *intl is set for a "+" prefix. Letters or other symbols make it -1:
 * a vanity number ("555-555-SHIP") cannot be hashed the way the browser would. */
static int phone_collect(const char *raw, char *digits, size_t size, int *intl)
{
    const char *s, *e;
    size_t n = 0;

    *intl = 0;
    trim_bounds(raw, &s, &e);
    if (s < e && *s == '+') {
        *intl = 1;
        s++;
    }
    for (const char *p = s; p < e; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= size)
                return -1;
            digits[n++] = *p;
        } else if (*intl && e - p >= 3 && memcmp(p, "(0)", 3) == 0) {
            /* "+44 (0)20 …": the bracketed trunk digit is not dialled from abroad. */
            p += 2;
        } else if (!strchr(" \t-.()/", *p)) {
            return -1;
        }
    }
    digits[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* Writes "+" cc rest into out after checking the E.164 length; cc is "" when rest
 * already starts with the country code. No country code starts with 0. */
static int phone_emit(const char *cc, const char *rest, char *out, size_t size)
{
    size_t total = strlen(cc) + strlen(rest);
    char first = cc[0] ? cc[0] : rest[0];

    if (total < PHONE_MIN_DIGITS || total > PHONE_MAX_DIGITS || first == '0')
        return -1;
    if (total + 2 > size)
        return -1;
    out[0] = '+';
    memcpy(out + 1, cc, strlen(cc));
    memcpy(out + 1 + strlen(cc), rest, strlen(rest) + 1);
    return 0;
}

static int phone_national(const char *digits, const struct country_code *cc, char *out, size_t size)
{
    const char *rest = digits;
    size_t n = strlen(digits);

    if (strcmp(cc->cc, "1") == 0) {
        /* NANP: "011" dials out; "1 404 555 1234" is the country code written nationally. */
        if (strncmp(digits, "011", 3) == 0)
            return phone_emit("", digits + 3, out, size);
        if (n == 11 && digits[0] == '1')
            rest = digits + 1;
        if (strlen(rest) != 10 || rest[0] < '2')
            return -1;
        return phone_emit(cc->cc, rest, out, size);
    }
    if (cc->trunk[0] && strncmp(rest, cc->trunk, strlen(cc->trunk)) == 0)
        rest += strlen(cc->trunk);
    else if (cc->trunk2 && strncmp(rest, cc->trunk2, strlen(cc->trunk2)) == 0)
        rest += strlen(cc->trunk2);
    if (rest[0] == '\0')
        return -1;
    return phone_emit(cc->cc, rest, out, size);
}

int normalize_phone(const char *raw, const char *country, char *out, size_t size)
{
    char digits[PHONE_MAX_DIGITS + 8];
    const struct country_code *cc;
    int intl;

    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    if (!raw || strnlen(raw, RAW_MAX + 1) > RAW_MAX)
        return -1;
    if (phone_collect(raw, digits, sizeof digits, &intl) != 0)
        return -1;
    if (!intl && strncmp(digits, "00", 2) == 0)
        return phone_emit("", digits + 2, out, size);
    if (intl)
        return phone_emit("", digits, out, size);
    cc = country_find(country);
    if (!cc)
        return -1;
    return phone_national(digits, cc, out, size);
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
    char norm[PHONE_MAX_DIGITS + 2];

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
        else if (eq && scrub_has_at(eq + 1, n - keylen - 1, 0))
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
