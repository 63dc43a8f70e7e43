/* Cal.com source: X-Cal-Signature-256, triggerEvent filtering and BOOKING_CREATED mapping. */
#include "tap.h"

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET "calcom-webhook-secret"
#define NOW 1684920660LL

struct headers {
    const char *name[4];
    const char *value[4];
    int n;
};

static const char *header_get(void *ctx, const char *name)
{
    struct headers *h = ctx;

    for (int i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    }
    return NULL;
}

/* hex(HMAC-SHA256(secret, body)), as Cal.com's sendPayload computes it. */
static void sign(const char *secret, const char *body, char out[65])
{
    unsigned char mac[32];

    hash_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
    hash_hex_encode(mac, 32, out);
}

static void request_init(struct webhook_request *req, struct headers *h, const char *body)
{
    memset(req, 0, sizeof *req);
    req->body = body;
    req->len = strlen(body);
    req->content_type = "application/json";
    req->header = header_get;
    req->ctx = h;
    req->now = (time_t)NOW;
}

static void source_init(struct source_cfg *src, char *secret)
{
    memset(src, 0, sizeof *src);
    STR_SET(src->id, "calc");
    STR_SET(src->type, "calcom");
    src->ops = &source_calcom;
    src->secret = secret;
    src->kind = KIND_CALL;
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    char secret[] = SECRET, sig[65];
    struct headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    enum source_result rc;

    sign(SECRET, body, sig);
    request_init(&req, &h, body);
    source_init(&src, secret);
    memset(out, 0, sizeof *out);
    rc = source_calcom.verify(&src, &req, why, 128);
    if (rc == SOURCE_OK)
        rc = source_calcom.parse(&src, &req, out, why, 128);
    return rc;
}

static void sha(const char *s, char out[65])
{
    hash_sha256_hex(s, strlen(s), out);
}

static void test_booking_created_maps_every_field(void)
{
    char *body = tap_fixture("calcom_booking_created.json", NULL);
    struct conversion c;
    char why[128] = "", want[65];

    ok(body != NULL, "fixture calcom_booking_created.json loads");
    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "signed BOOKING_CREATED is accepted");
    is_int(c.kind, KIND_CALL, "a booking is a call");
    is_str(c.object_id, "bFJeNb2uX8ANpT3JL5EfXw", "object_id is payload.uid");
    is_int(c.nrefs, 2, "two references");
    is_str(c.refs[0], "bFJeNb2uX8ANpT3JL5EfXw", "uid is a reference");
    is_str(c.refs[1], "91", "bookingId is a reference");
    sha("john.doe@example.com", want);
    is_str(c.email_hash, want, "attendees[0].email lower-cased and hashed");
    sha("+919876543210", want);
    is_str(c.phone_hash, want, "attendees[0].phoneNumber hashed");
    is_str(c.event_id, "a1b2c3", "metadata.event_id");
    is_str(c.vid, "v-calcom-1", "metadata.ttr_vid");
    is_str(c.ttclid, "E.C.P.abc", "metadata.ttclid");
    is_str(c.ttp, "ttp-calcom-1", "metadata.ttp");
    is_str(c.value, "50.00", "price 5000 in minor units is 50.00");
    is_str(c.currency, "USD", "currency upper-cased");
    is_int(c.event_time, 1684920600LL, "event_time is createdAt, not startTime");
    is_str(c.order_id, "", "calls carry no order_id");
    ok(c.contents_json == NULL, "no contents");
    conversion_clear(&c);
    free(body);
}

static void test_signature_failures_are_unauthorized(void)
{
    char *body = tap_fixture("calcom_booking_created.json", NULL);
    char secret[] = SECRET, sig[80], why[128];
    struct headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    if (!body)
        return;
    request_init(&req, &h, body);
    source_init(&src, secret);

    sign(SECRET, body, sig);
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_OK, "right secret verifies");
    sign("wrong-secret", body, sig);
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "wrong secret is unauthorized");
    snprintf(sig, sizeof sig, "no-secret-provided");
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "no-secret-provided is unauthorized");
    ok(strstr(why, "no-secret-provided") != NULL, "reason says why: %s", why);
    h.n = 0;
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "missing header is unauthorized");
    h.n = 1;
    sign(SECRET, body, sig);
    src.secret = NULL;
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "a source without a secret accepts nothing");
    free(body);
}

static void test_other_triggers_and_bad_bodies(void)
{
    char *body = tap_fixture("calcom_booking_cancelled.json", NULL);
    struct conversion c;
    char why[128];

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_IGNORED, "BOOKING_CANCELLED is ignored");
    is_int(run("{\"triggerEvent\":\"BOOKING_REJECTED\",\"payload\":{\"uid\":\"x\"}}", &c, why),
           SOURCE_IGNORED, "BOOKING_REJECTED is ignored");
    is_int(run("{\"triggerEvent\":\"MEETING_ENDED\",\"payload\":{\"uid\":\"x\"}}", &c, why),
           SOURCE_IGNORED, "other triggers are ignored");
    is_int(run("{\"uid\":\"x\",\"title\":\"custom template\"}", &c, why), SOURCE_BAD_REQUEST,
           "body without triggerEvent is a bad request");
    ok(strstr(why, "triggerEvent") != NULL, "reason names triggerEvent: %s", why);
    is_int(run("{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"title\":\"t\"}}", &c, why),
           SOURCE_BAD_REQUEST, "BOOKING_CREATED without uid is a bad request");
    is_int(run("not json", &c, why), SOURCE_BAD_REQUEST, "non-JSON is a bad request");
    free(body);
}

static void test_form_template_is_bad_media(void)
{
    const char *body = "triggerEvent=BOOKING_CREATED&uid=x";
    char secret[] = SECRET, sig[65], why[128];
    struct headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    struct conversion c;

    sign(SECRET, body, sig);
    request_init(&req, &h, body);
    req.content_type = "application/x-www-form-urlencoded";
    source_init(&src, secret);
    memset(&c, 0, sizeof c);
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_OK, "form body verifies");
    is_int(source_calcom.parse(&src, &req, &c, why, sizeof why), SOURCE_BAD_MEDIA,
           "form-encoded template is unsupported media");
}

static void test_fallback_fields(void)
{
    struct conversion c;
    char why[128], want[65];

    is_int(run("{\"triggerEvent\":\"BOOKING_CREATED\",\"createdAt\":\"bad\",\"payload\":{"
               "\"uid\":\"u2\",\"attendees\":[{\"name\":\"A\"}],"
               "\"responses\":{\"email\":{\"value\":\"a@b.example\"},"
               "\"attendeePhoneNumber\":{\"value\":\"not a phone\"}},"
               "\"smsReminderNumber\":\"+44 7700 900123\",\"price\":0,\"currency\":\"usd\"}}",
               &c, why),
           SOURCE_OK, "booking with answers only in responses");
    sha("a@b.example", want);
    is_str(c.email_hash, want, "responses.email.value used when the attendee has no email");
    sha("+447700900123", want);
    is_str(c.phone_hash, want, "smsReminderNumber used when other phones do not parse");
    is_str(c.value, "", "price 0 gives no value");
    is_str(c.event_id, "", "no metadata, no event_id");
    is_int(c.event_time, NOW, "unparseable createdAt falls back to the receive time");
    is_int(c.nrefs, 1, "no bookingId, one reference");

    is_int(run("{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"u3\","
               "\"price\":1500,\"currency\":\"jpy\"}}",
               &c, why),
           SOURCE_OK, "zero-decimal currency");
    is_str(c.value, "1500", "JPY minor units are whole yen");
}

int main(void)
{
    test_booking_created_maps_every_field();
    test_signature_failures_are_unauthorized();
    test_other_triggers_and_bad_bodies();
    test_form_template_is_bad_media();
    test_fallback_fields();
    return tap_done();
}
