/* Generic source: bearer and HMAC authentication, JSON and form bodies, every field. */
#include "tap.h"

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET "generic-shared-secret"
#define NOW 1773568900LL

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

static void request_init(struct webhook_request *req, struct headers *h, const char *body,
                         const char *content_type)
{
    memset(req, 0, sizeof *req);
    req->body = body;
    req->len = strlen(body);
    req->content_type = content_type;
    req->header = header_get;
    req->ctx = h;
    req->now = (time_t)NOW;
}

/* A generic source whose default kind is call. */
static void source_init(struct source_cfg *src, char *secret)
{
    memset(src, 0, sizeof *src);
    STR_SET(src->id, "crm");
    STR_SET(src->type, "generic");
    src->ops = &source_generic;
    src->secret = secret;
    src->kind = KIND_CALL;
}

/* Bearer-authenticated verify + parse of body with the given content type. */
static enum source_result run_as(const char *body, const char *content_type,
                                 struct conversion *out, char *why)
{
    char secret[] = SECRET;
    struct headers h = {{"Authorization", "Idempotency-Key"}, {"Bearer " SECRET, "idem-1"}, 2};
    struct webhook_request req;
    struct source_cfg src;
    enum source_result rc;

    request_init(&req, &h, body, content_type);
    source_init(&src, secret);
    conversion_clear(out);
    out->kind = src.kind;
    why[0] = '\0';
    rc = source_generic.verify(&src, &req, why, 128);
    if (rc == SOURCE_OK)
        rc = source_generic.parse(&src, &req, out, why, 128);
    return rc;
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    return run_as(body, "application/json", out, why);
}

static void sha(const char *s, char out[65])
{
    hash_sha256_hex(s, strlen(s), out);
}

static void test_call_maps_every_field(void)
{
    char *body = tap_fixture("generic_call.json", NULL);
    struct conversion c = {0};
    char why[128], want[65];

    ok(body != NULL, "fixture generic_call.json loads");
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
    sha("jane@example.com", want);
    is_str(c.email_hash, want, "email trimmed, lower-cased, hashed");
    sha("+14045551234", want);
    is_str(c.phone_hash, want, "international phone hashed as E.164");
    sha("contact_123", want);
    is_str(c.external_id_hash, want, "external_id hashed");
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
    char *body = tap_fixture("generic_lead.json", NULL);
    struct conversion c = {0};
    char why[128], want[65];

    if (!body)
        return;
    is_int(run(body, &c, why), SOURCE_OK, "lead is accepted");
    is_int(c.kind, KIND_LEAD, "kind lead overrides the source's call");
    is_str(c.object_id, "lead-77", "object_id");
    is_str(c.order_id, "", "leads carry no order_id");
    sha("+447700900123", want);
    is_str(c.phone_hash, want, "GB 07700 900123 hashes as +447700900123");
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
    char *body = tap_fixture("generic_order.json", NULL);
    struct conversion c = {0};
    char why[128], want[65];

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
    sha("buyer@example.com", want);
    is_str(c.email_hash, want, "email hashed");
    conversion_clear(&c);
    free(body);
}

static void test_form_body(void)
{
    char *body = tap_fixture("generic_form.txt", NULL);
    struct conversion c = {0};
    char why[128], want[65];

    if (!body)
        return;
    is_int(run_as(body, "application/x-www-form-urlencoded; charset=utf-8", &c, why), SOURCE_OK,
           "form body is accepted");
    is_str(c.object_id, "form-1", "id");
    is_int(c.kind, KIND_LEAD, "kind lead");
    sha("jane@example.com", want);
    is_str(c.email_hash, want, "%%40 decoded in email");
    sha("+447700900123", want);
    is_str(c.phone_hash, want, "%%2B and + decoded in phone");
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
    char secret[] = SECRET, sig[160], auth[96], why[128];
    struct headers h = {{"Authorization", "X-Ttrelay-Signature"}, {auth, sig}, 2};
    struct webhook_request req;
    struct source_cfg src;

    request_init(&req, &h, body, "application/json");
    source_init(&src, secret);
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
    sign(SECRET, NOW - 10, body, sig, sizeof sig);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_OK,
           "X-Ttrelay-Signature accepted");
    sign(SECRET, NOW - 301, body, sig, sizeof sig);
    is_int(source_generic.verify(&src, &req, why, sizeof why), SOURCE_UNAUTHORIZED,
           "signature 301 s old is stale");
    ok(strstr(why, "timestamp") != NULL, "reason says stale: %s", why);
    sign("not-the-secret", NOW, body, sig, sizeof sig);
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
    is_int(run("{\"id\":\"v3\",\"email\":\"not an email\",\"kind\":\"order\"}", &c, why),
           SOURCE_OK, "an invalid email is dropped, not refused");
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
