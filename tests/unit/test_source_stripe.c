/* Stripe source: timestamped signatures, which events are payments, zero- and three-decimal
 * currencies, test mode, and one business key for a session and its payment intent. */
#include "source_test.h"

#define SECRET "whsec_5f1c9e2d7a3b4c8e6f0a1b2c3d4e5f60"
#define NOW 1752619700LL
#define PI "pi_3RSCTURftwXmfGNu1Htv3in3"
#define CS "cs_live_a1IdO3cRAiDtsfYm6c8sKoFbyLpxibkNrDf56cVIkv5IylfNuzl155fePm"
#define UA                                                                                         \
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "                          \
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

/* Sends body with the given Stripe-Signature header (NULL: none). */
static enum source_result run_header(const char *body, const char *sig, int send_tests,
                                     const char *content_type, struct conversion *out, char *why)
{
    struct test_headers h = {{"Stripe-Signature"}, {sig}, sig ? 1 : 0};
    struct webhook_request req;
    struct source_cfg src;

    test_request_init(&req, &h, body, content_type, NOW);
    test_source_init(&src, &source_stripe, "pay", SECRET, KIND_ORDER);
    src.send_tests = send_tests;
    return source_handle(&src, &req, out, why, 128);
}

static enum source_result run_opts(const char *body, int send_tests, struct conversion *out,
                                   char *why)
{
    char sig[128];

    test_sign_timestamped(SECRET, NOW, body, sig, sizeof sig);
    return run_header(body, sig, send_tests, "application/json; charset=utf-8", out, why);
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    return run_opts(body, 0, out, why);
}

static void test_checkout_session_maps_every_field(const char *body)
{
    struct conversion c;
    char why[128];

    is_int(run(body, &c, why), SOURCE_OK, "paid checkout session accepted (%s)", why);
    is_str(c.source_id, "pay", "source id preset");
    is_int(c.kind, KIND_ORDER, "kind order");
    is_str(c.object_id, PI, "keyed on the session's payment intent");
    is_str(c.order_id, PI, "order_id is the payment intent id");
    is_str(c.delivery_id, "evt_1RlHe3R7UUImIKwkQOxX4eYe", "delivery id is the event id");
    is_str(c.value, "25.00", "2500 minor units of USD");
    is_str(c.currency, "USD", "currency upper-cased");
    is_email_hash(c.email_hash, "jon.doe@example.com", "email from customer_details, normalized");
    is_phone_hash(c.phone_hash, "+14045550123", "phone from customer_details");
    is_external_id_hash(c.external_id_hash, "cus_SggAbCdEfGh123",
                        "external id from the customer id");
    is_str(c.event_id, "a1b2c3", "event_id from metadata");
    is_str(c.ttclid, "E.C.P.abc", "ttclid from metadata");
    is_str(c.ttp, "2F7h37YkS1j57AYSKTI7IHhJPYH", "ttp from metadata");
    is_str(c.ip, "203.0.113.7", "ip from metadata");
    is_str(c.user_agent, UA, "user agent from metadata");
    is_str(c.url, "https://shop.example/checkout?ttclid=E.C.P.abc", "url from metadata");
    is_str(c.vid, "v-789", "vid from client_reference_id vid:<id>");
    is_int(c.event_time, 1752619620LL, "event_time from the session's created");
    ok(test_has_ref(&c, PI) && test_has_ref(&c, CS) && test_has_ref(&c, "vid:v-789") &&
           test_has_ref(&c, "ORD-1042"),
       "refs: payment intent, session, client_reference_id, metadata.order_id");
    is_int(c.nrefs, 4, "four refs");
    ok(c.contents_json == NULL, "no contents: line items are not in the webhook");
    is_int(c.test, 0, "live mode");
    conversion_clear(&c);
}

static void test_intent_collapses_with_session(const char *session)
{
    char *pi = test_fixture("stripe_payment_intent_succeeded.json", 0);
    struct conversion a, b;
    char why[128];

    is_int(run(pi, &a, why), SOURCE_OK, "payment_intent.succeeded accepted");
    is_int(run(session, &b, why), SOURCE_OK, "checkout.session.completed accepted");
    is_str(a.object_id, b.object_id, "session and intent share one business key");
    is_str(a.order_id, PI, "intent order_id");
    is_str(a.value, "25.00", "value from amount_received");
    is_email_hash(a.email_hash, "jon.doe@example.com", "email from receipt_email");
    ok(test_has_ref(&a, PI) && test_has_ref(&a, "ORD-1042"),
       "intent refs: id and metadata.order_id");
    is_int(a.event_time, 1752619690LL, "event_time from the intent's created");
    is_str(a.vid, "", "no vid on the intent");
    conversion_clear(&a);
    conversion_clear(&b);
    free(pi);
}

static void test_currencies(void)
{
    char *jpy = test_fixture("stripe_jpy.json", 0);
    char *kwd = test_fixture("stripe_kwd.json", 0);
    struct conversion out;
    char why[128];

    is_int(run(jpy, &out, why), SOURCE_OK, "JPY payment accepted");
    is_str(out.value, "5000", "JPY 5000 is zero-decimal: 5000");
    is_str(out.currency, "JPY", "JPY");
    conversion_clear(&out);
    is_int(run(kwd, &out, why), SOURCE_OK, "KWD session accepted");
    is_str(out.value, "12.345", "KWD 12345 is three-decimal: 12.345");
    is_str(out.currency, "KWD", "KWD");
    is_phone_hash(out.phone_hash, "+96550001234", "international phone kept");
    is_str(out.vid, "", "no client_reference_id, no vid");
    conversion_clear(&out);
    free(jpy);
    free(kwd);
}

static void test_test_mode(void)
{
    char *body = test_fixture("stripe_test_mode.json", 0);
    struct conversion out;
    char why[128];

    is_int(run(body, &out, why), SOURCE_IGNORED, "livemode false ignored by default");
    is_str(why, "test mode payment", "reason says test mode");
    is_int(run_opts(body, 1, &out, why), SOURCE_OK, "livemode false accepted with send_tests");
    is_int(out.test, 1, "marked as test");
    is_str(out.vid, "667805b6-5823-444c-92ea-4da400131631",
           "a bare client_reference_id is tried as the vid");
    conversion_clear(&out);
    free(body);
}

static void test_signatures(const char *body)
{
    char hex[65], wrong[65], sig[256];
    struct conversion out;
    char why[128];
    char *tampered = test_replace(body, "\"amount_total\": 2500", "\"amount_total\": 25");

    test_sign_timestamped(SECRET, NOW - 301, body, sig, sizeof sig);
    is_int(run_header(body, sig, 0, "application/json", &out, why), SOURCE_UNAUTHORIZED,
           "timestamp 301 s old: 401");
    test_sign_timestamped(SECRET, NOW - 299, body, sig, sizeof sig);
    is_int(run_header(body, sig, 0, "application/json", &out, why), SOURCE_OK,
           "timestamp 299 s old: accepted");
    conversion_clear(&out);
    test_sign_v1("whsec_old_rolled_secret", NOW, body, wrong);
    test_sign_v1(SECRET, NOW, body, hex);
    snprintf(sig, sizeof sig, "t=%lld,v1=%s,v1=%s,v0=6ffbb59b2300aae63f27", NOW, wrong, hex);
    is_int(run_header(body, sig, 0, "application/json", &out, why), SOURCE_OK,
           "two v1 signatures, the second valid: accepted");
    conversion_clear(&out);
    snprintf(sig, sizeof sig, "t=%lld,v1=%s", NOW, wrong);
    is_int(run_header(body, sig, 0, "application/json", &out, why), SOURCE_UNAUTHORIZED,
           "signed with another secret: 401");
    is_str(out.object_id, "", "nothing mapped");
    is_int(run_header(body, NULL, 0, "application/json", &out, why), SOURCE_UNAUTHORIZED,
           "no Stripe-Signature: 401");
    is_int(run_header(body, "garbage", 0, "application/json", &out, why), SOURCE_UNAUTHORIZED,
           "malformed Stripe-Signature: 401");
    ok(tampered != NULL, "tampered body built");
    test_sign_timestamped(SECRET, NOW, body, sig, sizeof sig);
    is_int(run_header(tampered, sig, 0, "application/json", &out, why), SOURCE_UNAUTHORIZED,
           "body changed after signing: 401");
    is_int(run_header(body, sig, 0, "text/plain", &out, why), SOURCE_BAD_MEDIA,
           "signed body sent as text/plain: 415");
    free(tampered);
}

static void check_variant(const char *body, const char *from, const char *to,
                          enum source_result want, const char *object_id, const char *name)
{
    char *b = test_replace(body, from, to);
    struct conversion out;
    char why[128];

    ok(b != NULL, "%s: body built", name);
    if (!b)
        return;
    is_int(run(b, &out, why), want, "%s", name);
    if (object_id)
        is_str(out.object_id, object_id, "%s: object id", name);
    conversion_clear(&out);
    free(b);
}

/* Basil: an intent no longer names its invoice; a subscription's intents are described. */
static void test_subscription_intents(void)
{
    char *pi = test_fixture("stripe_payment_intent_succeeded.json", 0);
    check_variant(pi, "\"description\": null", "\"description\": \"Subscription update\"",
                  SOURCE_IGNORED, NULL, "a renewal's intent (basil) is counted from its invoice");
    check_variant(pi, "\"description\": null", "\"description\": \"Subscription creation\"",
                  SOURCE_IGNORED, NULL, "a first invoice's intent (basil) is counted once");
    check_variant(pi, "\"description\": null", "\"description\": \"Order 1042\"", SOURCE_OK, PI,
                  "an intent with the shop's own description is an order");
    free(pi);
}

static void test_event_rules(const char *body)
{
    check_variant(body, "\"payment_status\": \"paid\"", "\"payment_status\": \"unpaid\"",
                  SOURCE_IGNORED, NULL, "unpaid checkout session ignored");
    check_variant(body, "\"payment_status\": \"paid\"",
                  "\"payment_status\": \"no_payment_required\"", SOURCE_IGNORED, NULL,
                  "free checkout session ignored");
    check_variant(body, "\"type\": \"checkout.session.completed\"",
                  "\"type\": \"checkout.session.async_payment_succeeded\"", SOURCE_OK, PI,
                  "async payment succeeded accepted");
    check_variant(body, "\"type\": \"checkout.session.completed\"", "\"type\": \"charge.refunded\"",
                  SOURCE_IGNORED, NULL, "charge.refunded ignored");
    check_variant(body, "\"payment_intent\": \"" PI "\"", "\"payment_intent\": null", SOURCE_OK, CS,
                  "session without a payment intent keys on the session");
    check_variant(body, "\"payment_intent\": \"" PI "\"",
                  "\"payment_intent\": {\"id\": \"" PI "\", \"object\": \"payment_intent\"}",
                  SOURCE_OK, PI, "expanded payment intent object");
}

static void test_phone_and_vid_sources(const char *body)
{
    char *b1 = test_replace(body, "\"+14045550123\"", "\"020 7946 0018\"");
    char *gb = test_replace(b1, "\"country\": \"US\"", "\"country\": \"GB\"");
    char *de1 = test_replace(body, "\"+14045550123\"", "\"030 1234567\"");
    char *de = test_replace(de1, "\"country\": \"US\"", "\"country\": \"DE\"");
    char *vid = test_replace(body, "\"order_id\": \"ORD-1042\"",
                             "\"order_id\": \"ORD-1042\",\n      \"ttr_vid\": \"v-meta\"");
    struct conversion out;
    char why[128];

    is_int(run(gb, &out, why), SOURCE_OK, "session with a GB national phone");
    is_phone_hash(out.phone_hash, "+442079460018", "GB national phone via address country");
    conversion_clear(&out);
    is_int(run(de, &out, why), SOURCE_OK, "session with a DE national phone");
    is_phone_hash(out.phone_hash, "+49301234567", "DE national phone via address country");
    conversion_clear(&out);
    is_int(run(vid, &out, why), SOURCE_OK, "session with metadata.ttr_vid");
    is_str(out.vid, "v-meta", "metadata.ttr_vid wins over client_reference_id");
    ok(test_has_ref(&out, "vid:v-789"), "client_reference_id still a ref");
    conversion_clear(&out);
    is_int(run("{\"id\": \"evt_1\", \"type\": \"payment_intent.succeeded\"}", &out, why),
           SOURCE_BAD_REQUEST, "event without data.object: 400");
    is_int(run("{\"id\": \"evt_1\", \"type\": \"payment_intent.succeeded\", \"data\": {\"object\": "
               "{\"amount\": 100}}}",
               &out, why),
           SOURCE_BAD_REQUEST, "payment intent without id: 400");
    is_int(run("{\"id\": \"evt_1\", \"type\": \"balance.available\", \"data\": {\"object\": "
               "{\"object\": \"balance\"}}}",
               &out, why),
           SOURCE_IGNORED, "an event about an object without id is ignored, not refused");
    free(b1);
    free(gb);
    free(de1);
    free(de);
    free(vid);
}

int main(void)
{
    char *body = test_fixture("stripe_checkout_completed.json", 2000);

    if (!body)
        return tap_done();
    test_checkout_session_maps_every_field(body);
    test_intent_collapses_with_session(body);
    test_currencies();
    test_test_mode();
    test_signatures(body);
    test_event_rules(body);
    test_subscription_intents();
    test_phone_and_vid_sources(body);
    free(body);
    return tap_done();
}
