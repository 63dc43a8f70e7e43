/* Cal.com BOOKING_CREATED webhooks: a booked call, signed with X-Cal-Signature-256
 * (hex HMAC-SHA256 of the raw body, no timestamp). */
#include "source.h"

#include "config.h"
#include "conversion.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "timeparse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* What Cal.com sends in X-Cal-Signature-256 when the webhook has no secret. */
#define CALCOM_NO_SECRET "no-secret-provided"

static void calcom_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void calcom_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* 1 when the media type (parameters such as charset ignored) is application/json. A custom
 * payload template that is not JSON arrives form-encoded, which this source cannot map. */
static int calcom_is_json(const char *content_type)
{
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;

    if (!content_type)
        return 0;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    if (strncasecmp(content_type, want, n) != 0)
        return 0;
    content_type += n;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    return *content_type == '\0' || *content_type == ';';
}

/* Borrowed string value of obj[key], or NULL when absent, not a string or empty. */
static const char *calcom_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? s : NULL;
}

/* responses.<key>.value, Cal.com's shape for booking-form answers. */
static const char *calcom_response(json_t *payload, const char *key)
{
    return calcom_str(json_object_get(json_object_get(payload, "responses"), key), "value");
}

static enum source_result calcom_verify(const struct source_cfg *src,
                                        const struct webhook_request *req, char *why,
                                        size_t whylen)
{
    const char *sig = req->header ? req->header(req->ctx, "X-Cal-Signature-256") : NULL;

    if (!sig || !*sig) {
        calcom_why(why, whylen, "missing X-Cal-Signature-256");
        return SOURCE_UNAUTHORIZED;
    }
    /* An unsigned webhook would let anyone post bookings, so it is refused like a bad one. */
    if (strcmp(sig, CALCOM_NO_SECRET) == 0) {
        calcom_why(why, whylen, "Cal.com webhook has no secret set (no-secret-provided)");
        return SOURCE_UNAUTHORIZED;
    }
    if (!src->secret || !*src->secret) {
        calcom_why(why, whylen, "source has no secret configured");
        return SOURCE_UNAUTHORIZED;
    }
    if (!signature_check_hex(src->secret, req->body, req->len, sig)) {
        calcom_why(why, whylen, "X-Cal-Signature-256 mismatch");
        return SOURCE_UNAUTHORIZED;
    }
    return SOURCE_OK;
}

static void calcom_map_contact(json_t *payload, struct conversion *out)
{
    json_t *attendee = json_array_get(json_object_get(payload, "attendees"), 0);
    const char *emails[2], *phones[3];

    emails[0] = calcom_str(attendee, "email");
    emails[1] = calcom_response(payload, "email");
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++) {
        if (emails[i] && normalize_hash_email(emails[i], out->email_hash) == 0)
            break;
    }
    /* Cal.com's phone inputs store E.164, so no country is guessed for national numbers. */
    phones[0] = calcom_str(attendee, "phoneNumber");
    phones[1] = calcom_response(payload, "attendeePhoneNumber");
    phones[2] = calcom_str(payload, "smsReminderNumber");
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        if (phones[i] && normalize_hash_phone(phones[i], NULL, out->phone_hash) == 0)
            break;
    }
}

/* metadata[key]=value from the booking link or embed arrives as payload.metadata.key. */
static void calcom_map_metadata(json_t *payload, struct conversion *out)
{
    static const struct {
        const char *key;
        size_t offset, size;
    } keys[] = {
        {"event_id", offsetof(struct conversion, event_id), sizeof out->event_id},
        {"ttr_vid", offsetof(struct conversion, vid), sizeof out->vid},
        {"ttclid", offsetof(struct conversion, ttclid), sizeof out->ttclid},
        {"ttp", offsetof(struct conversion, ttp), sizeof out->ttp},
    };
    json_t *metadata = json_object_get(payload, "metadata");

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = calcom_str(metadata, keys[i].key);
        /* A cut id would match nothing or the wrong visitor: oversized values are dropped. */
        if (v && strlen(v) < keys[i].size)
            str_copy((char *)out + keys[i].offset, keys[i].size, v);
    }
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
    if (minor <= 0 || money_currency(calcom_str(payload, "currency"), currency) != 0)
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
    const char *trigger = calcom_str(root, "triggerEvent");
    const char *status = calcom_str(payload, "status");

    if (!trigger) {
        calcom_why(why, whylen, "body has no triggerEvent (custom payload template?)");
        return SOURCE_BAD_REQUEST;
    }
    if (strcmp(trigger, "BOOKING_CREATED") != 0) {
        calcom_why(why, whylen, "triggerEvent %.64s is not a new booking", trigger);
        return SOURCE_IGNORED;
    }
    if (!json_is_object(payload)) {
        calcom_why(why, whylen, "body has no payload object");
        return SOURCE_BAD_REQUEST;
    }
    if (status && (strcasecmp(status, "CANCELLED") == 0 || strcasecmp(status, "REJECTED") == 0)) {
        calcom_why(why, whylen, "booking status is %.16s", status);
        return SOURCE_IGNORED;
    }
    return SOURCE_OK;
}

static enum source_result calcom_parse(const struct source_cfg *src,
                                       const struct webhook_request *req, struct conversion *out,
                                       char *why, size_t whylen)
{
    enum source_result rc = SOURCE_BAD_REQUEST;
    json_t *root = NULL, *payload, *booking_id;
    json_error_t jerr;
    const char *uid;
    char ref[32];

    if (!calcom_is_json(req->content_type)) {
        calcom_why(why, whylen, "content type must be application/json");
        return SOURCE_BAD_MEDIA;
    }
    /* A key sent twice means whatever the reader picks; no sender does it. */
    root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        calcom_why(why, whylen, "body is not a JSON object");
        goto out;
    }
    payload = json_object_get(root, "payload");
    rc = calcom_check_event(root, payload, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    uid = calcom_str(payload, "uid");
    if (!uid || strlen(uid) >= sizeof out->object_id) {
        calcom_why(why, whylen, "payload.uid missing or too long");
        rc = SOURCE_BAD_REQUEST;
        goto out;
    }
    out->kind = KIND_CALL;
    STR_SET(out->object_id, uid);
    conversion_add_ref(out, uid);
    booking_id = json_object_get(payload, "bookingId");
    if (json_is_integer(booking_id)) {
        snprintf(ref, sizeof ref, "%" JSON_INTEGER_FORMAT, json_integer_value(booking_id));
        conversion_add_ref(out, ref);
    }
    calcom_map_contact(payload, out);
    calcom_map_metadata(payload, out);
    calcom_map_price(payload, out);
    /* createdAt is when the booking was made; startTime is when the call will happen. */
    if (time_parse_iso8601(calcom_str(root, "createdAt"), &out->event_time) != 0)
        out->event_time = (long long)req->now;
out:
    json_decref(root);
    return rc;
}

const struct source_ops source_calcom = {
    .type = "calcom",
    .verify = calcom_verify,
    .parse = calcom_parse,
};
