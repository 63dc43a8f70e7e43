/* Stripe payment webhooks: Stripe-Signature (timestamped hex HMAC, 300 s tolerance);
 * a paid Checkout Session and its payment intent map to one conversion keyed on the intent. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source.h"

#define STRIPE_TOLERANCE_S 300

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

/* An expandable field: the id string, or the id of the expanded object. */
static const char *json_ref_id(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? json_str(v, "id") : json_str(obj, key);
}

/* Copies an identifier only when it fits: a cut id would name something else. */
static int id_set(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size)
        return -1;
    str_copy(dst, size, src);
    return 0;
}

static const char *stripe_email(const json_t *obj)
{
    const char *e = json_str(json_object_get(obj, "customer_details"), "email");

    if (!e)
        e = json_str(obj, "customer_email");
    if (!e)
        e = json_str(obj, "receipt_email");
    return e;
}

static void stripe_map_contact(const json_t *obj, const json_t *meta, struct conversion *out)
{
    const json_t *details = json_object_get(obj, "customer_details");
    const char *email = stripe_email(obj), *phone = json_str(details, "phone");
    const char *customer = json_ref_id(obj, "customer");

    if (email)
        normalize_hash_email(email, out->email_hash);
    if (phone)
        normalize_hash_phone(phone, json_str(json_object_get(details, "address"), "country"),
                             out->phone_hash);
    if (customer)
        normalize_hash_external_id(customer, out->external_id_hash);
    /* No browser data reaches Stripe unless the integration put it into metadata. */
    STR_SET(out->ip, json_str(meta, "ip"));
    STR_SET(out->user_agent, json_str(meta, "user_agent"));
    STR_SET(out->url, json_str(meta, "url"));
    STR_SET(out->referrer, json_str(meta, "referrer"));
    STR_SET(out->ttclid, json_str(meta, "ttclid"));
    STR_SET(out->ttp, json_str(meta, "ttp"));
}

/* client_reference_id is the only field a Payment Link fills from its URL, so ttr.js can
 * pass the visitor id there: "vid:<id>" always names a visitor, and a bare value is tried
 * as one when metadata.ttr_vid is absent (a value that is not a vid matches no visitor).
 * It is also a match reference, for storefronts that report it as the pixel's order_id. */
static void stripe_map_ids(const json_t *obj, const json_t *meta, struct conversion *out)
{
    const char *crid = json_str(obj, "client_reference_id");
    const char *vid = json_str(meta, "ttr_vid");

    if (id_set(out->event_id, sizeof out->event_id, json_str(meta, "event_id")) < 0)
        id_set(out->event_id, sizeof out->event_id, json_str(meta, "ttr_event_id"));
    if (!vid && crid)
        vid = strncmp(crid, "vid:", 4) == 0 ? crid + 4 : crid;
    id_set(out->vid, sizeof out->vid, vid);
    conversion_add_ref(out, out->object_id);
    conversion_add_ref(out, json_str(obj, "id"));
    conversion_add_ref(out, crid);
    conversion_add_ref(out, json_str(meta, "order_id"));
}

/* Minor units with the currency's exponent: JPY 5000 is 5000, KWD 12345 is 12.345. */
static void stripe_map_value(const json_t *obj, int session, struct conversion *out)
{
    const json_t *amount = json_object_get(obj, session ? "amount_total" : "amount_received");
    const char *currency = json_str(obj, "currency");

    if (!session && !json_is_integer(amount))
        amount = json_object_get(obj, "amount");
    if (!currency || money_currency(currency, out->currency) < 0) {
        out->currency[0] = '\0';
        return;
    }
    if (json_is_integer(amount) &&
        money_from_minor(json_integer_value(amount), out->currency, out->value,
                         sizeof out->value) < 0)
        out->value[0] = '\0';
}

/* Which events are conversions: 1 for a Checkout Session, 0 for a payment intent,
 * -1 for anything else (why says so). An unpaid session (delayed methods) waits for
 * checkout.session.async_payment_succeeded. */
static int stripe_event_object(const char *type, const json_t *obj, char *why, size_t whylen)
{
    if (type && !strcmp(type, "checkout.session.completed")) {
        const char *ps = json_str(obj, "payment_status");
        if (ps && !strcmp(ps, "paid"))
            return 1;
        say(why, whylen, "checkout session not paid");
        return -1;
    }
    if (type && !strcmp(type, "checkout.session.async_payment_succeeded"))
        return 1;
    if (type && !strcmp(type, "payment_intent.succeeded"))
        return 0;
    say(why, whylen, "not a payment event");
    return -1;
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
        say(why, whylen, "test mode payment");
        return SOURCE_IGNORED;
    }
    out->test = 1;
    return SOURCE_OK;
}

static enum source_result stripe_verify(const struct source_cfg *src,
                                        const struct webhook_request *req, char *why,
                                        size_t whylen)
{
    const char *sig = req->header ? req->header(req->ctx, "Stripe-Signature") : NULL;
    enum signature_result sr;

    if (!sig || !*sig) {
        say(why, whylen, "missing Stripe-Signature");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret) {
        say(why, whylen, "no secret configured");
        return SOURCE_UNAUTHORIZED;
    }
    sr = signature_check_timestamped(src->secret, req->body, req->len, sig, req->now,
                                     STRIPE_TOLERANCE_S);
    switch (sr) {
    case SIG_OK:
        return SOURCE_OK;
    case SIG_MISSING:
        say(why, whylen, "missing Stripe-Signature");
        break;
    case SIG_MALFORMED:
        say(why, whylen, "malformed Stripe-Signature");
        break;
    case SIG_STALE:
        say(why, whylen, "Stripe-Signature timestamp outside tolerance");
        break;
    case SIG_MISMATCH:
    default:
        say(why, whylen, "bad Stripe-Signature");
        break;
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
    int session;

    if (!content_is_json(req)) {
        say(why, whylen, "content type is not application/json");
        return SOURCE_BAD_MEDIA;
    }
    /* A key sent twice means whatever the reader picks; no sender does it. */
    evt = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, NULL);
    obj = json_object_get(json_object_get(evt, "data"), "object");
    if (!json_is_object(evt) || !json_is_object(obj)) {
        say(why, whylen, "not a Stripe event");
        goto out;
    }
    rc = SOURCE_IGNORED;
    session = stripe_event_object(json_str(evt, "type"), obj, why, whylen);
    if (session < 0)
        goto out;
    if (!json_str(obj, "id")) {
        rc = SOURCE_BAD_REQUEST;
        say(why, whylen, "payment object has no id");
        goto out;
    }
    rc = stripe_check_mode(src, evt, obj, out, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    /* A session and its intent are one payment: key both on the intent; a session without
     * one (subscription or setup mode) keys on itself. */
    key = session ? json_ref_id(obj, "payment_intent") : NULL;
    if (!key)
        key = json_str(obj, "id");
    if (id_set(out->object_id, sizeof out->object_id, key) < 0) {
        rc = SOURCE_BAD_REQUEST;
        say(why, whylen, "object id too long");
        goto out;
    }
    out->kind = KIND_ORDER;
    STR_SET(out->order_id, out->object_id);
    id_set(out->delivery_id, sizeof out->delivery_id, json_str(evt, "id"));
    meta = json_object_get(obj, "metadata");
    stripe_map_value(obj, session, out);
    stripe_map_contact(obj, meta, out);
    stripe_map_ids(obj, meta, out);
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
