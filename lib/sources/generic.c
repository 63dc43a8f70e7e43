/* The generic source: CRMs, Zapier, Make and custom code post one flat object (JSON or
 * form-encoded, fields as in DESIGN.md), authenticated by a bearer secret or an HMAC header. */
#include "source.h"

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source_util.h"
#include "timeparse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GENERIC_TOLERANCE_S 300
/* A numeric event_time at or above this is milliseconds (as seconds it is the year 5138):
 * Zapier and JavaScript senders often pass Date.now(). */
#define GENERIC_MS_THRESHOLD 100000000000LL

enum generic_media { GENERIC_MEDIA_JSON, GENERIC_MEDIA_FORM, GENERIC_MEDIA_OTHER };

/* The parsed body and where reasons go; fields are read one by one from root. */
struct generic_body {
    json_t *root;
    char *why;
    size_t whylen;
};

/* "Bearer <token>" (scheme case-insensitive); the token, or NULL for another scheme. */
static const char *generic_bearer(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer", 6) != 0 ||
        (authorization[6] != ' ' && authorization[6] != '\t'))
        return NULL;
    authorization += 6;
    while (*authorization == ' ' || *authorization == '\t')
        authorization++;
    return *authorization ? authorization : NULL;
}

static enum source_result generic_verify(const struct source_cfg *src,
                                         const struct webhook_request *req, char *why,
                                         size_t whylen)
{
    const char *auth = source_util_header_raw(req, "Authorization");
    const char *sig = source_util_header_raw(req, "X-Ttrelay-Signature");
    const char *token = generic_bearer(auth);
    enum signature_result sr;

    if (!src->secret || !*src->secret) {
        source_util_why(why, whylen, "source has no secret configured");
        return SOURCE_UNAUTHORIZED;
    }
    if (token && hash_str_equal(token, src->secret))
        return SOURCE_OK;
    if (sig) {
        sr = signature_check_timestamped(src->secret, req->body, req->len, sig, req->now,
                                         GENERIC_TOLERANCE_S);
        if (sr == SIG_OK)
            return SOURCE_OK;
        source_util_why(why, whylen, "X-Ttrelay-Signature %s",
                        sr == SIG_STALE      ? "timestamp outside 300 s"
                        : sr == SIG_MISMATCH ? "mismatch"
                                             : "malformed");
        return SOURCE_UNAUTHORIZED;
    }
    source_util_why(why, whylen,
                    token ? "bearer token mismatch"
                          : "missing Authorization: Bearer or X-Ttrelay-Signature");
    return SOURCE_UNAUTHORIZED;
}

static enum generic_media generic_media_of(const char *content_type)
{
    static const struct {
        const char *type;
        enum generic_media media;
    } types[] = {
        {"application/json", GENERIC_MEDIA_JSON},
        {"application/x-www-form-urlencoded", GENERIC_MEDIA_FORM},
    };

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (source_util_media_is(content_type, types[i].type, SOURCE_MEDIA_STRICT))
            return types[i].media;
    return GENERIC_MEDIA_OTHER;
}

/* URL-decodes s in place ('+' is a space, %XX a byte) and NUL-terminates it. Returns the
 * decoded length, or -1 on a broken escape or an encoded NUL (C strings cannot carry it). */
static long generic_url_decode(char *s)
{
    char *r = s, *w = s;

    while (*r) {
        if (*r == '+') {
            *w++ = ' ';
            r++;
        } else if (*r == '%') {
            int hi = hash_hex_value((unsigned char)r[1]);
            int lo = hi < 0 ? -1 : hash_hex_value((unsigned char)r[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (long)(w - s);
}

/* 1 when key is 1-40 letters, digits and '_': a field name that can be logged. */
static int generic_field_name(const char *key)
{
    size_t n = 0;

    for (; key[n]; n++)
        if (!isalnum((unsigned char)key[n]) && key[n] != '_')
            return 0;
    return n > 0 && n <= 40;
}

/* Decodes an application/x-www-form-urlencoded body into a new JSON object of strings; the
 * first occurrence of a key wins. NULL (with why) when the body is malformed. */
static json_t *generic_form_decode(const char *body, size_t len, char *why, size_t whylen)
{
    json_t *obj = json_object();
    char *buf = malloc(len + 1), *pair, *save = NULL;

    if (!obj || !buf)
        goto fail;
    memcpy(buf, body, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        source_util_why(why, whylen, "form body contains a NUL byte");
        goto fail;
    }
    for (pair = strtok_r(buf, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char *value = eq ? eq + 1 : pair + strlen(pair);
        long vlen;
        json_t *str;
        if (eq)
            *eq = '\0';
        if (generic_url_decode(pair) < 0 || (vlen = generic_url_decode(value)) < 0) {
            source_util_why(why, whylen, "form body has a malformed %%-escape");
            goto fail;
        }
        if (!*pair || json_object_get(obj, pair))
            continue;
        str = json_stringn(value, (size_t)vlen);
        if (!str || json_object_set_new(obj, pair, str) != 0) {
            /* A key can be anything a form builder put there, an address included: it is
             * named only when it looks like a field name. */
            source_util_why(why, whylen, "form field %s is not UTF-8",
                            generic_field_name(pair) ? pair : "(unnamed)");
            goto fail;
        }
    }
    free(buf);
    return obj;
fail:
    free(buf);
    json_decref(obj);
    return NULL;
}

/* What to do with a value longer than its field. An id is refused (a cut id would match
 * the wrong thing, and the sender must hear of it); a match key is dropped; text that only
 * describes is cut between characters; a URL is scrubbed whole and then cut. CRMs do not
 * resend after a 4xx, so only what defines the conversion may refuse it. */
enum generic_fit { FIT_REFUSE, FIT_DROP, FIT_CUT, FIT_URL };

/* The trimmed text in [s, end) into dst as fit says. Returns 1 set, 0 dropped, -1 refused. */
static int generic_fit_text(struct generic_body *b, const char *key, const char *s, const char *end,
                            enum generic_fit fit, char *dst, size_t size)
{
    size_t n = (size_t)(end - s);
    char *whole;

    if (n < size && fit != FIT_URL) {
        memcpy(dst, s, n);
        dst[n] = '\0';
        return 1;
    }
    switch (fit) {
    case FIT_REFUSE: source_util_why(b->why, b->whylen, "%s is too long", key); return -1;
    case FIT_DROP: return 0;
    case FIT_CUT:
        /* str_copy reads a NUL-terminated source: s may go on past end (trailing blanks). */
        str_copy(dst, n + 1 < size ? n + 1 : size, s);
        return 1;
    case FIT_URL:
        if (!(whole = strndup(s, n)))
            return 0;
        /* Before the cut: a cut could leave half an address the scrubber no longer sees. */
        normalize_scrub_url(whole);
        str_copy(dst, size, whole);
        free(whole);
        return dst[0] != '\0';
    }
    return 0;
}

/* Reads body[key] as text into dst (whitespace trimmed). Absent, null and "" leave dst
 * alone, since CRM templates render an empty merge field as "". Integers are taken as
 * their decimal text when allow_int. Returns 1 when set, 0 when absent (or dropped), -1
 * (why) when the value has the wrong type or is an id that does not fit. */
static int generic_text_fit(struct generic_body *b, const char *key, int allow_int,
                            enum generic_fit fit, char *dst, size_t size)
{
    json_t *v = json_object_get(b->root, key);
    char num[32];
    const char *s, *end;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && allow_int) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
    } else {
        source_util_why(b->why, b->whylen, "%s must be a string%s", key,
                        allow_int ? " or an integer" : "");
        return -1;
    }
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    if (end == s)
        return 0;
    return generic_fit_text(b, key, s, end, fit, dst, size);
}

static int generic_text(struct generic_body *b, const char *key, int allow_int, char *dst,
                        size_t size)
{
    return generic_text_fit(b, key, allow_int, FIT_REFUSE, dst, size);
}

/* 1 when v is absent, null or a string of only whitespace. */
static int generic_is_empty(json_t *v)
{
    const char *s;

    if (!v || json_is_null(v))
        return 1;
    if (!json_is_string(v))
        return 0;
    for (s = json_string_value(v); *s; s++) {
        if (!isspace((unsigned char)*s))
            return 0;
    }
    return 1;
}

static int generic_map_ids(struct generic_body *b, const struct source_cfg *src,
                           const struct webhook_request *req, struct conversion *out)
{
    char kind[16], order_ref[160];
    const char *idem;
    int rc;

    rc = generic_text(b, "id", 1, out->object_id, sizeof out->object_id);
    if (rc <= 0) {
        if (rc == 0)
            source_util_why(b->why, b->whylen, "id is required");
        return -1;
    }
    out->kind = src->kind;
    rc = generic_text(b, "kind", 0, kind, sizeof kind);
    if (rc < 0)
        return -1;
    if (rc > 0 && conversion_kind_parse(kind, &out->kind) != 0) {
        source_util_why(b->why, b->whylen, "kind must be order, call or lead");
        return -1;
    }
    if (out->kind == KIND_ORDER)
        STR_SET(out->order_id, out->object_id);
    /* A CRM's or a site's ids may be sequential: guessable. */
    conversion_add_guessable_ref(out, out->object_id);
    rc = generic_text(b, "order_id", 1, order_ref, sizeof order_ref);
    if (rc < 0)
        return -1;
    if (rc > 0)
        conversion_add_guessable_ref(out, order_ref);
    if (out->kind == KIND_ORDER)
        STR_SET(out->page_ref, rc > 0 ? order_ref : out->object_id);
    if (generic_text(b, "event_id", 1, out->event_id, sizeof out->event_id) < 0 ||
        generic_text(b, "vid", 1, out->vid, sizeof out->vid) < 0)
        return -1;
    idem = source_util_header_raw(req, "Idempotency-Key");
    if (idem && strlen(idem) < sizeof out->delivery_id)
        STR_SET(out->delivery_id, idem);
    return 0;
}

/* Email and phone are hashed here and the raw text dropped. Match keys only enrich the
 * conversion, so a value that does not parse (an email without '@', a country name where
 * a code belongs) is left out; refusing would lose the conversion, since CRMs do not resend
 * after a 4xx. Fields that define the conversion (id, kind, value, time) are refused instead. */
static int generic_map_contact(struct generic_body *b, struct conversion *out)
{
    char email[320], phone[64], country[64], external_id[256];
    int have_country, rc;

    rc = generic_text_fit(b, "email", 0, FIT_DROP, email, sizeof email);
    if (rc < 0)
        return -1;
    if (rc > 0)
        normalize_hash_email(email, out->email_hash);
    have_country = generic_text_fit(b, "country", 0, FIT_DROP, country, sizeof country);
    if (have_country < 0)
        return -1;
    if (have_country > 0 && (strlen(country) != 2 || !isalpha((unsigned char)country[0]) ||
                             !isalpha((unsigned char)country[1])))
        have_country = 0;
    rc = generic_text_fit(b, "phone", 1, FIT_DROP, phone, sizeof phone);
    if (rc < 0)
        return -1;
    if (rc > 0)
        normalize_hash_phone(phone, have_country > 0 ? country : NULL, out->phone_hash);
    rc = generic_text_fit(b, "external_id", 1, FIT_DROP, external_id, sizeof external_id);
    if (rc < 0)
        return -1;
    if (rc > 0)
        normalize_hash_external_id(external_id, out->external_id_hash);
    return 0;
}

static int generic_map_value(struct generic_body *b, struct conversion *out)
{
    json_t *value = json_object_get(b->root, "value");
    char currency[8];
    int rc;

    if (!generic_is_empty(value)) {
        if (source_util_decimal(value, out->value, sizeof out->value) != 0 ||
            out->value[0] == '-') {
            out->value[0] = '\0';
            source_util_why(b->why, b->whylen, "value must be a non-negative decimal number");
            return -1;
        }
    }
    rc = generic_text(b, "currency", 0, currency, sizeof currency);
    if (rc < 0)
        return -1;
    if (rc > 0 && money_currency(currency, out->currency) != 0) {
        source_util_why(b->why, b->whylen, "currency must be a 3-letter ISO 4217 code");
        return -1;
    }
    /* TikTok ignores a value without its currency; saying so now beats a silent loss. */
    if (out->value[0] && !out->currency[0]) {
        source_util_why(b->why, b->whylen, "value needs a currency");
        return -1;
    }
    return 0;
}

/* One TikTok content from {content_id, content_name, price, quantity}; NULL (why) when a
 * field has the wrong type. */
static json_t *generic_content(struct generic_body *b, json_t *item, size_t idx)
{
    struct generic_body ib = {item, b->why, b->whylen};
    json_t *c = json_object(), *price = json_object_get(item, "price");
    json_t *qty = json_object_get(item, "quantity");
    char id[160], name[256], dec[40];
    long long q;
    char *end;
    int rc;

    if (!c || !json_is_object(item)) {
        source_util_why(b->why, b->whylen, "contents[%zu] must be an object", idx);
        goto fail;
    }
    rc = generic_text_fit(&ib, "content_id", 1, FIT_DROP, id, sizeof id);
    if (rc > 0)
        json_object_set_new(c, "content_id", json_string(id));
    if (rc >= 0)
        rc = generic_text_fit(&ib, "content_name", 0, FIT_CUT, name, sizeof name);
    if (rc > 0)
        json_object_set_new(c, "content_name", json_string(name));
    if (rc < 0)
        goto fail;
    if (!generic_is_empty(price)) {
        if (source_util_decimal(price, dec, sizeof dec) != 0) {
            source_util_why(b->why, b->whylen, "contents[%zu].price must be a decimal number", idx);
            goto fail;
        }
        json_object_set_new(c, "price", json_real(strtod(dec, NULL)));
    }
    if (!generic_is_empty(qty)) {
        if (json_is_integer(qty)) {
            q = json_integer_value(qty);
        } else if (json_is_string(qty)) {
            errno = 0;
            q = strtoll(json_string_value(qty), &end, 10);
            if (errno || end == json_string_value(qty) || *end)
                q = -1;
        } else {
            q = -1;
        }
        if (q < 0) {
            source_util_why(b->why, b->whylen, "contents[%zu].quantity must be an integer", idx);
            goto fail;
        }
        json_object_set_new(c, "quantity", json_integer(q));
    }
    return c;
fail:
    json_decref(c);
    return NULL;
}

/* contents is a JSON array, or (form bodies) a string holding one. New text in out. */
static int generic_map_contents(struct generic_body *b, struct conversion *out)
{
    json_t *v = json_object_get(b->root, "contents"), *parsed = NULL, *item;
    json_t *list = NULL;
    size_t i;
    int rc = -1;

    if (generic_is_empty(v))
        return 0;
    if (json_is_string(v))
        v = parsed = json_loads(json_string_value(v), 0, NULL);
    if (!json_is_array(v)) {
        source_util_why(b->why, b->whylen, "contents must be an array");
        goto out;
    }
    list = json_array();
    if (!list)
        goto out;
    json_array_foreach(v, i, item)
    {
        json_t *c = generic_content(b, item, i);
        if (!c)
            goto out;
        if (json_object_size(c) > 0)
            json_array_append(list, c);
        json_decref(c);
    }
    if (json_array_size(list) > 0) {
        out->contents_json = json_dumps(list, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!out->contents_json)
            goto out;
    }
    rc = 0;
out:
    json_decref(list);
    json_decref(parsed);
    return rc;
}

/* ttclid, _ttp and the browser facts a CRM may have kept from the lead's visit; an ip that
 * is not an address is left out like any other unparseable match key. */
static int generic_map_browser(struct generic_body *b, struct conversion *out)
{
    unsigned char addr[16];
    int rc;

    if (generic_text_fit(b, "ttclid", 0, FIT_DROP, out->ttclid, sizeof out->ttclid) < 0 ||
        generic_text_fit(b, "ttp", 0, FIT_DROP, out->ttp, sizeof out->ttp) < 0 ||
        generic_text_fit(b, "user_agent", 0, FIT_CUT, out->user_agent, sizeof out->user_agent) <
            0 ||
        generic_text_fit(b, "url", 0, FIT_URL, out->url, sizeof out->url) < 0 ||
        generic_text_fit(b, "referrer", 0, FIT_URL, out->referrer, sizeof out->referrer) < 0)
        return -1;
    rc = generic_text_fit(b, "ip", 0, FIT_DROP, out->ip, sizeof out->ip);
    if (rc < 0)
        return -1;
    if (rc > 0 && inet_pton(AF_INET, out->ip, addr) != 1 && inet_pton(AF_INET6, out->ip, addr) != 1)
        out->ip[0] = '\0';
    return 0;
}

/* event_time: unix seconds (number or digit string; milliseconds accepted) or ISO 8601. */
static int generic_map_time(struct generic_body *b, const struct webhook_request *req,
                            struct conversion *out)
{
    json_t *v = json_object_get(b->root, "event_time");
    long long t = -1;
    char text[64], *end;
    int rc;

    out->event_time = (long long)req->now;
    if (json_is_integer(v)) {
        t = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e15) {
        t = (long long)json_real_value(v);
    } else if (!json_is_number(v)) {
        rc = generic_text(b, "event_time", 0, text, sizeof text);
        if (rc <= 0)
            return rc;
        errno = 0;
        t = strtoll(text, &end, 10);
        if ((end == text || *end || errno) && time_parse_iso8601(text, &t) != 0)
            t = -1;
    }
    if (t < 0) {
        source_util_why(b->why, b->whylen, "event_time must be unix seconds or ISO 8601");
        return -1;
    }
    if (t >= GENERIC_MS_THRESHOLD)
        t /= 1000;
    out->event_time = t;
    return 0;
}

/* A flag (test, renewal, consent): JSON boolean, 0/1, or the strings "true"/"false"/"1"/"0"
 * that forms carry. Absent leaves *flag as it is. */
static int generic_map_flag(struct generic_body *b, const char *key, int *flag)
{
    json_t *v = json_object_get(b->root, key);
    char text[8];
    int rc;

    if (json_is_boolean(v)) {
        *flag = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *flag = (int)json_integer_value(v);
        return 0;
    }
    if (!json_is_integer(v)) {
        rc = generic_text(b, key, 0, text, sizeof text);
        if (rc == 0)
            return 0;
        if (rc > 0 && (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0)) {
            *flag = 1;
            return 0;
        }
        if (rc > 0 && (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0)) {
            *flag = 0;
            return 0;
        }
    }
    source_util_why(b->why, b->whylen, "%s must be true or false", key);
    return -1;
}

/* test and renewal flags, and the sender's own consent signal (consent: false, e.g. an
 * unticked marketing checkbox, is an opt-out). */
static int generic_map_flags(struct generic_body *b, struct conversion *out)
{
    int consent = 1;

    if (generic_map_flag(b, "test", &out->test) != 0 ||
        generic_map_flag(b, "renewal", &out->renewal) != 0 ||
        generic_map_flag(b, "consent", &consent) != 0)
        return -1;
    out->opted_out = !consent;
    return 0;
}

static json_t *generic_load(const struct webhook_request *req, enum generic_media media, char *why,
                            size_t whylen)
{
    if (media == GENERIC_MEDIA_FORM)
        return generic_form_decode(req->body ? req->body : "", req->len, why, whylen);
    return source_util_load_object(req, why, whylen);
}

static enum source_result generic_parse(const struct source_cfg *src,
                                        const struct webhook_request *req, struct conversion *out,
                                        char *why, size_t whylen)
{
    enum generic_media media = generic_media_of(req->content_type);
    struct generic_body b = {NULL, why, whylen};
    enum source_result rc = SOURCE_BAD_REQUEST;

    if (media == GENERIC_MEDIA_OTHER) {
        source_util_why(
            why, whylen,
            "content type must be application/json or application/x-www-form-urlencoded");
        return SOURCE_BAD_MEDIA;
    }
    b.root = generic_load(req, media, why, whylen);
    if (!b.root)
        goto out;
    if (generic_map_ids(&b, src, req, out) != 0 || generic_map_contact(&b, out) != 0 ||
        generic_map_value(&b, out) != 0 || generic_map_contents(&b, out) != 0 ||
        generic_map_browser(&b, out) != 0 || generic_map_time(&b, req, out) != 0 ||
        generic_map_flags(&b, out) != 0)
        goto out;
    rc = SOURCE_OK;
out:
    if (rc != SOURCE_OK) {
        free(out->contents_json);
        out->contents_json = NULL;
    }
    json_decref(b.root);
    return rc;
}

const struct source_ops source_generic = {
    .type = "generic",
    .verify = generic_verify,
    .parse = generic_parse,
};
