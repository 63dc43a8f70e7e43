/* Calendly source: signature, event filtering and the mapping of invitee.created. */
#include "tap.h"

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET "calendly-signing-key"
#define NOW 1546398300LL /* 55 s after the fixture's booking */

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

/* "t=<t>,v1=<hex HMAC(secret, '<t>.<body>')>" into out. */
static void sign(const char *secret, long long t, const char *body, char *out, size_t size)
{
    size_t len = strlen(body);
    char *buf = malloc(len + 32), hex[65];
    unsigned char mac[32];
    int n = snprintf(buf, 32, "%lld.", t);

    memcpy(buf + n, body, len);
    hash_hmac_sha256(secret, strlen(secret), buf, (size_t)n + len, mac);
    hash_hex_encode(mac, 32, hex);
    snprintf(out, size, "t=%lld,v1=%s", t, hex);
    free(buf);
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
    STR_SET(src->id, "cal");
    STR_SET(src->type, "calendly");
    src->ops = &source_calendly;
    src->secret = secret;
    src->kind = KIND_CALL;
}

/* Signs body at time t and runs verify then parse, as source_handle would. */
static enum source_result run(const char *body, long long t, struct conversion *out, char *why)
{
    char secret[] = SECRET, sig[160];
    struct headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    enum source_result rc;

    sign(SECRET, t, body, sig, sizeof sig);
    request_init(&req, &h, body);
    source_init(&src, secret);
    memset(out, 0, sizeof *out);
    rc = source_calendly.verify(&src, &req, why, 128);
    if (rc == SOURCE_OK)
        rc = source_calendly.parse(&src, &req, out, why, 128);
    return rc;
}

static void sha(const char *s, char out[65])
{
    hash_sha256_hex(s, strlen(s), out);
}

static void test_invitee_created_maps_every_field(void)
{
    char *body = tap_fixture("calendly_invitee_created.json", NULL);
    struct conversion c;
    char why[128] = "", want[65];

    ok(body != NULL, "fixture calendly_invitee_created.json loads");
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
    sha("test@example.com", want);
    is_str(c.email_hash, want, "email normalized (lower-cased) and hashed");
    sha("+14045551234", want);
    is_str(c.phone_hash, want, "text_reminder_number hashed as E.164");
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
    char *body = tap_fixture("calendly_invitee_created.json", NULL);
    char secret[] = SECRET, sig[160], why[128];
    struct headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;

    if (!body)
        return;
    request_init(&req, &h, body);
    source_init(&src, secret);

    sign("another-key", NOW, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "wrong key is unauthorized");
    sign(SECRET, NOW - 301, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "timestamp 301 s old is stale");
    sign(SECRET, NOW - 299, body, sig, sizeof sig);
    is_int(source_calendly.verify(&src, &req, why, sizeof why), SOURCE_OK,
           "timestamp 299 s old is accepted (300 s tolerance)");
    sign(SECRET, NOW, body, sig, sizeof sig);
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
    char *body = tap_fixture("calendly_invitee_canceled.json", NULL);
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
    char secret[] = SECRET, sig[160], why[128];
    const char *body = "{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u\"}}";
    struct headers h = {{"Calendly-Webhook-Signature"}, {sig}, 1};
    struct webhook_request req;
    struct source_cfg src;
    struct conversion c;

    sign(SECRET, NOW, body, sig, sizeof sig);
    request_init(&req, &h, body);
    source_init(&src, secret);
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
    is_int(run("{\"event\":\"invitee.created\",\"payload\":{}}", NOW, &c, why),
           SOURCE_BAD_REQUEST, "invitee.created without payload.uri is a bad request");
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
    char why[128], want[65];

    is_int(run("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"u4\","
               "\"timezone\":\"Europe/London\",\"questions_and_answers\":["
               "{\"question\":\"Company\",\"answer\":\"Acme\"},"
               "{\"question\":\"Your PHONE number\",\"answer\":\"07700 900123\"}],"
               "\"payment\":{\"external_id\":\"ch_1\",\"provider\":\"stripe\","
               "\"amount\":25.5,\"currency\":\"gbp\",\"successful\":true}}}",
               NOW, &c, why),
           SOURCE_OK, "paid booking with a phone question");
    sha("+447700900123", want);
    is_str(c.phone_hash, want, "national answer read with the time zone's country");
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
