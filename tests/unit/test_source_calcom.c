/* Cal.com source: X-Cal-Signature-256, triggerEvent filtering and BOOKING_CREATED mapping. */
#include "source_test.h"

#define SECRET "calcom-webhook-secret"
#define NOW 1684920660LL

/* A request to a Cal.com source carrying body and the signature header h points at. */
static void calcom_init(struct webhook_request *req, struct source_cfg *src, struct test_headers *h,
                        const char *body)
{
    test_request_init(req, h, body, "application/json", NOW);
    test_source_init(src, &source_calcom, "calc", SECRET, KIND_CALL);
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    char sig[65];
    struct test_headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    test_sign_hex(SECRET, body, sig);
    calcom_init(&req, &src, &h, body);
    return test_verify_parse(&src, &req, out, why, 128);
}

static void test_booking_created_maps_every_field(void)
{
    char *body = test_fixture("calcom_booking_created.json", 0);
    struct conversion c;
    char why[128] = "";

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "signed BOOKING_CREATED is accepted");
    is_int(c.kind, KIND_CALL, "a booking is a call");
    is_str(c.object_id, "bFJeNb2uX8ANpT3JL5EfXw", "object_id is payload.uid");
    is_int(c.nrefs, 2, "two references");
    is_str(c.refs[0], "bFJeNb2uX8ANpT3JL5EfXw", "uid is a reference");
    is_str(c.refs[1], "91", "bookingId is a reference");
    is_sha(c.email_hash, "john.doe@example.com", "attendees[0].email lower-cased and hashed");
    is_sha(c.phone_hash, "+919876543210", "attendees[0].phoneNumber hashed");
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
    char *body = test_fixture("calcom_booking_created.json", 0);
    char sig[80], why[128];
    struct test_headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    if (!body)
        return;
    calcom_init(&req, &src, &h, body);

    test_sign_hex(SECRET, body, sig);
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_OK, "right secret verifies");
    test_sign_hex("wrong-secret", body, sig);
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
    test_sign_hex(SECRET, body, sig);
    src.secret = NULL;
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "a source without a secret accepts nothing");
    free(body);
}

static void test_other_triggers_and_bad_bodies(void)
{
    char *body = test_fixture("calcom_booking_cancelled.json", 0);
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
    char sig[65], why[128];
    struct test_headers h = {{"X-Cal-Signature-256"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    struct conversion c;

    test_sign_hex(SECRET, body, sig);
    calcom_init(&req, &src, &h, body);
    req.content_type = "application/x-www-form-urlencoded";
    memset(&c, 0, sizeof c);
    is_int(source_calcom.verify(&src, &req, why, sizeof why), SOURCE_OK, "form body verifies");
    is_int(source_calcom.parse(&src, &req, &c, why, sizeof why), SOURCE_BAD_MEDIA,
           "form-encoded template is unsupported media");
}

static void test_fallback_fields(void)
{
    struct conversion c;
    char why[128];

    is_int(run("{\"triggerEvent\":\"BOOKING_CREATED\",\"createdAt\":\"bad\",\"payload\":{"
               "\"uid\":\"u2\",\"attendees\":[{\"name\":\"A\"}],"
               "\"responses\":{\"email\":{\"value\":\"a@b.example\"},"
               "\"attendeePhoneNumber\":{\"value\":\"not a phone\"}},"
               "\"smsReminderNumber\":\"+44 7700 900123\",\"price\":0,\"currency\":\"usd\"}}",
               &c, why),
           SOURCE_OK, "booking with answers only in responses");
    is_sha(c.email_hash, "a@b.example",
           "responses.email.value used when the attendee has no email");
    is_sha(c.phone_hash, "+447700900123", "smsReminderNumber used when other phones do not parse");
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
