/* Calendly invitee.created webhooks: a booked call, signed with Calendly-Webhook-Signature
 * ("t=<unix>,v1=<hex HMAC of '<t>.<body>'>"). */
#include "source.h"

#include "config.h"
#include "conversion.h"
#include "money.h"
#include "normalize.h"
#include "signature.h"
#include "source_util.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

/* Calendly's own examples allow 180 s and the official value is unknown; 300 s (Stripe's)
 * refuses replays just as well and forgives a slow proxy or clock. */
#define CALENDLY_TOLERANCE_S 300

static enum source_result calendly_verify(const struct source_cfg *src,
                                          const struct webhook_request *req, char *why,
                                          size_t whylen)
{
    const char *header = source_util_header(req, "Calendly-Webhook-Signature");
    enum signature_result sig;

    if (!src->secret || !*src->secret) {
        source_util_why(why, whylen, "source has no signing key configured");
        return SOURCE_UNAUTHORIZED;
    }
    sig = signature_check_timestamped(src->secret, req->body, req->len, header, req->now,
                                      CALENDLY_TOLERANCE_S);
    switch (sig) {
    case SIG_OK: return SOURCE_OK;
    case SIG_MISSING: source_util_why(why, whylen, "missing Calendly-Webhook-Signature"); break;
    case SIG_MALFORMED: source_util_why(why, whylen, "malformed Calendly-Webhook-Signature"); break;
    case SIG_STALE:
        source_util_why(why, whylen, "Calendly-Webhook-Signature timestamp outside %d s",
                        CALENDLY_TOLERANCE_S);
        break;
    case SIG_MISMATCH:
    default: source_util_why(why, whylen, "Calendly-Webhook-Signature mismatch"); break;
    }
    return SOURCE_UNAUTHORIZED;
}

/* Calendly reports the invitee's IANA time zone but no country, so a national phone number
 * is read with the country its zone most likely means; unknown zones give NULL. */
static const char *calendly_zone_country(const char *zone)
{
    static const struct {
        const char *zone, *country;
    } zones[] = {
        {"America/New_York", "US"},
        {"America/Chicago", "US"},
        {"America/Denver", "US"},
        {"America/Los_Angeles", "US"},
        {"America/Phoenix", "US"},
        {"America/Anchorage", "US"},
        {"America/Detroit", "US"},
        {"America/Boise", "US"},
        {"America/Indiana/Indianapolis", "US"},
        {"Pacific/Honolulu", "US"},
        {"America/Toronto", "CA"},
        {"America/Vancouver", "CA"},
        {"America/Edmonton", "CA"},
        {"America/Winnipeg", "CA"},
        {"America/Halifax", "CA"},
        {"America/Mexico_City", "MX"},
        {"America/Sao_Paulo", "BR"},
        {"Europe/London", "GB"},
        {"Europe/Dublin", "IE"},
        {"Europe/Berlin", "DE"},
        {"Europe/Paris", "FR"},
        {"Europe/Madrid", "ES"},
        {"Europe/Rome", "IT"},
        {"Europe/Amsterdam", "NL"},
        {"Europe/Brussels", "BE"},
        {"Europe/Zurich", "CH"},
        {"Europe/Vienna", "AT"},
        {"Europe/Stockholm", "SE"},
        {"Europe/Warsaw", "PL"},
        {"Australia/Sydney", "AU"},
        {"Australia/Melbourne", "AU"},
        {"Australia/Brisbane", "AU"},
        {"Australia/Perth", "AU"},
        {"Australia/Adelaide", "AU"},
        {"Pacific/Auckland", "NZ"},
        {"Asia/Kolkata", "IN"},
        {"Asia/Singapore", "SG"},
        {"Asia/Tokyo", "JP"},
    };

    if (!zone)
        return NULL;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        if (strcmp(zones[i].zone, zone) == 0)
            return zones[i].country;
    }
    return NULL;
}

/* The answer to the first booking question that asks for a phone number, or NULL. */
static const char *calendly_phone_answer(json_t *payload)
{
    json_t *qa = json_object_get(payload, "questions_and_answers");
    size_t i;
    json_t *item;

    json_array_foreach(qa, i, item)
    {
        const char *q = source_util_str(item, "question");
        const char *a = source_util_str(item, "answer");
        if (q && a && strcasestr(q, "phone"))
            return a;
    }
    return NULL;
}

/* International numbers hash as they are; a national one only with the zone's country. */
static int calendly_hash_phone(const char *raw, const char *zone, char out[65])
{
    const char *country;

    if (!raw)
        return -1;
    if (normalize_hash_phone(raw, NULL, out) == 0)
        return 0;
    country = calendly_zone_country(zone);
    return country ? normalize_hash_phone(raw, country, out) : -1;
}

static void calendly_map_contact(json_t *payload, struct conversion *out)
{
    const char *zone = source_util_str(payload, "timezone");
    const char *email = source_util_str(payload, "email");

    if (email)
        normalize_hash_email(email, out->email_hash);
    if (calendly_hash_phone(source_util_str(payload, "text_reminder_number"), zone,
                            out->phone_hash) != 0)
        calendly_hash_phone(calendly_phone_answer(payload), zone, out->phone_hash);
}

/* Copies [s, s+n) into an empty field that can hold it whole: a cut id would match nothing
 * or the wrong visitor, so an oversized one is dropped. */
static void calendly_fill(char *dst, size_t size, const char *s, size_t n)
{
    if (dst[0] || n == 0 || n >= size)
        return;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Calendly keeps only utm_* and salesforce_uuid from the booking link, so ttrelay's keys ride
 * in tracking.utm_content (then salesforce_uuid) with this convention:
 *   vid:<vid>   eid:<event_id>   ttclid:<ttclid>   several joined with '|'
 *   a bare value starting with "E.C.P." is a ttclid; ttr_test marks a test (ttrelayctl
 *   send-test: Calendly has no test flag); any other bare value is a vid.
 * Prefixes are case-insensitive; a field already filled is kept (utm_content wins). */
static void calendly_map_token(const char *tok, size_t n, struct conversion *out)
{
    static const char ecp[] = "E.C.P.";

    while (n > 0 && isspace((unsigned char)*tok)) {
        tok++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)tok[n - 1]))
        n--;
    if (n > 4 && strncasecmp(tok, "vid:", 4) == 0)
        calendly_fill(out->vid, sizeof out->vid, tok + 4, n - 4);
    else if (n > 4 && strncasecmp(tok, "eid:", 4) == 0)
        calendly_fill(out->event_id, sizeof out->event_id, tok + 4, n - 4);
    else if (n > 7 && strncasecmp(tok, "ttclid:", 7) == 0)
        calendly_fill(out->ttclid, sizeof out->ttclid, tok + 7, n - 7);
    else if (n >= sizeof ecp - 1 && strncmp(tok, ecp, sizeof ecp - 1) == 0)
        calendly_fill(out->ttclid, sizeof out->ttclid, tok, n);
    else if (n == 8 && strncasecmp(tok, "ttr_test", 8) == 0)
        out->test = 1;
    else
        calendly_fill(out->vid, sizeof out->vid, tok, n);
}

static void calendly_map_tracking_value(const char *value, struct conversion *out)
{
    const char *s = value;

    while (s && *s) {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        calendly_map_token(s, n, out);
        s = bar ? bar + 1 : NULL;
    }
}

/* Paid event types carry payment{amount (major units), currency}; free ones carry null. */
static void calendly_map_payment(json_t *payload, struct conversion *out)
{
    json_t *payment = json_object_get(payload, "payment");
    char value[sizeof out->value], currency[4];

    if (!json_is_object(payment))
        return;
    if (json_is_false(json_object_get(payment, "successful")))
        return;
    if (source_util_decimal(json_object_get(payment, "amount"), value, sizeof value) != 0 ||
        value[0] == '-' || strspn(value, "0.") == strlen(value))
        return;
    if (money_currency(source_util_str(payment, "currency"), currency) != 0)
        return;
    STR_SET(out->value, value);
    STR_SET(out->currency, currency);
}

/* Checks the envelope; SOURCE_OK means payload is an active invitee.created. */
static enum source_result calendly_check_event(json_t *root, json_t *payload, char *why,
                                               size_t whylen)
{
    const char *event = source_util_str(root, "event");
    const char *status = source_util_str(payload, "status");

    if (!event || !json_is_object(payload)) {
        source_util_why(why, whylen, "body has no event or payload");
        return SOURCE_BAD_REQUEST;
    }
    if (strcmp(event, "invitee.created") != 0) {
        source_util_why(why, whylen, "event %.64s is not a booking", event);
        return SOURCE_IGNORED;
    }
    if (status && strcmp(status, "canceled") == 0) {
        source_util_why(why, whylen, "invitee is canceled");
        return SOURCE_IGNORED;
    }
    /* A reschedule creates a new invitee whose old_invitee names the one it replaces: the
     * same booking, already counted at its first invitee (like Cal.com's
     * BOOKING_RESCHEDULED). */
    if (source_util_str(payload, "old_invitee")) {
        source_util_why(why, whylen, "reschedule of an earlier booking");
        return SOURCE_IGNORED;
    }
    return SOURCE_OK;
}

static enum source_result calendly_parse(const struct source_cfg *src,
                                         const struct webhook_request *req, struct conversion *out,
                                         char *why, size_t whylen)
{
    static const char *const created[] = {"created_at", NULL};
    enum source_result rc = SOURCE_BAD_REQUEST;
    json_t *root = NULL, *payload, *tracking;
    long long envelope_time;

    if (!source_util_media_is(req->content_type, "application/json", SOURCE_MEDIA_STRICT)) {
        source_util_why(why, whylen, "content type must be application/json");
        return SOURCE_BAD_MEDIA;
    }
    root = source_util_load_object(req, why, whylen);
    if (!root)
        goto out;
    payload = json_object_get(root, "payload");
    rc = calendly_check_event(root, payload, why, whylen);
    if (rc != SOURCE_OK)
        goto out;
    if (source_util_booking_id(payload, "uri", out, why, whylen) < 0) {
        rc = SOURCE_BAD_REQUEST;
        goto out;
    }
    conversion_add_ref(out, source_util_str(json_object_get(payload, "scheduled_event"), "uri"));
    calendly_map_contact(payload, out);
    tracking = json_object_get(payload, "tracking");
    calendly_map_tracking_value(source_util_str(tracking, "utm_content"), out);
    calendly_map_tracking_value(source_util_str(tracking, "salesforce_uuid"), out);
    calendly_map_payment(payload, out);
    /* The booking's own creation time (payload.created_at, else the envelope's): the
     * conversion happened then, not when the call starts. */
    envelope_time = source_util_event_time(root, created, (long long)req->now);
    out->event_time = source_util_event_time(payload, created, envelope_time);
out:
    json_decref(root);
    return rc;
}

const struct source_ops source_calendly = {
    .type = "calendly",
    .verify = calendly_verify,
    .parse = calendly_parse,
};
