/* Cal.com BOOKING_CREATED webhooks: a booked call, signed with X-Cal-Signature-256
 * (hex HMAC-SHA256 of the raw body, no timestamp). */
#include "source.h"

#include "config.h"
#include "conversion.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source_util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* What Cal.com sends in X-Cal-Signature-256 when the webhook has no secret. */
#define CALCOM_NO_SECRET "no-secret-provided"

/* responses.<key>.value, Cal.com's shape for booking-form answers. */
static const char *calcom_response(json_t *payload, const char *key)
{
    return source_util_str(json_object_get(json_object_get(payload, "responses"), key), "value");
}

static enum source_result calcom_verify(const struct source_cfg *src,
                                        const struct webhook_request *req, char *why, size_t whylen)
{
    const char *sig = source_util_header(req, "X-Cal-Signature-256");

    if (!sig) {
        source_util_why(why, whylen, "missing X-Cal-Signature-256");
        return SOURCE_UNAUTHORIZED;
    }
    /* An unsigned webhook would let anyone post bookings, so it is refused like a bad one. */
    if (strcmp(sig, CALCOM_NO_SECRET) == 0) {
        source_util_why(why, whylen, "Cal.com webhook has no secret set (no-secret-provided)");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !*src->secret) {
        source_util_why(why, whylen, "source has no secret configured");
        return SOURCE_UNAUTHORIZED;
    }
    if (!signature_check_hex(src->secret, req->body, req->len, sig)) {
        source_util_why(why, whylen, "X-Cal-Signature-256 mismatch");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static void calcom_map_contact(json_t *payload, struct conversion *out)
{
    json_t *attendee = json_array_get(json_object_get(payload, "attendees"), 0);
    const char *emails[2], *phones[3];

    emails[0] = source_util_str(attendee, "email");
    emails[1] = calcom_response(payload, "email");
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++) {
        if (emails[i] && normalize_hash_email(emails[i], out->email_hash) == 0)
            break;
    }
    /* Cal.com's phone inputs store E.164, so no country is guessed for national numbers. */
    phones[0] = source_util_str(attendee, "phoneNumber");
    phones[1] = calcom_response(payload, "attendeePhoneNumber");
    phones[2] = source_util_str(payload, "smsReminderNumber");
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        if (phones[i] && normalize_hash_phone(phones[i], NULL, out->phone_hash) == 0)
            break;
    }
}

/* metadata[key]=value from the booking link or embed arrives as payload.metadata.key; an
 * oversized value is dropped, since a cut id would match nothing or the wrong visitor. */
static void calcom_map_metadata(json_t *payload, struct conversion *out)
{
    static const char *const keys[] = {"event_id", "ttr_vid", "ttclid", "ttp", "ttr_test"};
    json_t *metadata = json_object_get(payload, "metadata");

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        source_util_map_tracking(keys[i], source_util_str(metadata, keys[i]), out);
}

/* Cal.com keeps an event type's price in the currency's minor units (its Stripe app hands
 * price to Stripe unchanged), so 5000 with "usd" is 50.00 USD. Free bookings have price 0. */
static void calcom_map_price(json_t *payload, struct conversion *out)
{
    json_t *price = json_object_get(payload, "price");
    char currency[4], value[sizeof out->value];
    long long minor;

    if (json_is_integer(price)) {
        minor = json_integer_value(price);
    } else if (json_is_real(price) && json_real_value(price) >= 1.0 &&
               json_real_value(price) < 1e15 &&
               (double)(long long)json_real_value(price) == json_real_value(price)) {
        minor = (long long)json_real_value(price);
    } else {
        return;
    }
    if (minor <= 0 || money_currency(source_util_str(payload, "currency"), currency) != 0)
        return;
    if (money_from_minor(minor, currency, value, sizeof value) != 0)
        return;
    STR_SET(out->value, value);
    STR_SET(out->currency, currency);
}

/* Checks the envelope; SOURCE_OK means payload is a live BOOKING_CREATED. */
static enum source_result calcom_check_event(json_t *root, json_t *payload, char *why,
                                             size_t whylen)
{
    const char *trigger = source_util_str(root, "triggerEvent");
    const char *status = source_util_str(payload, "status");

    if (!trigger) {
        source_util_why(why, whylen, "body has no triggerEvent (custom payload template?)");
        return SOURCE_BAD_REQUEST;
    }
    if (strcmp(trigger, "BOOKING_CREATED") != 0) {
        source_util_why(why, whylen, "triggerEvent %.64s is not a new booking", trigger);
        return SOURCE_IGNORED;
    }
    if (!json_is_object(payload)) {
        source_util_why(why, whylen, "body has no payload object");
        return SOURCE_BAD_REQUEST;
    }
    if (status && (strcasecmp(status, "CANCELLED") == 0 || strcasecmp(status, "REJECTED") == 0)) {
        source_util_why(why, whylen, "booking status is %.16s", status);
        return SOURCE_IGNORED;
    }
    return SOURCE_OK;
}

static enum source_result calcom_parse(const struct source_cfg *src,
                                       const struct webhook_request *req, struct conversion *out,
                                       char *why, size_t whylen)
{
    enum source_result rc = SOURCE_BAD_REQUEST;
    static const char *const created[] = {"createdAt", NULL};
    json_t *root = NULL, *payload, *booking_id;
    char ref[32];

    if (!source_util_media_is(req->content_type, "application/json", SOURCE_MEDIA_STRICT)) {
        source_util_why(why, whylen, "content type must be application/json");
        return SOURCE_BAD_MEDIA;
    }
    root = source_util_load_object(req, why, whylen);
    if (!root)
        goto out;
    payload = json_object_get(root, "payload");
    rc = calcom_check_event(root, payload, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    if (source_util_booking_id(payload, "uid", out, why, whylen) < 0) {
        rc = SOURCE_BAD_REQUEST;
        goto out;
    }
    booking_id = json_object_get(payload, "bookingId");
    if (json_is_integer(booking_id)) {
        snprintf(ref, sizeof ref, "%" JSON_INTEGER_FORMAT, json_integer_value(booking_id));
        conversion_add_ref(out, ref);
    }
    calcom_map_contact(payload, out);
    calcom_map_metadata(payload, out);
    calcom_map_price(payload, out);
    /* createdAt is when the booking was made; startTime is when the call will happen. */
    out->event_time = source_util_event_time(root, created, (long long)req->now);
out:
    json_decref(root);
    return rc;
}

const struct source_ops source_calcom = {
    .type = "calcom",
    .verify = calcom_verify,
    .parse = calcom_parse,
};
