/* Calendly source: signature, event filtering and the mapping of invitee.created. */
#include "source_test.h"

#define SECRET "calendly-signing-key"
#define NOW 1546398300LL /* 55 s after the fixture's booking */

/* A request to a Calendly source carrying body and the signature header h points at. */
static void calendly_init(struct webhook_request *req, struct source_cfg *src,
                          struct test_headers *h, const char *body)
{
    test_request_init(req, h, body, "application/json", NOW);
    test_source_init(src, &source_calendly, "cal", SECRET, KIND_CALL);
}

/* Signs body at time t and runs verify then parse, as source_handle would. */
static enum source_result run(const char *body, long long t, struct conversion *out, char *why)
{
    char sig[160];
    struct test_headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    test_sign_timestamped(SECRET, t, body, sig, sizeof sig);
    calendly_init(&req, &src, &h, body);
    return test_verify_parse(&src, &req, out, why, 128);
}

static void test_invitee_created_maps_every_field(void)
{
    char *body = test_fixture("calendly_invitee_created.json", 0);
    struct conversion c;
    char why[128] = "";

    if (!body)
        return;
    is_int(run(body, NOW, &c, why), SOURCE_OK, "signed invitee.created is accepted");
    is_int(c.kind, KIND_CALL, "an invitee is a call");
    is_str(c.object_id,
           "https://api.calendly.com/scheduled_events/AAAAAAAAAAAAAAAA/invitees/AAAAAAAAAAAAAAAA",
           "object_id is payload.uri");
    is_int(c.nrefs, 2, "two references");
    is_str(c.refs[0], c.object_id, "first reference is the invitee uri");
    is_str(c.refs[1], "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
           "second reference is the scheduled event uri");
    is_sha(c.email_hash, "test@example.com", "email normalized (lower-cased) and hashed");
    is_sha(c.phone_hash, "+14045551234", "text_reminder_number hashed as E.164");
    is_str(c.vid, "v-cal-1", "utm_content vid:v-cal-1 gives the vid");
    is_str(c.event_id, "", "no event_id in the fixture");
    is_str(c.ttclid, "", "no ttclid in the fixture");
    is_int(c.event_time, 1546398245LL, "event_time is payload.created_at, not start_time");
    is_str(c.value, "", "no payment, no value");
    is_str(c.currency, "", "no payment, no currency");
    is_str(c.order_id, "", "calls carry no order_id");
    ok(c.contents_json == NULL, "no contents");
    is_int(c.test, 0, "not a test");
    conversion_clear(&c);
    free(body);
}

static void test_signature_failures_are_unauthorized(void)
{
    char *body = test_fixture("calendly_invitee_created.json", 0);
    char sig[160], why[128];
    struct test_headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    if (!body)
        return;
    calendly_init(&req, &src, &h, body);

    test_sign_timestamped("another-key", NOW, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "wrong key is unauthorized");
    test_sign_timestamped(SECRET, NOW - 301, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "timestamp 301 s old is stale");
    test_sign_timestamped(SECRET, NOW - 299, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_OK,
           "timestamp 299 s old is accepted (300 s tolerance)");
    test_sign_timestamped(SECRET, NOW, body, sig, sizeof sig);
    req.len--; /* the signed body, one byte shorter */
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "altered body is unauthorized");
    req.len++;
    h.n = 0;
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "missing header is unauthorized");
    ok(strstr(why, "missing") != NULL, "reason names the missing header: %s", why);
    h.n = 1;
    snprintf(sig, sizeof sig, "v1=abcdef");
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "malformed header is unauthorized");
    free(body);
}

static void test_canceled_and_other_events_are_ignored(void)
{
    char *body = test_fixture("calendly_invitee_canceled.json", 0);
    const char *noshow = "{\"event\":\"invitee_no_show.created\",\"payload\":{\"uri\":\"u\"}}";
    const char *canceled_status =
        "{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u\",\"status\":\"canceled\"}}";
    struct conversion c;
    char why[128];

    if (!body)
        return;
    is_int(run(body, NOW, &c, why), SOURCE_IGNORED, "invitee.canceled is ignored");
    is_int(run(noshow, NOW, &c, why), SOURCE_IGNORED, "other events are ignored");
    is_int(run(canceled_status, NOW, &c, why), SOURCE_IGNORED,
           "invitee.created with status canceled is ignored");
    free(body);
}

static void test_bad_bodies(void)
{
    char sig[160], why[128];
    const char *body = "{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u\"}}";
    struct test_headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    struct conversion c;

    test_sign_timestamped(SECRET, NOW, body, sig, sizeof sig);
    calendly_init(&req, &src, &h, body);
    memset(&c, 0, sizeof c);
    req.content_type = "application/x-www-form-urlencoded";
    is_int(source_calendly.parse(&src, &req, &c, why, sizeof why), SOURCE_BAD_MEDIA,
           "form content type is refused with 415");
    req.content_type = "application/json; charset=utf-8";
    is_int(source_calendly.parse(&src, &req, &c, why, sizeof why), SOURCE_OK,
           "application/json with a charset is accepted");
    is_int(c.event_time, NOW, "no created_at: event_time is the receive time");
    conversion_clear(&c);
    is_int(run("[1,2]", NOW, &c, why), SOURCE_BAD_REQUEST, "a JSON array is a bad request");
    is_int(run("{\"event\":\"invitee.created\",\"payload\":{}}", NOW, &c, why), SOURCE_BAD_REQUEST,
           "invitee.created without payload.uri is a bad request");
    is_int(run("{\"event\":", NOW, &c, why), SOURCE_BAD_REQUEST, "truncated JSON is a bad request");
}

static void test_tracking_convention(void)
{
    struct conversion c;
    char why[128];

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u1\",\"tracking\":"
               "{\"utm_content\":\"vid:v-9|eid:evt-9|ttclid:E.C.P.xyz\"}}}",
               NOW, &c, why),
           SOURCE_OK, "utm_content with three keys");
    is_str(c.vid, "v-9", "vid: prefix");
    is_str(c.event_id, "evt-9", "eid: prefix");
    is_str(c.ttclid, "E.C.P.xyz", "ttclid: prefix");

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u2\",\"tracking\":"
               "{\"utm_content\":\"E.C.P.bare\",\"salesforce_uuid\":\"v-bare | EID:evt-sf\"}}}",
               NOW, &c, why),
           SOURCE_OK, "bare values");
    is_str(c.ttclid, "E.C.P.bare", "a bare E.C.P. value is a ttclid");
    is_str(c.vid, "v-bare", "a bare value in salesforce_uuid is a vid (trimmed)");
    is_str(c.event_id, "evt-sf", "prefixes are case-insensitive");

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u3\",\"tracking\":"
               "{\"utm_content\":\"vid:v-utm\",\"salesforce_uuid\":\"vid:v-sf\"}}}",
               NOW, &c, why),
           SOURCE_OK, "vid in both");
    is_str(c.vid, "v-utm", "utm_content wins over salesforce_uuid");
}

static void test_phone_fallbacks_and_payment(void)
{
    struct conversion c;
    char why[128];

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u4\","
               "\"timezone\":\"Europe/London\",\"questions_and_answers\":["
               "{\"question\":\"Company\",\"answer\":\"Acme\"},"
               "{\"question\":\"Your PHONE number\",\"answer\":\"07700 900123\"}],"
               "\"payment\":{\"external_id\":\"ch_1\",\"provider\":\"stripe\","
               "\"amount\":25.5,\"currency\":\"gbp\",\"successful\":true}}}",
               NOW, &c, why),
           SOURCE_OK, "paid booking with a phone question");
    is_sha(c.phone_hash, "+447700900123", "national answer read with the time zone's country");
    is_str(c.value, "25.5", "payment.amount is the value");
    is_str(c.currency, "GBP", "payment.currency upper-cased");

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u5\","
               "\"timezone\":\"Asia/Ulaanbaatar\",\"text_reminder_number\":\"0201 555 123\","
               "\"payment\":{\"amount\":10,\"currency\":\"USD\",\"successful\":false}}}",
               NOW, &c, why),
           SOURCE_OK, "national number in an unknown zone");
    is_str(c.phone_hash, "", "national number without a country is not hashed");
    is_str(c.value, "", "unsuccessful payment gives no value");
}

int main(void)
{
    test_invitee_created_maps_every_field();
    test_signature_failures_are_unauthorized();
    test_canceled_and_other_events_are_ignored();
    test_bad_bodies();
    test_tracking_convention();
    test_phone_fallbacks_and_payment();
    return tap_done();
}
