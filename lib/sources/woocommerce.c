/* WooCommerce order webhooks (order.created, order.updated): base64 HMAC-SHA256 of the body,
 * the unsigned set-up ping, and paid statuses mapped to one conversion per order id. */
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

static const char *woo_header(const struct webhook_request *req, const char *name)
{
    const char *v = req->header ? req->header(req->ctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* WooCommerce pings a new webhook with the unsigned form body "webhook_id=<N>" and no
 * X-WC headers, and refuses to save the webhook unless it gets a 200. */
static int woo_is_ping(const struct webhook_request *req)
{
    static const char prefix[] = "webhook_id=";
    const size_t plen = sizeof prefix - 1;
    size_t i;

    /* Only the exact ping body: anything else unsigned is refused, not acknowledged. */
    if (req->len <= plen || memcmp(req->body, prefix, plen) != 0)
        return 0;
    for (i = plen; i < req->len; i++)
        if (!isdigit((unsigned char)req->body[i]))
            return 0;
    return 1;
}

static json_t *woo_content(const json_t *item)
{
    json_t *c = json_object();
    char id[160];
    const char *name = json_str(item, "name");
    json_t *qty = json_object_get(item, "quantity");

    if (!c)
        return NULL;
    if (json_id_text(json_object_get(item, "product_id"), id, sizeof id) == 0 ||
        json_id_text(json_object_get(item, "variation_id"), id, sizeof id) == 0 ||
        json_id_text(json_object_get(item, "sku"), id, sizeof id) == 0)
        json_object_set_new(c, "content_id", json_string(id));
    if (name)
        json_object_set_new(c, "content_name", json_string(name));
    json_object_set_new(c, "price", price_json(json_object_get(item, "price")));
    if (json_is_integer(qty) && json_integer_value(qty) > 0)
        json_object_set_new(c, "quantity", json_integer(json_integer_value(qty)));
    return c;
}

/* New JSON text of TikTok contents[] from line_items, or NULL when there are none. */
static char *woo_contents(const json_t *items)
{
    json_t *arr = json_array(), *item;
    char *text = NULL;
    size_t i;

    if (!arr)
        return NULL;
    json_array_foreach(items, i, item) {
        json_t *c = woo_content(item);
        if (c && json_object_size(c) > 0)
            json_array_append(arr, c);
        json_decref(c);
    }
    if (json_array_size(arr) > 0)
        text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    return text;
}

static void woo_map_value(const json_t *order, struct conversion *out)
{
    const char *total = json_str(order, "total");
    const char *currency = json_str(order, "currency");

    /* A malformed total leaves the value unknown rather than losing the conversion. */
    if (total && money_from_decimal(total, out->value, sizeof out->value) < 0)
        out->value[0] = '\0';
    if (currency && money_currency(currency, out->currency) < 0)
        out->currency[0] = '\0';
    out->contents_json = woo_contents(json_object_get(order, "line_items"));
}

static void woo_map_contact(const json_t *order, struct conversion *out)
{
    const json_t *billing = json_object_get(order, "billing");
    const json_t *shipping = json_object_get(order, "shipping");
    const char *bc = json_str(billing, "country"), *sc = json_str(shipping, "country");
    const char *phone = json_str(billing, "phone");
    char id[160];

    if (json_str(billing, "email"))
        normalize_hash_email(json_str(billing, "email"), out->email_hash);
    if (!phone || normalize_hash_phone(phone, bc ? bc : sc, out->phone_hash) < 0) {
        phone = json_str(shipping, "phone");
        if (phone)
            normalize_hash_phone(phone, sc ? sc : bc, out->phone_hash);
    }
    /* customer_id 0 is a guest checkout: no stable customer to name. */
    if (json_id_text(json_object_get(order, "customer_id"), id, sizeof id) == 0)
        normalize_hash_external_id(id, out->external_id_hash);
    STR_SET(out->ip, json_str(order, "customer_ip_address"));
    STR_SET(out->user_agent, json_str(order, "customer_user_agent"));
}

static int is_http_url(const char *s)
{
    return s && (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0);
}

/* Explicit meta (a site's own event_id/ttclid) wins over order attribution (WC 8.5+),
 * whose session entry is the landing URL with the ad click's query string. */
static void woo_map_meta(const json_t *order, struct conversion *out)
{
    const json_t *meta = json_object_get(order, "meta_data"), *m;
    const char *entry = NULL;
    size_t i;

    json_array_foreach(meta, i, m) {
        const char *key = json_str(m, "key"), *value = json_str(m, "value");
        if (!key || !value)
            continue;
        if (!strcmp(key, "event_id") || !strcmp(key, "ttr_event_id"))
            id_set(out->event_id, sizeof out->event_id, value);
        else if (!strcmp(key, "ttr_vid"))
            id_set(out->vid, sizeof out->vid, value);
        else if (!strcmp(key, "ttclid"))
            id_set(out->ttclid, sizeof out->ttclid, value);
        else if (!strcmp(key, "ttp") || !strcmp(key, "_ttp"))
            id_set(out->ttp, sizeof out->ttp, value);
        else if (!strcmp(key, "_wc_order_attribution_session_entry") && is_http_url(value))
            entry = value;
        else if (!strcmp(key, "_wc_order_attribution_referrer") && is_http_url(value))
            STR_SET(out->referrer, value);
        else if (!strcmp(key, "_wc_order_attribution_user_agent") && !out->user_agent[0])
            STR_SET(out->user_agent, value);
    }
    if (!entry)
        return;
    if (strlen(entry) < sizeof out->url)
        STR_SET(out->url, entry);
    if (!out->ttclid[0] && query_get(entry, "ttclid", out->ttclid, sizeof out->ttclid) < 0)
        out->ttclid[0] = '\0';
}

static void woo_map_refs(const json_t *order, struct conversion *out)
{
    static const char *const keys[] = {"number", "order_key", "cart_hash", "transaction_id"};
    char id[160];

    conversion_add_ref(out, out->object_id);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_id_text(json_object_get(order, keys[i]), id, sizeof id) == 0)
            conversion_add_ref(out, id);
}

/* The *_gmt fields are UTC without an offset; date_created (site-local time) is the last
 * resort, off by the site's offset when it is not UTC. */
static void woo_map_time(const struct webhook_request *req, const json_t *order,
                         struct conversion *out)
{
    static const char *const keys[] = {"date_paid_gmt", "date_created_gmt", "date_created"};

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (time_parse_iso8601(json_str(order, keys[i]), &out->event_time) == 0)
            return;
    out->event_time = (long long)req->now;
}

/* Only paid statuses are conversions; an order passing through pending or on-hold is sent
 * once it reaches processing or completed, both keyed on the same order id. */
static enum source_result woo_check_status(const json_t *order, char *why, size_t whylen)
{
    const char *status = json_str(order, "status");

    if (status && (!strcmp(status, "processing") || !strcmp(status, "completed")))
        return SOURCE_OK;
    if (why && whylen)
        snprintf(why, whylen, "order status %.40s", status ? status : "(none)");
    return SOURCE_IGNORED;
}

static enum source_result woo_verify(const struct source_cfg *src,
                                     const struct webhook_request *req, char *why, size_t whylen)
{
    const char *sig = woo_header(req, "X-WC-Webhook-Signature");

    if (!sig && woo_is_ping(req)) {
        say(why, whylen, "webhook ping");
        return SOURCE_PING;
    }
    if (!sig) {
        say(why, whylen, "missing X-WC-Webhook-Signature");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !signature_check_base64(src->secret, req->body, req->len, sig)) {
        say(why, whylen, "bad X-WC-Webhook-Signature");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static enum source_result woo_parse(const struct source_cfg *src,
                                    const struct webhook_request *req, struct conversion *out,
                                    char *why, size_t whylen)
{
    const char *topic = woo_header(req, "X-WC-Webhook-Topic");
    enum source_result rc = SOURCE_BAD_REQUEST;
    json_t *order = NULL;

    if (!content_is_json(req)) {
        say(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    /* Without a topic (a replay by hand) the body is taken for an order. */
    if (topic && strcmp(topic, "order.created") != 0 && strcmp(topic, "order.updated") != 0) {
        say(why, whylen, "not an order topic");
        return SOURCE_IGNORED;
    }
    /* A key sent twice means whatever the reader picks; no sender does it. */
    order = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(order)) {
        say(why, whylen, "body is not a JSON object");
        goto out;
    }
    if (json_id_text(json_object_get(order, "id"), out->object_id, sizeof out->object_id) < 0) {
        say(why, whylen, "order has no id");
        goto out;
    }
    rc = woo_check_status(order, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    out->kind = KIND_ORDER;
    STR_SET(out->order_id, out->object_id);
    STR_SET(out->delivery_id, woo_header(req, "X-WC-Webhook-Delivery-ID"));
    woo_map_value(order, out);
    woo_map_contact(order, out);
    woo_map_meta(order, out);
    woo_map_refs(order, out);
    woo_map_time(req, order, out);
out:
    json_decref(order);
    return rc;
}

const struct source_ops source_woocommerce = {
    .type = "woocommerce",
    .verify = woo_verify,
    .parse = woo_parse,
};
