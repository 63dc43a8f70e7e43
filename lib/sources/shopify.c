/* Shopify order webhooks (orders/create, orders/paid, orders/updated): the body is signed
 * with base64 HMAC-SHA256; every topic of one order maps to one conversion keyed on its id. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "hash.h"
#include "normalize.h"
#include "signature.h"
#include "source.h"
#include "source_util.h"

/* Shopify's "Events" delivery drops the X- prefix; accept both spellings. */
static const char *shopify_header(const struct webhook_request *req, const char *name)
{
    const char *v = source_util_header_raw(req, name);

    if (!v && strncasecmp(name, "X-", 2) == 0)
        v = source_util_header_raw(req, name + 2);
    return v && *v ? v : NULL;
}

/* A line item names its product by product, then variant, then SKU; its title stands in
 * for a missing name. */
static const struct source_item_keys shopify_item_keys = {
    .id = {"product_id", "variant_id", "sku", NULL},
    .name = {"name", "title", NULL},
};

/* The first candidate that normalizes wins; a national number takes the country of the
 * address it came from (billing first for the order-level fields). */
static void shopify_map_contact(const json_t *order, struct conversion *out)
{
    const json_t *billing = json_object_get(order, "billing_address");
    const json_t *shipping = json_object_get(order, "shipping_address");
    const json_t *customer = json_object_get(order, "customer");
    const json_t *client = json_object_get(order, "client_details");
    const char *bc = source_util_str(billing, "country_code");
    const char *sc = source_util_str(shipping, "country_code");
    const char *home = bc ? bc : sc;
    const char *emails[] = {source_util_str(order, "email"),
                            source_util_str(order, "contact_email"),
                            source_util_str(customer, "email")};
    const char *phones[][2] = {{source_util_str(order, "phone"), home},
                               {source_util_str(billing, "phone"), home},
                               {source_util_str(customer, "phone"), home},
                               {source_util_str(shipping, "phone"), sc ? sc : bc}};
    char id[160];
    const char *ip;

    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++)
        if (emails[i] && normalize_hash_email(emails[i], out->email_hash) == 0)
            break;
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++)
        if (phones[i][0] && normalize_hash_phone(phones[i][0], phones[i][1], out->phone_hash) == 0)
            break;
    if (source_util_id_text(json_object_get(customer, "id"), id, sizeof id) == 0)
        normalize_hash_external_id(id, out->external_id_hash);
    ip = source_util_str(client, "browser_ip");
    STR_SET(out->ip, ip ? ip : source_util_str(order, "browser_ip"));
    STR_SET(out->user_agent, source_util_str(client, "user_agent"));
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
    const char *landing = source_util_str(order, "landing_site");
    const char *domain = shopify_header(req, "X-Shopify-Shop-Domain");
    int n = -1;

    STR_SET(out->referrer, source_util_str(order, "referring_site"));
    if (!landing)
        return;
    if (source_util_query_param(landing, "ttclid", out->ttclid, sizeof out->ttclid) < 0)
        out->ttclid[0] = '\0';
    if (source_util_is_http_url(landing))
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

    json_array_foreach(attrs, i, a)
    {
        const char *name = source_util_str(a, "name"), *value = source_util_str(a, "value");
        if (name && value)
            source_util_map_tracking(name, value, out);
    }
}

/* Every reference a storefront may have reported as the order id on the pixel event. The
 * order id and the tokens cannot be guessed; the order number and name are sequential. The
 * thank-you page (the custom pixel's checkout.order.id) sees the order id. */
static void shopify_map_refs(const json_t *order, struct conversion *out)
{
    static const char *const keys[] = {"checkout_token", "cart_token", "token", NULL};
    static const char *const guessable[] = {"order_number", NULL};
    const char *name = source_util_str(order, "name");

    conversion_add_ref(out, out->object_id);
    STR_SET(out->page_ref, out->object_id);
    source_util_add_id_refs(out, order, keys);
    if (name) {
        conversion_add_guessable_ref(out, name);
        if (name[0] == '#')
            conversion_add_guessable_ref(out, name + 1);
    }
    source_util_add_guessable_id_refs(out, order, guessable);
}

/* Tests go out only to a test_event_code; cancelled and fully reversed payments never do.
 * Any other financial_status (pending for manual payment methods, authorized, partially
 * refunded) is an order: a later orders/paid collapses onto the same business key. */
static enum source_result shopify_check_state(const struct source_cfg *src, const json_t *order,
                                              struct conversion *out, char *why, size_t whylen)
{
    const json_t *cancelled = json_object_get(order, "cancelled_at");
    const char *fs = source_util_str(order, "financial_status");

    if (json_is_true(json_object_get(order, "test"))) {
        if (!src->send_tests) {
            source_util_why(why, whylen, "test order");
            return SOURCE_IGNORED;
        }
        out->test = 1;
    }
    if (cancelled && !json_is_null(cancelled)) {
        source_util_why(why, whylen, "cancelled order");
        return SOURCE_IGNORED;
    }
    if (fs && (!strcmp(fs, "voided") || !strcmp(fs, "refunded"))) {
        source_util_why(why, whylen, "payment voided or refunded");
        return SOURCE_IGNORED;
    }
    return SOURCE_OK;
}

/* A subscription app's recurring order (UNCONFIRMED markers, README "Renewals"): Shopify's
 * own subscription billing attempts create orders with source_name "subscription_contract";
 * Recharge tags its recurring orders "Subscription Recurring Order". The first order of a
 * subscription is a checkout like any other (source_name "web"). */
static int shopify_is_renewal(const json_t *order)
{
    const char *source = source_util_str(order, "source_name");
    const char *tags = source_util_str(order, "tags");

    if (source && !strcmp(source, "subscription_contract"))
        return 1;
    return tags && strstr(tags, "Subscription Recurring Order") != NULL;
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
        source_util_why(why, whylen, "missing X-Shopify-Hmac-Sha256");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !signature_check_base64(src->secret, req->body, req->len, sig)) {
        /* The usual mistake when signing by hand: the hex digest instead of the raw bytes. */
        source_util_why(why, whylen, "bad X-Shopify-Hmac-Sha256%s",
                        hash_is_sha256_hex(sig) ? ": it is hex, Shopify signs in base64 (of the "
                                                  "raw HMAC-SHA256 bytes of the exact body)"
                                                : "");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static enum source_result shopify_parse(const struct source_cfg *src,
                                        const struct webhook_request *req, struct conversion *out,
                                        char *why, size_t whylen)
{
    static const char *const time_keys[] = {"processed_at", "created_at", NULL};
    enum source_result rc = SOURCE_IGNORED;
    json_t *order = NULL;

    if (!source_util_media_is(source_util_content_type(req), "application/json",
                              SOURCE_MEDIA_LOOSE)) {
        source_util_why(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    if (!topic_is_order(shopify_header(req, "X-Shopify-Topic"))) {
        source_util_why(why, whylen, "not an order topic");
        return SOURCE_IGNORED;
    }
    order = source_util_load_object(req, why, whylen);
    if (!order) {
        rc = SOURCE_BAD_REQUEST;
        goto out;
    }
    if (source_util_id_text(json_object_get(order, "id"), out->object_id, sizeof out->object_id) <
        0) {
        rc = SOURCE_BAD_REQUEST;
        source_util_why(why, whylen, "order has no id");
        goto out;
    }
    rc = shopify_check_state(src, order, out, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    out->kind = KIND_ORDER;
    out->renewal = shopify_is_renewal(order);
    STR_SET(out->order_id, out->object_id);
    STR_SET(out->delivery_id, shopify_header(req, "X-Shopify-Webhook-Id"));
    source_util_map_total(order, "total_price", out);
    out->contents_json =
        source_util_contents(json_object_get(order, "line_items"), &shopify_item_keys);
    shopify_map_contact(order, out);
    shopify_map_page(req, order, out);
    shopify_map_attributes(order, out);
    shopify_map_refs(order, out);
    out->event_time = source_util_event_time(order, time_keys, (long long)req->now);
out:
    json_decref(order);
    return rc;
}

const struct source_ops source_shopify = {
    .type = "shopify",
    .verify = shopify_verify,
    .parse = shopify_parse,
};
