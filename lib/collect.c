/* The /collect body from ttr.js, checked field by field and turned into a touch.
 * Raw email and phone are hashed here; only the hashes leave collect_parse. */
#include "collect.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "normalize.h"

/* ttr.js sends a flat object; the margin allows small nested extras. Checked on the raw
 * text before jansson runs, so a deeply nested body costs no recursion at all. */
#define COLLECT_MAX_DEPTH 4

static void collect_why(char *why, size_t whylen, const char *reason, const char *key)
{
    if (!why || whylen == 0)
        return;
    if (key)
        snprintf(why, whylen, "%s: %s", key, reason);
    else
        snprintf(why, whylen, "%s", reason);
}

/* 1 when brackets outside strings nest deeper than max. Unbalanced text is left for the
 * parser to reject. */
static int collect_too_deep(const char *body, size_t len, int max)
{
    int depth = 0, in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* *val (borrowed from root) is NULL when key is absent, null or "". Returns -1 when the
 * value is not a string. */
static int collect_string(json_t *root, const char *key, const char **val, char *why, size_t whylen)
{
    json_t *v = json_object_get(root, key);

    *val = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        collect_why(why, whylen, "must be a string", key);
        return -1;
    }
    if (json_string_length(v) > 0)
        *val = json_string_value(v);
    return 0;
}

/* An identifier is compared whole later (event_id against TikTok's dedup, order_id
 * against webhooks), so one that does not fit is refused instead of cut. */
static int collect_id(json_t *root, const char *key, char *field, size_t size, char *why,
                      size_t whylen)
{
    const char *s;

    if (collect_string(root, key, &s, why, whylen))
        return -1;
    if (!s)
        return 0;
    if (strlen(s) >= size) {
        collect_why(why, whylen, "too long", key);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            collect_why(why, whylen, "control character", key);
            return -1;
        }
    }
    str_copy(field, size, s);
    return 0;
}

/* Context fields only enrich the event: a long one is cut rather than refused. */
static int collect_context(json_t *root, const char *key, char *field, size_t size, char *why,
                           size_t whylen)
{
    const char *s;

    if (collect_string(root, key, &s, why, whylen))
        return -1;
    str_copy(field, size, s); /* cuts between characters */
    return 0;
}

/* 1 when s is 1..max characters of letters, digits, '_' and the bytes in extra. */
static int collect_chars_ok(const char *s, size_t max, const char *extra)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || strchr(extra, c)))
            return 0;
    }
    return n > 0 && n <= max;
}

static int collect_ids(json_t *root, struct touch *out, char *why, size_t whylen)
{
    if (collect_id(root, "vid", out->vid, sizeof out->vid, why, whylen) ||
        collect_id(root, "event", out->event, sizeof out->event, why, whylen) ||
        collect_id(root, "event_id", out->event_id, sizeof out->event_id, why, whylen) ||
        collect_id(root, "order_id", out->order_id, sizeof out->order_id, why, whylen))
        return -1;
    if (!out->vid[0]) {
        collect_why(why, whylen, "missing", "vid");
        return -1;
    }
    /* vid: the 32 hex of ttr.js, or a site's own id of letters, digits, '_', '-', '.'. */
    if (!collect_chars_ok(out->vid, sizeof out->vid - 1, "-.")) {
        collect_why(why, whylen, "invalid", "vid");
        return -1;
    }
    if (out->event[0] && !collect_chars_ok(out->event, sizeof out->event - 1, "")) {
        collect_why(why, whylen, "must be 1-63 of [A-Za-z0-9_]", "event");
        return -1;
    }
    /* A pixel event is only useful for dedup with its event_id, and an id without its
     * event name cannot be reused. */
    if (!out->event[0] != !out->event_id[0]) {
        collect_why(why, whylen, "event and event_id go together", NULL);
        return -1;
    }
    return 0;
}

static int collect_contact(json_t *root, const char *country, const char *fallback_country,
                           struct touch *out, char *why, size_t whylen)
{
    const char *email, *phone;

    if (collect_string(root, "email", &email, why, whylen) ||
        collect_string(root, "phone", &phone, why, whylen))
        return -1;
    if (email && normalize_hash_email(email, out->email_hash) != 0) {
        collect_why(why, whylen, "invalid", "email");
        return -1;
    }
    /* The browser's region is usually the shopper's; when it names none (Firefox sends a
     * bare "de") or cannot read the number (an en-US browser in the Netherlands and
     * "06 12345678"), the shop's own country is tried. */
    if (phone && normalize_hash_phone(phone, country, out->phone_hash) != 0 &&
        normalize_hash_phone(phone, fallback_country, out->phone_hash) != 0) {
        collect_why(why, whylen, "invalid", "phone");
        return -1;
    }
    return 0;
}

/* value: a JSON number or a decimal string, kept as exact decimal text. A number goes
 * through "%.15g" first: the shortest text that gives back what the browser meant. */
static int collect_value(json_t *root, struct touch *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(root, "value");
    const char *cur;
    char num[64];

    if (v && json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (v && json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
    } else if (v && json_is_string(v)) {
        if (json_string_length(v) >= sizeof num) {
            collect_why(why, whylen, "too long", "value");
            return -1;
        }
        memcpy(num, json_string_value(v), json_string_length(v) + 1);
    } else if (v && !json_is_null(v)) {
        collect_why(why, whylen, "must be a number or a decimal string", "value");
        return -1;
    } else {
        num[0] = '\0';
    }
    if (num[0] && money_from_decimal(num, out->value, sizeof out->value) != 0) {
        collect_why(why, whylen, "not a decimal amount", "value");
        return -1;
    }
    if (collect_string(root, "currency", &cur, why, whylen))
        return -1;
    if (cur && money_currency(cur, out->currency) != 0) {
        collect_why(why, whylen, "not an ISO 4217 code", "currency");
        return -1;
    }
    return 0;
}

/* consent: "granted" or "denied" (ttr.js reports GPC, window.ttrConsent and the pixel's
 * revokeConsent/grantConsent); absent leaves the visitor's last known state. */
static int collect_consent(json_t *root, struct touch *out, char *why, size_t whylen)
{
    const char *c;

    if (collect_string(root, "consent", &c, why, whylen))
        return -1;
    if (!c)
        return 0;
    if (!strcmp(c, "granted"))
        out->consent = 1;
    else if (!strcmp(c, "denied"))
        out->consent = -1;
    else {
        collect_why(why, whylen, "must be \"granted\" or \"denied\"", "consent");
        return -1;
    }
    return 0;
}

/* The client's ts is checked for type and then ignored: the caller stamps the server's
 * receive time, since a browser clock can be anything and TikTok rejects odd times. */
int collect_parse(const char *body, size_t len, const char *country, const char *fallback_country,
                  struct touch *out, char *why, size_t whylen)
{
    json_t *root = NULL, *ts;
    json_error_t err;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!body || len == 0) {
        collect_why(why, whylen, "empty body", NULL);
        goto out;
    }
    if (collect_too_deep(body, len, COLLECT_MAX_DEPTH)) {
        collect_why(why, whylen, "nested too deep", NULL);
        goto out;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        /* err.text can quote the input (an email); the position alone is safe to log. */
        if (why && whylen)
            snprintf(why, whylen, "invalid JSON at byte %d", err.position);
        goto out;
    }
    if (!json_is_object(root)) {
        collect_why(why, whylen, "not a JSON object", NULL);
        goto out;
    }
    ts = json_object_get(root, "ts");
    if (ts && !json_is_number(ts) && !json_is_null(ts)) {
        collect_why(why, whylen, "must be a number", "ts");
        goto out;
    }
    if (collect_ids(root, out, why, whylen) ||
        collect_context(root, "ttclid", out->ttclid, sizeof out->ttclid, why, whylen) ||
        collect_context(root, "ttp", out->ttp, sizeof out->ttp, why, whylen) ||
        collect_context(root, "url", out->url, sizeof out->url, why, whylen) ||
        collect_context(root, "referrer", out->referrer, sizeof out->referrer, why, whylen) ||
        collect_contact(root, country, fallback_country, out, why, whylen) ||
        collect_value(root, out, why, whylen) || collect_consent(root, out, why, whylen))
        goto out;
    normalize_scrub_url(out->url);
    normalize_scrub_url(out->referrer);
    rc = 0;
out:
    json_decref(root);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}
