/* Generic source: bearer and HMAC authentication, JSON and form bodies, every field. */
#include "source_test.h"

#define SECRET "generic-shared-secret"
#define NOW 1773568900LL

/* Bearer-authenticated verify + parse of body with the given content type, to a generic
 * source whose default kind is call. */
static enum source_result run_as(const char *body, const char *content_type, struct conversion *out,
                                 char *why)
{
    struct test_headers h = {{"Authorization", "Idempotency-Key"}, {"Bearer " SECRET, "idem-1"}, 2};
    struct webhook_request req;
    struct source_cfg src;

    test_request_init(&req, &h, body, content_type, NOW);
    test_source_init(&src, &source_generic, "crm", SECRET, KIND_CALL);
    conversion_clear(out); /* the previous run's conversion, contents included */
    return test_verify_parse(&src, &req, out, why, 128);
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    return run_as(body, "application/json", out, why);
}

static void test_call_maps_every_field(void)
{
    char *body = test_fixture("generic_call.json", 0);
    struct conversion c = {0};
    char why[128];

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "call with a bearer token is accepted");
    is_int(c.kind, KIND_CALL, "kind is the source's default (call)");
    is_str(c.object_id, "crm-call-8842", "object_id is id");
    is_str(c.order_id, "", "calls carry no order_id");
    is_int(c.nrefs, 1, "one reference");
    is_str(c.refs[0], "crm-call-8842", "id is a reference");
    is_str(c.delivery_id, "idem-1", "Idempotency-Key is the delivery id");
    is_str(c.event_id, "evt-crm-1", "event_id");
    is_sha(c.email_hash, "jane@example.com", "email trimmed, lower-cased, hashed");
    is_sha(c.phone_hash, "+14045551234", "international phone hashed as E.164");
    is_sha(c.external_id_hash, "contact_123", "external_id hashed");
    is_str(c.ttclid, "E.C.P.abc", "ttclid");
    is_str(c.ttp, "ttp-crm-1", "ttp");
    is_str(c.url, "https://site.example/book?ttclid=E.C.P.abc", "url");
    is_str(c.referrer, "https://www.tiktok.com/", "referrer");
    is_str(c.ip, "203.0.113.7", "ip");
    ok(strncmp(c.user_agent, "Mozilla/5.0 (X11; Linux x86_64)", 31) == 0, "user_agent");
    is_int(c.event_time, 1773568800LL, "ISO 8601 event_time");
    is_int(c.test, 0, "test false");
    is_str(c.value, "", "no value");
    ok(c.contents_json == NULL, "no contents");
    conversion_clear(&c);
    free(body);
}

static void test_lead_with_national_phone(void)
{
    char *body = test_fixture("generic_lead.json", 0);
    struct conversion c = {0};
    char why[128];

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "lead is accepted");
    is_int(c.kind, KIND_LEAD, "kind lead overrides the source's call");
    is_str(c.object_id, "lead-77", "object_id");
    is_str(c.order_id, "", "leads carry no order_id");
    is_sha(c.phone_hash, "+447700900123", "GB 07700 900123 hashes as +447700900123");
    is_str(c.vid, "v-lead-1", "vid");
    is_str(c.value, "", "empty value is absent");
    is_str(c.currency, "", "empty currency is absent");
    is_str(c.ttclid, "", "empty ttclid is absent");
    is_int(c.test, 1, "test \"true\"");
    is_int(c.event_time, 1767225600LL, "unix seconds event_time");
    conversion_clear(&c);
    free(body);
}

static void test_order_value_and_contents(void)
{
    char *body = test_fixture("generic_order.json", 0);
    struct conversion c = {0};
    char why[128];

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "order is accepted");
    is_int(c.kind, KIND_ORDER, "kind order");
    is_str(c.object_id, "5001", "integer id as text");
    is_str(c.order_id, "5001", "orders carry order_id = id");
    is_int(c.nrefs, 2, "two references");
    is_str(c.refs[1], "#1001", "order_id field is a reference");
    is_str(c.value, "19.2", "value 19.2 written exactly");
    is_str(c.currency, "EUR", "currency upper-cased");
    is_str(c.contents_json,
           "[{\"content_id\":\"sku-1\",\"content_name\":\"Widget\",\"price\":9.6,\"quantity\":2}]",
           "contents mapped");
    is_int(c.event_time, 1767225600LL, "millisecond event_time scaled to seconds");
    is_str(c.ip, "2001:db8::7", "IPv6 ip");
    is_int(c.test, 0, "test 0");
    is_sha(c.email_hash, "buyer@example.com", "email hashed");
    conversion_clear(&c);
    free(body);
}

static void test_form_body(void)
{
    char *body = test_fixture("generic_form.txt", 0);
    struct conversion c = {0};
    char why[128];

    if (!body)
        return;
    is_int(run_as(body, "application/x-www-form-urlencoded; charset=utf-8", &c, why), SOURCE_OK,
           "form body is accepted");
    is_str(c.object_id, "form-1", "id");
    is_int(c.kind, KIND_LEAD, "kind lead");
    is_sha(c.email_hash, "jane@example.com", "%%40 decoded in email");
    is_sha(c.phone_hash, "+447700900123", "%%2B and + decoded in phone");
    is_str(c.value, "9.20", "decimal string value kept as written");
    is_str(c.currency, "GBP", "currency");
    is_int(c.test, 1, "test 1");
    is_int(c.event_time, 1767225600LL, "%%3A decoded in ISO event_time");
    is_str(c.contents_json, "[{\"content_id\":\"sku-1\",\"price\":9.2,\"quantity\":1}]",
           "contents given as JSON text");
    conversion_clear(&c);
    free(body);

    is_int(run_as("id=a%zz", "application/x-www-form-urlencoded", &c, why), SOURCE_BAD_REQUEST,
           "broken %%-escape is a bad request");
    is_int(run_as("id=a%00b", "application/x-www-form-urlencoded", &c, why), SOURCE_BAD_REQUEST,
           "encoded NUL is a bad request");
    is_int(run_as("id=first&id=second&&=x", "application/x-www-form-urlencoded", &c, why),
           SOURCE_OK, "repeated key and empty pairs");
    is_str(c.object_id, "first", "first occurrence of a key wins");
}

static void test_authentication(void)
{
    const char *body = "{\"id\":\"auth-1\"}";
    char sig[160], auth[96], why[128];
    struct test_headers h = {{"Authorization", "X-Ttrelay-Signature"}, {auth, sig}, 2};
    struct webhook_request req;
    struct source_cfg src;

    test_request_init(&req, &h, body, "application/json", NOW);
    test_source_init(&src, &source_generic, "crm", SECRET, KIND_CALL);
    snprintf(auth, sizeof auth, "Bearer %s", SECRET);
    h.n = 1;
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_OK, "bearer accepted");
    snprintf(auth, sizeof auth, "bearer %s", SECRET);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_OK,
           "bearer scheme is case-insensitive");
    snprintf(auth, sizeof auth, "Bearer %s-", SECRET);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "wrong bearer token is unauthorized");
    snprintf(auth, sizeof auth, "Basic %s", SECRET);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "another scheme is unauthorized");

    h.name[0] = "X-Other";
    h.n = 2;
    test_sign_timestamped(SECRET, NOW - 10, body, sig, sizeof sig);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_OK,
           "X-Ttrelay-Signature accepted");
    test_sign_timestamped(SECRET, NOW - 301, body, sig, sizeof sig);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "signature 301 s old is stale");
    ok(strstr(why, "timestamp") != NULL, "reason says stale: %s", why);
    test_sign_timestamped("not-the-secret", NOW, body, sig, sizeof sig);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "signature with another secret is unauthorized");
    h.n = 1;
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "neither header is unauthorized");
}

static void test_content_types(void)
{
    struct conversion c = {0};
    char why[128];

    is_int(run_as("{\"id\":\"x\"}", "text/plain", &c, why), SOURCE_BAD_MEDIA,
           "text/plain is unsupported media");
    is_int(run_as("{\"id\":\"x\"}", NULL, &c, why), SOURCE_BAD_MEDIA,
           "no content type is unsupported media");
    is_int(run_as("{\"id\":\"x\"}", "application/jsonp", &c, why), SOURCE_BAD_MEDIA,
           "a type that only starts like JSON is unsupported media");
}

static void test_wrong_types_are_bad_requests(void)
{
    static const struct {
        const char *body, *name;
    } cases[] = {
        {"{\"kind\":\"lead\"}", "missing id"},
        {"{\"id\":\"\"}", "empty id"},
        {"{\"id\":{\"a\":1}}", "object id"},
        {"{\"id\":1.5}", "real id"},
        {"{\"id\":\"x\",\"kind\":\"sale\"}", "unknown kind"},
        {"{\"id\":\"x\",\"email\":42}", "numeric email"},
        {"{\"id\":\"x\",\"value\":\"abc\",\"currency\":\"USD\"}", "non-numeric value"},
        {"{\"id\":\"x\",\"value\":\"-5\",\"currency\":\"USD\"}", "negative value"},
        {"{\"id\":\"x\",\"value\":true,\"currency\":\"USD\"}", "boolean value"},
        {"{\"id\":\"x\",\"value\":10}", "value without currency"},
        {"{\"id\":\"x\",\"value\":10,\"currency\":\"EURO\"}", "4-letter currency"},
        {"{\"id\":\"x\",\"contents\":{\"content_id\":\"a\"}}", "contents object"},
        {"{\"id\":\"x\",\"contents\":[1]}", "contents item not an object"},
        {"{\"id\":\"x\",\"contents\":[{\"quantity\":\"two\"}]}", "quantity text"},
        {"{\"id\":\"x\",\"contents\":[{\"price\":\"free\"}]}", "price text"},
        {"{\"id\":\"x\",\"event_time\":\"yesterday\"}", "event_time text"},
        {"{\"id\":\"x\",\"event_time\":-5}", "negative event_time"},
        {"{\"id\":\"x\",\"test\":\"maybe\"}", "test text"},
        {"{\"id\":\"x\",\"test\":2}", "test 2"},
        {"{\"id\":\"x\",\"ttclid\":[\"a\"]}", "array ttclid"},
        {"[{\"id\":\"x\"}]", "array body"},
        {"{\"id\":\"x\"", "truncated JSON"},
    };
    struct conversion c = {0};
    char why[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum source_result rc = run(cases[i].body, &c, why);
        is_int(rc, SOURCE_BAD_REQUEST, "%s is a bad request", cases[i].name);
        ok(why[0] != '\0', "%s has a reason: %s", cases[i].name, why);
    }
    ok(c.contents_json == NULL, "a refused body leaves no contents behind");
}

static void test_exact_values_and_defaults(void)
{
    struct conversion c = {0};
    char why[128];

    is_int(run("{\"id\":\"v1\",\"value\":9.2,\"currency\":\"usd\"}", &c, why), SOURCE_OK,
           "numeric value");
    is_str(c.value, "9.2", "9.2 is written 9.2");
    is_int(c.event_time, NOW, "no event_time: the receive time");
    is_int(c.kind, KIND_CALL, "no kind: the source's");
    is_int(run("{\"id\":\"v2\",\"value\":\"1234.50\",\"currency\":\"JPY\",\"event_time\":"
               "\"1767225600\",\"test\":true,\"phone\":\"07700 900123\"}",
               &c, why),
           SOURCE_OK, "string value, digit-string time, national phone without country");
    is_str(c.value, "1234.50", "decimal string kept as written");
    is_int(c.event_time, 1767225600LL, "digit string is unix seconds");
    is_int(c.test, 1, "test true");
    is_str(c.phone_hash, "", "national phone without a country is not hashed");
    is_int(run("{\"id\":\"v3\",\"email\":\"not an email\",\"kind\":\"order\"}", &c, why), SOURCE_OK,
           "an invalid email is dropped, not refused");
    is_str(c.email_hash, "", "no email hash");
    is_str(c.order_id, "v3", "kind order sets order_id");
    is_int(run("{\"id\":\"v4\",\"ip\":\"999.1.1.1\",\"phone\":\"07700 900123\","
               "\"country\":\"United Kingdom\",\"email\":\"a@b.example\"}",
               &c, why),
           SOURCE_OK, "an invalid ip or country is dropped, not refused");
    is_str(c.ip, "", "no ip");
    is_str(c.phone_hash, "", "national phone with an unusable country is not hashed");
    ok(c.email_hash[0] != '\0', "the rest of the conversion is kept");
}

int main(void)
{
    test_call_maps_every_field();
    test_lead_with_national_phone();
    test_order_value_and_contents();
    test_form_body();
    test_authentication();
    test_content_types();
    test_wrong_types_are_bad_requests();
    test_exact_values_and_defaults();
    return tap_done();
}
