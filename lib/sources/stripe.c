/* Stripe payment webhooks: Stripe-Signature (timestamped hex HMAC, 300 s tolerance);
 * a paid Checkout Session and its payment intent map to one conversion keyed on the intent,
 * a subscription's first payment (session and first invoice) to one keyed on the
 * subscription, and an invoice with billing_reason subscription_cycle is a renewal. */
#include <jansson.h>
#include <string.h>

#include "config.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source.h"
#include "source_util.h"

#define STRIPE_TOLERANCE_S 300

/* An expandable field: the id string, or the id of the expanded object. */
static const char *stripe_ref_id(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? source_util_str(v, "id") : source_util_str(obj, key);
}

static const char *stripe_email(const json_t *obj)
{
    const char *e = source_util_str(json_object_get(obj, "customer_details"), "email");

    if (!e)
        e = source_util_str(obj, "customer_email");
    if (!e)
        e = source_util_str(obj, "receipt_email");
    return e;
}

static void stripe_map_contact(const json_t *obj, const json_t *meta, struct conversion *out)
{
    const json_t *details = json_object_get(obj, "customer_details");
    const char *email = stripe_email(obj), *phone = source_util_str(details, "phone");

    if (!phone)
        phone = source_util_str(obj, "customer_phone"); /* an invoice */
    const char *customer = stripe_ref_id(obj, "customer");

    if (email)
        normalize_hash_email(email, out->email_hash);
    if (phone)
        normalize_hash_phone(phone, source_util_str(json_object_get(details, "address"), "country"),
                             out->phone_hash);
    if (customer)
        normalize_hash_external_id(customer, out->external_id_hash);
    /* No browser data reaches Stripe unless the integration put it into metadata. */
    STR_SET(out->ip, source_util_str(meta, "ip"));
    STR_SET(out->user_agent, source_util_str(meta, "user_agent"));
    STR_SET(out->url, source_util_str(meta, "url"));
    STR_SET(out->referrer, source_util_str(meta, "referrer"));
    STR_SET(out->ttclid, source_util_str(meta, "ttclid"));
    STR_SET(out->ttp, source_util_str(meta, "ttp"));
}

/* client_reference_id is the only field a Payment Link fills from its URL, so ttr.js can
 * pass the visitor id there: "vid:<id>" always names a visitor, and a bare value is tried
 * as one when metadata.ttr_vid is absent (a value that is not a vid matches no visitor).
 * It is also a match reference, for storefronts that report it as the pixel's order_id. */
static void stripe_map_ids(const json_t *obj, const json_t *meta, struct conversion *out)
{
    const char *crid = source_util_str(obj, "client_reference_id");
    const char *vid = source_util_str(meta, "ttr_vid");
    const char *eid = source_util_str(meta, "event_id");
    const char *ttr_eid = source_util_str(meta, "ttr_event_id");

    if (source_util_id_set(out->event_id, sizeof out->event_id, eid) < 0)
        source_util_id_set(out->event_id, sizeof out->event_id, ttr_eid);
    if (!vid && crid)
        vid = strncmp(crid, "vid:", 4) == 0 ? crid + 4 : crid;
    source_util_id_set(out->vid, sizeof out->vid, vid);
    conversion_add_ref(out, out->object_id);
    conversion_add_ref(out, source_util_str(obj, "id"));
    /* Values the site chose may be sequential. */
    conversion_add_guessable_ref(out, crid);
    conversion_add_guessable_ref(out, source_util_str(meta, "order_id"));
}

/* What a Stripe event is about. */
enum stripe_object { STRIPE_OTHER = -1, STRIPE_INTENT = 0, STRIPE_SESSION = 1, STRIPE_INVOICE = 2 };

/* Minor units with the currency's exponent: JPY 5000 is 5000, KWD 12345 is 12.345. */
static void stripe_map_value(const json_t *obj, enum stripe_object kind, struct conversion *out)
{
    const json_t *amount = json_object_get(obj, kind == STRIPE_SESSION   ? "amount_total"
                                                : kind == STRIPE_INVOICE ? "amount_paid"
                                                                         : "amount_received");
    const char *currency = source_util_str(obj, "currency");

    if (!json_is_integer(amount))
        amount = json_object_get(obj, "amount_received");
    if (!json_is_integer(amount) && kind != STRIPE_SESSION)
        amount = json_object_get(obj, "amount");
    if (!currency || money_currency(currency, out->currency) < 0) {
        out->currency[0] = '\0';
        return;
    }
    if (json_is_integer(amount) && money_from_minor(json_integer_value(amount), out->currency,
                                                    out->value, sizeof out->value) < 0)
        out->value[0] = '\0';
}

/* Which events are conversions (STRIPE_OTHER: not one, why says so). An unpaid session
 * (delayed methods) waits for checkout.session.async_payment_succeeded. A payment intent
 * that pays an invoice is counted through that invoice (invoice.paid, or the Checkout
 * Session of a subscription's first payment): the intent alone does not say whether it pays
 * a first invoice or a renewal, unless its invoice is expanded. */
static enum stripe_object stripe_event_object(const char *type, const json_t *obj, char *why,
                                              size_t whylen)
{
    if (type && !strcmp(type, "checkout.session.completed")) {
        const char *ps = source_util_str(obj, "payment_status");
        if (ps && !strcmp(ps, "paid"))
            return STRIPE_SESSION;
        source_util_why(why, whylen, "checkout session not paid");
        return STRIPE_OTHER;
    }
    if (type && !strcmp(type, "checkout.session.async_payment_succeeded"))
        return STRIPE_SESSION;
    if (type && (!strcmp(type, "invoice.paid") || !strcmp(type, "invoice.payment_succeeded")))
        return STRIPE_INVOICE;
    if (type && !strcmp(type, "payment_intent.succeeded")) {
        const json_t *inv = json_object_get(obj, "invoice");
        if (json_is_object(inv) && source_util_str(inv, "billing_reason"))
            return STRIPE_INVOICE;
        /* From API version 2025-03-31 (basil) an intent no longer names its invoice; the
         * one Stripe creates for a subscription's invoice is still described so
         * (UNCONFIRMED: Stripe's default descriptions, not in the reference material). */
        const char *desc = source_util_str(obj, "description");
        if (json_is_string(inv) || json_is_object(inv) ||
            (desc && (!strcmp(desc, "Subscription creation") ||
                      !strcmp(desc, "Subscription update")))) {
            source_util_why(why, whylen,
                            "invoice payment (counted from invoice.paid or the checkout session)");
            return STRIPE_OTHER;
        }
        return STRIPE_INTENT;
    }
    source_util_why(why, whylen, "not a payment event");
    return STRIPE_OTHER;
}

/* The subscription an invoice belongs to: `subscription` (API versions before 2025-03-31)
 * or parent.subscription_details.subscription (later ones). */
static const char *stripe_invoice_subscription(const json_t *inv)
{
    const char *sub = stripe_ref_id(inv, "subscription");
    if (!sub)
        sub = stripe_ref_id(
            json_object_get(json_object_get(inv, "parent"), "subscription_details"),
            "subscription");
    return sub;
}

/* The business key of a payment, and whether it renews a subscription. A subscription's
 * first payment arrives as a Checkout Session (mode subscription, no payment intent) and as
 * its first invoice (billing_reason subscription_create): both carry the subscription id,
 * so both key on it. Each cycle's invoice (subscription_cycle) keys on itself. */
static const char *stripe_business_key(enum stripe_object kind, const json_t *obj,
                                       struct conversion *out)
{
    const json_t *inv = kind == STRIPE_INVOICE && json_is_object(json_object_get(obj, "invoice"))
                            ? json_object_get(obj, "invoice")
                            : obj;
    const char *key = NULL, *reason;

    if (kind == STRIPE_SESSION) {
        const char *mode = source_util_str(obj, "mode");
        if (mode && !strcmp(mode, "subscription"))
            key = stripe_ref_id(obj, "subscription");
        if (!key)
            key = stripe_ref_id(obj, "payment_intent");
        conversion_add_ref(out, stripe_ref_id(obj, "invoice"));
    } else if (kind == STRIPE_INVOICE) {
        reason = source_util_str(inv, "billing_reason");
        out->renewal = reason && !strcmp(reason, "subscription_cycle");
        if (reason && !strcmp(reason, "subscription_create"))
            key = stripe_invoice_subscription(inv);
        conversion_add_ref(out, source_util_str(inv, "id"));
    }
    return key ? key : source_util_str(obj, "id");
}

/* livemode false is a sandbox payment: sent only to a test_event_code. */
static enum source_result stripe_check_mode(const struct source_cfg *src, const json_t *evt,
                                            const json_t *obj, struct conversion *out, char *why,
                                            size_t whylen)
{
    const json_t *live = json_object_get(evt, "livemode");

    if (!json_is_boolean(live))
        live = json_object_get(obj, "livemode");
    if (!json_is_false(live))
        return SOURCE_OK;
    if (!src->send_tests) {
        source_util_why(why, whylen, "test mode payment");
        return SOURCE_IGNORED;
    }
    out->test = 1;
    return SOURCE_OK;
}

static enum source_result stripe_verify(const struct source_cfg *src,
                                        const struct webhook_request *req, char *why, size_t whylen)
{
    const char *sig = source_util_header(req, "Stripe-Signature");
    enum signature_result sr;

    if (!sig) {
        source_util_why(why, whylen, "missing Stripe-Signature");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret) {
        source_util_why(why, whylen, "no secret configured");
        return SOURCE_UNAUTHORIZED;
    }
    sr = signature_check_timestamped(src->secret, req->body, req->len, sig, req->now,
                                     STRIPE_TOLERANCE_S);
    switch (sr) {
    case SIG_OK: return SOURCE_OK;
    case SIG_MISSING: source_util_why(why, whylen, "missing Stripe-Signature"); break;
    case SIG_MALFORMED: source_util_why(why, whylen, "malformed Stripe-Signature"); break;
    case SIG_STALE:
        source_util_why(why, whylen, "Stripe-Signature timestamp outside tolerance");
        break;
    case SIG_MISMATCH:
    default: source_util_why(why, whylen, "bad Stripe-Signature"); break;
    }
    return SOURCE_UNAUTHORIZED;
}

static enum source_result stripe_parse(const struct source_cfg *src,
                                       const struct webhook_request *req, struct conversion *out,
                                       char *why, size_t whylen)
{
    enum source_result rc = SOURCE_BAD_REQUEST;
    json_t *evt = NULL, *obj, *meta, *created;
    const char *key;
    enum stripe_object kind;

    if (!source_util_media_is(source_util_content_type(req), "application/json",
                              SOURCE_MEDIA_LOOSE)) {
        source_util_why(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    evt = source_util_load_object(req, NULL, 0);
    obj = json_object_get(json_object_get(evt, "data"), "object");
    if (!evt || !json_is_object(obj)) {
        source_util_why(why, whylen, "not a Stripe event");
        goto out;
    }
    rc = SOURCE_IGNORED;
    kind = stripe_event_object(source_util_str(evt, "type"), obj, why, whylen);
    if (kind == STRIPE_OTHER)
        goto out;
    if (!source_util_str(obj, "id")) {
        rc = SOURCE_BAD_REQUEST;
        source_util_why(why, whylen, "payment object has no id");
        goto out;
    }
    rc = stripe_check_mode(src, evt, obj, out, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    /* A session and its intent are one payment: key both on the intent. */
    key = stripe_business_key(kind, obj, out);
    if (source_util_id_set(out->object_id, sizeof out->object_id, key) < 0) {
        rc = SOURCE_BAD_REQUEST;
        source_util_why(why, whylen, "object id too long");
        goto out;
    }
    out->kind = KIND_ORDER;
    STR_SET(out->order_id, out->object_id);
    source_util_id_set(out->delivery_id, sizeof out->delivery_id, source_util_str(evt, "id"));
    meta = json_object_get(obj, "metadata");
    if (kind == STRIPE_INVOICE && !json_is_object(meta))
        meta = json_object_get(
            json_object_get(json_object_get(obj, "parent"), "subscription_details"), "metadata");
    stripe_map_value(obj, kind, out);
    stripe_map_contact(obj, meta, out);
    stripe_map_ids(obj, meta, out);
    /* The success page sees the Checkout Session id ({CHECKOUT_SESSION_ID}). */
    if (kind == STRIPE_SESSION)
        source_util_id_set(out->page_ref, sizeof out->page_ref, source_util_str(obj, "id"));
    created = json_object_get(obj, "created");
    if (!json_is_integer(created))
        created = json_object_get(evt, "created");
    out->event_time = json_is_integer(created) ? json_integer_value(created) : (long long)req->now;
out:
    json_decref(evt);
    return rc;
}

const struct source_ops source_stripe = {
    .type = "stripe",
    .verify = stripe_verify,
    .parse = stripe_parse,
};
