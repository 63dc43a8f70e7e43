/* Shopify order webhooks (orders/create, orders/paid, orders/updated): the body is signed
 * with base64 HMAC-SHA256; every topic of one order maps to one conversion keyed on its id. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source.h"
#include "timeparse.h"

static void say(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

/* Shopify's "Events" delivery drops the X- prefix; accept both spellings. */
static const char *shopify_header(const struct webhook_request *req, const char *name)
{
    const char *v;

    if (!req->header)
        return NULL;
    v = req->header(req->ctx, name);
    if (!v && strncasecmp(name, "X-", 2) == 0)
        v = req->header(req->ctx, name + 2);
    return v && *v ? v : NULL;
}

static int content_is_json(const struct webhook_request *req)
{
    const char *ct = req->content_type;

    if (!ct && req->header)
        ct = req->header(req->ctx, "Content-Type");
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    ct += 16;
    return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

/* A non-empty string member, or NULL (obj may be NULL or not an object). */
static const char *json_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

/* An id as decimal text: a positive JSON integer (exact, never via double; Shopify ids
 * exceed 2^53) or a non-empty string. Returns 0, or -1 when absent or too long. */
static int json_id_text(const json_t *v, char *out, size_t size)
{
    int n;

    if (json_is_integer(v) && json_integer_value(v) > 0)
        n = snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) > 0)
        n = snprintf(out, size, "%s", json_string_value(v));
    else
        return -1;
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Copies an identifier only when it fits: a cut id would name something else. */
static void id_set(char *dst, size_t size, const char *src)
{
    if (src && strlen(src) < size)
        str_copy(dst, size, src);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return tolower((unsigned char)c) - 'a' + 10;
}

/* URL-decodes [s, end) into out; -1 when empty, too long or decoding to a NUL. */
static int url_decode(const char *s, const char *end, char *out, size_t size)
{
    size_t n = 0;

    while (s < end) {
        char c = *s++;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && end - s >= 2 && isxdigit((unsigned char)s[0]) &&
                   isxdigit((unsigned char)s[1])) {
            c = (char)(hex_value(s[0]) * 16 + hex_value(s[1]));
            s += 2;
        }
        if (c == '\0' || n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* The decoded value of key in url's query string. Returns 0, or -1 when absent. */
static int query_get(const char *url, const char *key, char *out, size_t size)
{
    const char *q = strchr(url, '?');
    size_t klen = strlen(key);

    if (!q)
        return -1;
    q++;
    while (*q && *q != '#') {
        const char *end = q + strcspn(q, "&#");
        if ((size_t)(end - q) > klen && strncmp(q, key, klen) == 0 && q[klen] == '=')
            return url_decode(q + klen + 1, end, out, size);
        q = *end == '&' ? end + 1 : end;
    }
    return -1;
}

/* A price as a new JSON number, from a number or exact decimal text; NULL when not a
 * price. Dumped with 15 significant digits, the number reproduces the text's value.
 * jansson's own decoder does the conversion: strtod would follow the C locale. */
static json_t *price_json(const json_t *v)
{
    char canon[40];
    json_t *n;

    if (json_is_number(v))
        return json_copy((json_t *)v);
    if (!json_is_string(v) || money_from_decimal(json_string_value(v), canon, sizeof canon) < 0)
        return NULL;
    n = json_loads(canon, JSON_DECODE_ANY, NULL);
    if (!json_is_number(n)) {
        json_decref(n);
        return NULL;
    }
    return n;
}

static json_t *shopify_content(const json_t *item)
{
    json_t *c = json_object();
    char id[160];
    const char *name = json_str(item, "name");
    json_t *qty = json_object_get(item, "quantity");

    if (!c)
        return NULL;
    if (json_id_text(json_object_get(item, "product_id"), id, sizeof id) == 0 ||
        json_id_text(json_object_get(item, "variant_id"), id, sizeof id) == 0 ||
        json_id_text(json_object_get(item, "sku"), id, sizeof id) == 0)
        json_object_set_new(c, "content_id", json_string(id));
    if (!name)
        name = json_str(item, "title");
    if (name)
        json_object_set_new(c, "content_name", json_string(name));
    json_object_set_new(c, "price", price_json(json_object_get(item, "price")));
    if (json_is_integer(qty) && json_integer_value(qty) > 0)
        json_object_set_new(c, "quantity", json_integer(json_integer_value(qty)));
    return c;
}

/* New JSON text of TikTok contents[] from line_items, or NULL when there are none. */
static char *shopify_contents(const json_t *items)
{
    json_t *arr = json_array(), *item;
    char *text = NULL;
    size_t i;

    if (!arr)
        return NULL;
    json_array_foreach(items, i, item) {
        json_t *c = shopify_content(item);
        if (c && json_object_size(c) > 0)
            json_array_append(arr, c);
        json_decref(c);
    }
    if (json_array_size(arr) > 0)
        text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    return text;
}

static void shopify_map_value(const json_t *order, struct conversion *out)
{
    const char *total = json_str(order, "total_price");
    const char *currency = json_str(order, "currency");

    /* A malformed total leaves the value unknown rather than losing the conversion. */
    if (total && money_from_decimal(total, out->value, sizeof out->value) < 0)
        out->value[0] = '\0';
    if (currency && money_currency(currency, out->currency) < 0)
        out->currency[0] = '\0';
    out->contents_json = shopify_contents(json_object_get(order, "line_items"));
}

/* The first candidate that normalizes wins; a national number takes the country of the
 * address it came from (billing first for the order-level fields). */
static void shopify_map_contact(const json_t *order, struct conversion *out)
{
    const json_t *billing = json_object_get(order, "billing_address");
    const json_t *shipping = json_object_get(order, "shipping_address");
    const json_t *customer = json_object_get(order, "customer");
    const json_t *client = json_object_get(order, "client_details");
    const char *bc = json_str(billing, "country_code"), *sc = json_str(shipping, "country_code");
    const char *home = bc ? bc : sc;
    const char *emails[] = {json_str(order, "email"), json_str(order, "contact_email"),
                            json_str(customer, "email")};
    const char *phones[][2] = {{json_str(order, "phone"), home},
                               {json_str(billing, "phone"), home},
                               {json_str(customer, "phone"), home},
                               {json_str(shipping, "phone"), sc ? sc : bc}};
    char id[160];
    const char *ip;

    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++)
        if (emails[i] && normalize_hash_email(emails[i], out->email_hash) == 0)
            break;
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++)
        if (phones[i][0] && normalize_hash_phone(phones[i][0], phones[i][1], out->phone_hash) == 0)
            break;
    if (json_id_text(json_object_get(customer, "id"), id, sizeof id) == 0)
        normalize_hash_external_id(id, out->external_id_hash);
    ip = json_str(client, "browser_ip");
    STR_SET(out->ip, ip ? ip : json_str(order, "browser_ip"));
    STR_SET(out->user_agent, json_str(client, "user_agent"));
}

/* A shop domain from a header is used in a URL only when it looks like a host name. */
static int domain_ok(const char *d)
{
    if (!d || !*d)
        return 0;
    for (; *d; d++)
        if (!isalnum((unsigned char)*d) && *d != '.' && *d != '-' && *d != ':')
            return 0;
    return 1;
}

/* landing_site is a path plus query ("/?ttclid=…"); TikTok wants a full URL, so the shop's
 * domain is prefixed. Without a domain a bare path is left out. */
static void shopify_map_page(const struct webhook_request *req, const json_t *order,
                             struct conversion *out)
{
    const char *landing = json_str(order, "landing_site");
    const char *domain = shopify_header(req, "X-Shopify-Shop-Domain");
    int n = -1;

    STR_SET(out->referrer, json_str(order, "referring_site"));
    if (!landing)
        return;
    if (query_get(landing, "ttclid", out->ttclid, sizeof out->ttclid) < 0)
        out->ttclid[0] = '\0';
    if (strncasecmp(landing, "https://", 8) == 0 || strncasecmp(landing, "http://", 7) == 0)
        n = snprintf(out->url, sizeof out->url, "%s", landing);
    else if (domain_ok(domain))
        n = snprintf(out->url, sizeof out->url, "https://%s%s%s", domain,
                     landing[0] == '/' ? "" : "/", landing);
    if (n < 0 || (size_t)n >= sizeof out->url)
        out->url[0] = '\0';
}

/* Cart attributes set by the storefront (ttr.js) win over what the order itself carries. */
static void shopify_map_attributes(const json_t *order, struct conversion *out)
{
    const json_t *attrs = json_object_get(order, "note_attributes"), *a;
    size_t i;

    json_array_foreach(attrs, i, a) {
        const char *name = json_str(a, "name"), *value = json_str(a, "value");
        if (!name || !value)
            continue;
        if (!strcmp(name, "event_id") || !strcmp(name, "ttr_event_id"))
            id_set(out->event_id, sizeof out->event_id, value);
        else if (!strcmp(name, "ttr_vid"))
            id_set(out->vid, sizeof out->vid, value);
        else if (!strcmp(name, "ttclid"))
            id_set(out->ttclid, sizeof out->ttclid, value);
        else if (!strcmp(name, "ttp") || !strcmp(name, "_ttp"))
            id_set(out->ttp, sizeof out->ttp, value);
    }
}

/* Every reference a storefront may have reported as the order id on the pixel event. */
static void shopify_map_refs(const json_t *order, struct conversion *out)
{
    static const char *const keys[] = {"order_number", "checkout_token", "cart_token", "token"};
    const char *name = json_str(order, "name");
    char id[160];

    conversion_add_ref(out, out->object_id);
    if (name) {
        conversion_add_ref(out, name);
        if (name[0] == '#')
            conversion_add_ref(out, name + 1);
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_id_text(json_object_get(order, keys[i]), id, sizeof id) == 0)
            conversion_add_ref(out, id);
}

/* Tests go out only to a test_event_code; cancelled and fully reversed payments never do.
 * Any other financial_status (pending for manual payment methods, authorized, partially
 * refunded) is an order: a later orders/paid collapses onto the same business key. */
static enum source_result shopify_check_state(const struct source_cfg *src, const json_t *order,
                                              struct conversion *out, char *why, size_t whylen)
{
    const json_t *cancelled = json_object_get(order, "cancelled_at");
    const char *fs = json_str(order, "financial_status");

    if (json_is_true(json_object_get(order, "test"))) {
        if (!src->send_tests) {
            say(why, whylen, "test order");
            return SOURCE_IGNORED;
        }
        out->test = 1;
    }
    if (cancelled && !json_is_null(cancelled)) {
        say(why, whylen, "cancelled order");
        return SOURCE_IGNORED;
    }
    if (fs && (!strcmp(fs, "voided") || !strcmp(fs, "refunded"))) {
        say(why, whylen, "payment voided or refunded");
        return SOURCE_IGNORED;
    }
    return SOURCE_OK;
}

static int topic_is_order(const char *topic)
{
    return topic && (!strcmp(topic, "orders/create") || !strcmp(topic, "orders/paid") ||
                     !strcmp(topic, "orders/updated"));
}

static enum source_result shopify_verify(const struct source_cfg *src,
                                         const struct webhook_request *req, char *why,
                                         size_t whylen)
{
    const char *sig = shopify_header(req, "X-Shopify-Hmac-Sha256");

    if (!sig) {
        say(why, whylen, "missing X-Shopify-Hmac-Sha256");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !signature_check_base64(src->secret, req->body, req->len, sig)) {
        say(why, whylen, "bad X-Shopify-Hmac-Sha256");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static enum source_result shopify_parse(const struct source_cfg *src,
                                        const struct webhook_request *req,
                                        struct conversion *out, char *why, size_t whylen)
{
    enum source_result rc = SOURCE_IGNORED;
    json_t *order = NULL;
    const char *when;

    if (!content_is_json(req)) {
        say(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    if (!topic_is_order(shopify_header(req, "X-Shopify-Topic"))) {
        say(why, whylen, "not an order topic");
        return SOURCE_IGNORED;
    }
    /* A key sent twice means whatever the reader picks; no sender does it. */
    order = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(order)) {
        rc = SOURCE_BAD_REQUEST;
        say(why, whylen, "body is not a JSON object");
        goto out;
    }
    if (json_id_text(json_object_get(order, "id"), out->object_id, sizeof out->object_id) < 0) {
        rc = SOURCE_BAD_REQUEST;
        say(why, whylen, "order has no id");
        goto out;
    }
    rc = shopify_check_state(src, order, out, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    out->kind = KIND_ORDER;
    STR_SET(out->order_id, out->object_id);
    STR_SET(out->delivery_id, shopify_header(req, "X-Shopify-Webhook-Id"));
    shopify_map_value(order, out);
    shopify_map_contact(order, out);
    shopify_map_page(req, order, out);
    shopify_map_attributes(order, out);
    shopify_map_refs(order, out);
    when = json_str(order, "processed_at");
    if (!when || time_parse_iso8601(when, &out->event_time) < 0)
        if (time_parse_iso8601(json_str(order, "created_at"), &out->event_time) < 0)
            out->event_time = (long long)req->now;
out:
    json_decref(order);
    return rc;
}

const struct source_ops source_shopify = {
    .type = "shopify",
    .verify = shopify_verify,
    .parse = shopify_parse,
};
