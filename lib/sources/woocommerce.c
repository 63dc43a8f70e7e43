/* WooCommerce order webhooks (order.created, order.updated): base64 HMAC-SHA256 of the body,
 * the unsigned set-up ping, and paid statuses mapped to one conversion per order id. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "hash.h"
#include "normalize.h"
#include "signature.h"
#include "source.h"
#include "source_util.h"

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

/* A line item names its product by product, then variation, then SKU. */
static const struct source_item_keys woo_item_keys = {
    .id = {"product_id", "variation_id", "sku", NULL},
    .name = {"name", NULL},
};

/* Besides the id, what a storefront may have reported as the pixel event's order id. */
/* The order key and cart hash cannot be guessed; the order id and number are sequential. */
static const char *const woo_ref_keys[] = {"order_key", "cart_hash", "transaction_id", NULL};
static const char *const woo_guessable_keys[] = {"number", NULL};

/* The *_gmt fields are UTC without an offset; date_created (site-local time) is the last
 * resort, off by the site's offset when it is not UTC. */
static const char *const woo_time_keys[] = {"date_paid_gmt", "date_created_gmt", "date_created",
                                            NULL};

static void woo_map_contact(const json_t *order, struct conversion *out)
{
    const json_t *billing = json_object_get(order, "billing");
    const json_t *shipping = json_object_get(order, "shipping");
    const char *bc = source_util_str(billing, "country");
    const char *sc = source_util_str(shipping, "country");
    const char *phone = source_util_str(billing, "phone");
    char id[160];

    if (source_util_str(billing, "email"))
        normalize_hash_email(source_util_str(billing, "email"), out->email_hash);
    if (!phone || normalize_hash_phone(phone, bc ? bc : sc, out->phone_hash) < 0) {
        phone = source_util_str(shipping, "phone");
        if (phone)
            normalize_hash_phone(phone, sc ? sc : bc, out->phone_hash);
    }
    /* customer_id 0 is a guest checkout: no stable customer to name. */
    if (source_util_id_text(json_object_get(order, "customer_id"), id, sizeof id) == 0)
        normalize_hash_external_id(id, out->external_id_hash);
    STR_SET(out->ip, source_util_str(order, "customer_ip_address"));
    STR_SET(out->user_agent, source_util_str(order, "customer_user_agent"));
}

/* WooCommerce Subscriptions marks a renewal order with the meta key _subscription_renewal
 * (the subscription's id) and created_via "subscription" (UNCONFIRMED, README "Renewals").
 * Explicit meta (a site's own event_id/ttclid) wins over order attribution (WC 8.5+),
 * whose session entry is the landing URL with the ad click's query string. */
static void woo_map_meta(const json_t *order, struct conversion *out)
{
    const json_t *meta = json_object_get(order, "meta_data"), *m;
    const char *entry = NULL;
    size_t i;

    json_array_foreach(meta, i, m)
    {
        const char *key = source_util_str(m, "key"), *value = source_util_str(m, "value");
        if (key && !strcmp(key, "_subscription_renewal"))
            out->renewal = 1;
        if (!key || !value || source_util_map_tracking(key, value, out))
            continue;
        if (!strcmp(key, "_wc_order_attribution_session_entry") && source_util_is_http_url(value))
            entry = value;
        else if (!strcmp(key, "_wc_order_attribution_referrer") && source_util_is_http_url(value))
            STR_SET(out->referrer, value);
        else if (!strcmp(key, "_wc_order_attribution_user_agent") && !out->user_agent[0])
            STR_SET(out->user_agent, value);
    }
    if (!entry)
        return;
    if (strlen(entry) < sizeof out->url)
        STR_SET(out->url, entry);
    if (!out->ttclid[0] &&
        source_util_query_param(entry, "ttclid", out->ttclid, sizeof out->ttclid) < 0)
        out->ttclid[0] = '\0';
}

/* Only paid statuses are conversions; an order passing through pending or on-hold is sent
 * once it reaches processing or completed, both keyed on the same order id. */
static enum source_result woo_check_status(const json_t *order, char *why, size_t whylen)
{
    const char *status = source_util_str(order, "status");

    if (status && (!strcmp(status, "processing") || !strcmp(status, "completed")))
        return SOURCE_OK;
    source_util_why(why, whylen, "order status %.40s", status ? status : "(none)");
    return SOURCE_IGNORED;
}

static enum source_result woo_verify(const struct source_cfg *src,
                                     const struct webhook_request *req, char *why, size_t whylen)
{
    const char *sig = source_util_header(req, "X-WC-Webhook-Signature");

    if (!sig && woo_is_ping(req)) {
        source_util_why(why, whylen, "webhook ping");
        return SOURCE_PING;
    }
    if (!sig) {
        source_util_why(why, whylen, "missing X-WC-Webhook-Signature");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !signature_check_base64(src->secret, req->body, req->len, sig)) {
        source_util_why(why, whylen, "bad X-WC-Webhook-Signature%s",
                        hash_is_sha256_hex(sig) ? ": it is hex, WooCommerce signs in base64 (of "
                                                  "the raw HMAC-SHA256 bytes of the exact body)"
                                                : "");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static enum source_result woo_parse(const struct source_cfg *src, const struct webhook_request *req,
                                    struct conversion *out, char *why, size_t whylen)
{
    const char *topic = source_util_header(req, "X-WC-Webhook-Topic");
    enum source_result rc = SOURCE_BAD_REQUEST;
    json_t *order = NULL;

    if (!source_util_media_is(source_util_content_type(req), "application/json",
                              SOURCE_MEDIA_LOOSE)) {
        source_util_why(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    /* Without a topic (a replay by hand) the body is taken for an order. */
    if (topic && strcmp(topic, "order.created") != 0 && strcmp(topic, "order.updated") != 0) {
        source_util_why(why, whylen, "not an order topic");
        return SOURCE_IGNORED;
    }
    order = source_util_load_object(req, why, whylen);
    if (!order)
        goto out;
    if (source_util_id_text(json_object_get(order, "id"), out->object_id, sizeof out->object_id) <
        0) {
        source_util_why(why, whylen, "order has no id");
        goto out;
    }
    rc = woo_check_status(order, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    out->kind = KIND_ORDER;
    STR_SET(out->order_id, out->object_id);
    STR_SET(out->delivery_id, source_util_header(req, "X-WC-Webhook-Delivery-ID"));
    source_util_map_total(order, "total", out);
    out->contents_json = source_util_contents(json_object_get(order, "line_items"), &woo_item_keys);
    woo_map_contact(order, out);
    woo_map_meta(order, out);
    if (!out->renewal) {
        const char *via = source_util_str(order, "created_via");
        out->renewal = via && !strcmp(via, "subscription");
    }
    conversion_add_guessable_ref(out, out->object_id);
    STR_SET(out->page_ref, out->object_id); /* the order-received page shows the order id */
    source_util_add_id_refs(out, order, woo_ref_keys);
    source_util_add_guessable_id_refs(out, order, woo_guessable_keys);
    out->event_time = source_util_event_time(order, woo_time_keys, (long long)req->now);
out:
    json_decref(order);
    return rc;
}

const struct source_ops source_woocommerce = {
    .type = "woocommerce",
    .verify = woo_verify,
    .parse = woo_parse,
};
