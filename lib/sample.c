/* Sample deliveries: one realistic payload per sender type (shapes from the senders' own
 * samples, reference/webhook-sources.md), signed by lib/signature.c the way each sender
 * signs. Ids are random and out of any real sender's range, so a sample never shares a
 * business key with a real order or booking (which would then be taken for a duplicate). */
#include "sample.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config.h"
#include "hash.h"
#include "signature.h"

#define SAMPLE_EMAIL "send-test@example.com"
#define SAMPLE_PHONE "+14045550100"
#define SAMPLE_IP "203.0.113.7"
#define SAMPLE_UA "Mozilla/5.0 (X11; Linux x86_64) ttrelayctl-send-test/" TTR_VERSION

struct sample_ids {
    char hex[17];     /* 16 random hex digits */
    long long number; /* random, 9.0e18 to 9.2e18: above any Shopify or WooCommerce id */
    char iso[32];     /* now, ISO 8601 UTC */
};

static int sample_ids_make(time_t now, struct sample_ids *ids)
{
    unsigned char raw[8];
    unsigned long long r = 0;
    struct tm tm;

    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw || !gmtime_r(&now, &tm))
        return -1;
    hash_hex_encode(raw, sizeof raw, ids->hex);
    for (size_t i = 0; i < sizeof raw; i++)
        r = r << 8 | raw[i];
    ids->number = 9000000000000000000LL + (long long)(r % 200000000000000000ULL);
    strftime(ids->iso, sizeof ids->iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

static void sample_header(struct sample_delivery *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sample_header(struct sample_delivery *d, const char *name, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (d->nheaders >= SAMPLE_MAX_HEADERS)
        return;
    n = snprintf(d->headers[d->nheaders], sizeof d->headers[0], "%s: ", name);
    va_start(ap, fmt);
    vsnprintf(d->headers[d->nheaders] + n, sizeof d->headers[0] - (size_t)n, fmt, ap);
    va_end(ap);
    d->nheaders++;
}

static json_t *sample_line_item(const struct sample_ids *ids, const char *price_key)
{
    return json_pack("{s:I,s:I,s:s,s:s,s:s,s:i,s:[]}", "id", (json_int_t)ids->number, "product_id",
                     (json_int_t)(ids->number - 1), "sku", "TTR-SEND-TEST", "name",
                     "ttrelay send-test item", price_key, "19.99", "quantity", 1, "properties");
}

/* Shopify orders/paid with "test": true (a test order from Shopify's bogus gateway). */
static json_t *sample_shopify(const struct sample_ids *ids, struct sample_delivery *d)
{
    json_t *money = json_pack("{s:s,s:s}", "amount", "19.99", "currency_code", "USD");
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:n,s:b,s:s,s:n,s:s,s:s,s:s,s:{s:O,s:O}}", "id",
                          (json_int_t)ids->number, "name", "#TTR-TEST", "created_at", ids->iso,
                          "processed_at", ids->iso, "email", SAMPLE_EMAIL, "phone", "test", 1,
                          "financial_status", "paid", "cancelled_at", "currency", "USD",
                          "presentment_currency", "USD", "total_price", "19.99", "total_price_set",
                          "shop_money", money, "presentment_money", money);
    json_decref(money);
    if (!o)
        return NULL;
    json_object_set_new(o, "browser_ip", json_string(SAMPLE_IP));
    json_object_set_new(o, "client_details",
                        json_pack("{s:s,s:s,s:s}", "browser_ip", SAMPLE_IP, "accept_language",
                                  "en-US", "user_agent", SAMPLE_UA));
    json_object_set_new(o, "landing_site", json_string("/?utm_source=ttrelay-send-test"));
    json_object_set_new(o, "source_name", json_string("web"));
    json_object_set_new(o, "note_attributes", json_array());
    json_object_set_new(o, "customer",
                        json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)(ids->number - 2), "email",
                                  SAMPLE_EMAIL, "first_name", "Send", "last_name", "Test"));
    json_object_set_new(o, "billing_address",
                        json_pack("{s:s,s:s,s:s,s:s}", "first_name", "Send", "last_name", "Test",
                                  "phone", SAMPLE_PHONE, "country_code", "US"));
    json_object_set_new(o, "line_items", json_pack("[o]", sample_line_item(ids, "price")));
    json_object_set_new(o, "refunds", json_array());
    snprintf(d->what, sizeof d->what, "Shopify orders/paid, order %lld, 19.99 USD", ids->number);
    snprintf(d->test_mark, sizeof d->test_mark, "\"test\": true (a Shopify test order)");
    return o;
}

/* WooCommerce order.updated, status processing; WooCommerce has no test flag, so the order
 * carries ttrelay's own: meta_data ttr_test = 1. */
static json_t *sample_woocommerce(const struct sample_ids *ids, struct sample_delivery *d)
{
    char key[48];

    snprintf(key, sizeof key, "wc_order_ttr%s", ids->hex);
    json_t *o = json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s}", "id",
        (json_int_t)ids->number, "number", "TTR-TEST", "order_key", key, "status", "processing",
        "currency", "USD", "date_created_gmt", ids->iso, "date_paid_gmt", ids->iso, "total",
        "19.99", "total_tax", "0.00", "customer_id", (json_int_t)0, "billing", "first_name", "Send",
        "last_name", "Test", "email", SAMPLE_EMAIL, "phone", SAMPLE_PHONE, "country", "US",
        "customer_ip_address", SAMPLE_IP, "customer_user_agent", SAMPLE_UA);
    if (!o)
        return NULL;
    json_t *item = sample_line_item(ids, "subtotal");
    json_object_set_new(item, "total", json_string("19.99"));
    json_object_set_new(item, "price", json_real(19.99));
    json_object_set_new(o, "line_items", json_pack("[o]", item));
    json_object_set_new(o, "meta_data",
                        json_pack("[{s:i,s:s,s:s}]", "id", 1, "key", "ttr_test", "value", "1"));
    snprintf(d->what, sizeof d->what,
             "WooCommerce order.updated, order %lld (processing), 19.99 USD", ids->number);
    snprintf(d->test_mark, sizeof d->test_mark,
             "meta_data ttr_test = 1 (WooCommerce has no test flag)");
    return o;
}

/* Stripe checkout.session.completed in test mode ("livemode": false). */
static json_t *sample_stripe(const struct sample_ids *ids, time_t now, struct sample_delivery *d)
{
    char evt[48], cs[48], pi[48];

    snprintf(evt, sizeof evt, "evt_ttrtest%s", ids->hex);
    snprintf(cs, sizeof cs, "cs_test_ttrtest%s", ids->hex);
    snprintf(pi, sizeof pi, "pi_ttrtest%s", ids->hex);
    json_t *obj = json_pack(
        "{s:s,s:s,s:I,s:i,s:i,s:s,s:{s:s,s:s,s:s,s:{s:s}},s:{},s:s,s:s,s:s,s:b}", "id", cs,
        "object", "checkout.session", "created", (json_int_t)now, "amount_subtotal", 1999,
        "amount_total", 1999, "currency", "usd", "customer_details", "email", SAMPLE_EMAIL, "name",
        "Send Test", "phone", SAMPLE_PHONE, "address", "country", "US", "metadata", "mode",
        "payment", "payment_status", "paid", "payment_intent", pi, "livemode", 0);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:{s:o}}", "id", evt, "object", "event", "type",
                          "checkout.session.completed", "api_version", "2025-06-30.basil",
                          "created", (json_int_t)now, "livemode", 0, "data", "object", obj);
    snprintf(d->what, sizeof d->what,
             "Stripe checkout.session.completed, payment intent %s, 19.99 USD", pi);
    snprintf(d->test_mark, sizeof d->test_mark, "\"livemode\": false (a Stripe test-mode payment)");
    return o;
}

/* Calendly invitee.created; Calendly keeps only utm_* from a link and has no test flag, so
 * the booking carries ttrelay's own in utm_content: ttr_test. */
static json_t *sample_calendly(const struct sample_ids *ids, struct sample_delivery *d)
{
    char ev[128], uri[192];

    snprintf(ev, sizeof ev, "https://api.calendly.com/scheduled_events/TTRTEST%s", ids->hex);
    snprintf(uri, sizeof uri, "%s/invitees/TTRTEST%s", ev, ids->hex);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,"
        "s:{s:s,s:s,s:s,s:s,s:n,s:n},s:n,s:n,s:{s:s,s:s,s:s,s:s,s:s}}}",
        "event", "invitee.created", "created_at", ids->iso, "created_by",
        "https://api.calendly.com/users/TTRTEST", "payload", "uri", uri, "email", SAMPLE_EMAIL,
        "first_name", "Send", "last_name", "Test", "name", "Send Test", "status", "active",
        "timezone", "America/New_York", "created_at", ids->iso, "text_reminder_number",
        SAMPLE_PHONE, "rescheduled", 0, "tracking", "utm_campaign", "send-test", "utm_source",
        "ttrelay", "utm_medium", "test", "utm_content", "ttr_test", "utm_term", "salesforce_uuid",
        "payment", "no_show", "scheduled_event", "uri", ev, "name", "ttrelay send-test",
        "start_time", ids->iso, "end_time", ids->iso, "status", "active");
    snprintf(d->what, sizeof d->what, "Calendly invitee.created, invitee %s", uri);
    snprintf(d->test_mark, sizeof d->test_mark,
             "tracking.utm_content = ttr_test (Calendly has no test flag)");
    return o;
}

/* Cal.com BOOKING_CREATED; no test flag either: metadata ttr_test = 1, where Cal.com puts a
 * booking link's metadata[…] parameters. */
static json_t *sample_calcom(const struct sample_ids *ids, struct sample_delivery *d)
{
    char uid[48];

    snprintf(uid, sizeof uid, "ttrtest%s", ids->hex);
    json_t *o = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s},s:{s:{s:s,s:s},s:{s:s,s:s}},"
        "s:[{s:s,s:s,s:s,s:{s:s}}],s:s,s:I,s:i,s:s,s:i,s:{s:s},s:s}}",
        "triggerEvent", "BOOKING_CREATED", "createdAt", ids->iso, "payload", "type", "send-test",
        "title", "ttrelay send-test between You and Send Test", "startTime", ids->iso, "endTime",
        ids->iso, "organizer", "name", "You", "email", "organizer@example.com", "timeZone", "UTC",
        "responses", "name", "label", "your_name", "value", "Send Test", "email", "label",
        "email_address", "value", SAMPLE_EMAIL, "attendees", "email", SAMPLE_EMAIL, "name",
        "Send Test", "timeZone", "UTC", "language", "locale", "en", "uid", uid, "bookingId",
        (json_int_t)ids->number, "price", 0, "currency", "usd", "length", 30, "metadata",
        "ttr_test", "1", "status", "ACCEPTED");
    snprintf(d->what, sizeof d->what, "Cal.com BOOKING_CREATED, booking %s", uid);
    snprintf(d->test_mark, sizeof d->test_mark, "metadata.ttr_test = 1 (Cal.com has no test flag)");
    return o;
}

/* The generic source's documented body, with "test": true. */
static json_t *sample_generic(const struct sample_ids *ids, time_t now,
                              const struct source_cfg *src, struct sample_delivery *d)
{
    char id[48];

    snprintf(id, sizeof id, "ttrelay-send-test-%s", ids->hex);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "id", id, "email",
                          SAMPLE_EMAIL, "phone", SAMPLE_PHONE, "external_id", "ttrelay-send-test",
                          "ip", SAMPLE_IP, "user_agent", SAMPLE_UA, "event_time", (json_int_t)now,
                          "value", "19.99", "currency", "USD", "test", 1);
    snprintf(d->what, sizeof d->what, "generic %s, id %s, 19.99 USD",
             conversion_kind_name(src->kind), id);
    snprintf(d->test_mark, sizeof d->test_mark, "\"test\": true");
    return o;
}

static void sample_object_id(const struct source_cfg *src, const json_t *o,
                             struct sample_delivery *d)
{
    const json_t *p = json_object_get(o, "payload"), *id = json_object_get(o, "id");

    if (!strcmp(src->type, "stripe"))
        id = json_object_get(json_object_get(json_object_get(o, "data"), "object"),
                             "payment_intent");
    else if (!strcmp(src->type, "calendly"))
        id = json_object_get(p, "uri");
    else if (!strcmp(src->type, "calcom"))
        id = json_object_get(p, "uid");
    if (json_is_integer(id))
        snprintf(d->object_id, sizeof d->object_id, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
    else
        snprintf(d->object_id, sizeof d->object_id, "%s",
                 json_string_value(id) ? json_string_value(id) : "");
}

/* The headers each sender sends, signed over the exact body bytes. */
static int sample_sign(const struct source_cfg *src, const struct sample_ids *ids, time_t now,
                       struct sample_delivery *d)
{
    char sig[256];
    const char *s = src->secret;

    sample_header(d, "Content-Type", "application/json");
    if (!strcmp(src->type, "shopify")) {
        if (signature_sign_base64(s, d->body, d->len, sig, sizeof sig) < 0)
            return -1;
        sample_header(d, "X-Shopify-Topic", "orders/paid");
        sample_header(d, "X-Shopify-Hmac-Sha256", "%s", sig);
        sample_header(d, "X-Shopify-Shop-Domain", "ttrelay-send-test.myshopify.com");
        sample_header(d, "X-Shopify-API-Version", "2025-07");
        sample_header(d, "X-Shopify-Webhook-Id", "ttrelay-send-test-%s", ids->hex);
        sample_header(d, "X-Shopify-Event-Id", "ttrelay-send-test-%s", ids->hex);
        sample_header(d, "X-Shopify-Triggered-At", "%s", ids->iso);
    } else if (!strcmp(src->type, "woocommerce")) {
        if (signature_sign_base64(s, d->body, d->len, sig, sizeof sig) < 0)
            return -1;
        sample_header(d, "X-WC-Webhook-Source", "https://shop.example/");
        sample_header(d, "X-WC-Webhook-Topic", "order.updated");
        sample_header(d, "X-WC-Webhook-Resource", "order");
        sample_header(d, "X-WC-Webhook-Event", "updated");
        sample_header(d, "X-WC-Webhook-Signature", "%s", sig);
        sample_header(d, "X-WC-Webhook-ID", "0");
        sample_header(d, "X-WC-Webhook-Delivery-ID", "ttrelay-send-test-%s", ids->hex);
    } else if (!strcmp(src->type, "calcom")) {
        if (signature_sign_hex(s, d->body, d->len, sig, sizeof sig) < 0)
            return -1;
        sample_header(d, "X-Cal-Signature-256", "%s", sig);
    } else {
        if (signature_sign_timestamped(s, d->body, d->len, now, sig, sizeof sig) < 0)
            return -1;
        sample_header(d,
                      !strcmp(src->type, "stripe")     ? "Stripe-Signature"
                      : !strcmp(src->type, "calendly") ? "Calendly-Webhook-Signature"
                                                       : "X-Ttrelay-Signature",
                      "%s", sig);
    }
    explicit_bzero(sig, sizeof sig);
    return 0;
}

int sample_build(const struct source_cfg *src, time_t now, struct sample_delivery *out, char *err,
                 size_t errlen)
{
    struct sample_ids ids;
    json_t *o = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!src->secret || !*src->secret) {
        snprintf(err, errlen, "source %s has no secret to sign with", src->id);
        return -1;
    }
    if (sample_ids_make(now, &ids) < 0) {
        snprintf(err, errlen, "no random bytes for the sample's ids");
        return -1;
    }
    if (!strcmp(src->type, "shopify"))
        o = sample_shopify(&ids, out);
    else if (!strcmp(src->type, "woocommerce"))
        o = sample_woocommerce(&ids, out);
    else if (!strcmp(src->type, "stripe"))
        o = sample_stripe(&ids, now, out);
    else if (!strcmp(src->type, "calendly"))
        o = sample_calendly(&ids, out);
    else if (!strcmp(src->type, "calcom"))
        o = sample_calcom(&ids, out);
    else if (!strcmp(src->type, "generic"))
        o = sample_generic(&ids, now, src, out);
    if (!o) {
        snprintf(err, errlen, "source %s: no sample for type %s", src->id, src->type);
        goto out;
    }
    sample_object_id(src, o, out);
    if (!(out->body = json_dumps(o, JSON_COMPACT))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    out->len = strlen(out->body);
    if (sample_sign(src, &ids, now, out) < 0) {
        snprintf(err, errlen, "cannot sign the sample");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    if (rc)
        sample_clear(out);
    return rc;
}

void sample_clear(struct sample_delivery *d)
{
    free(d->body);
    d->body = NULL;
    d->len = 0;
    d->nheaders = 0;
}
