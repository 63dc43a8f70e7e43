/* Shopify source: signature, topics, test/cancel/refund rules and the mapping of an order. */
#include "source_test.h"

#include <jansson.h>

#define SECRET "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"
#define NOW 1641000000LL
#define ORDER_ID "820982911946154508"
#define UA                                                                                         \
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "                          \
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

struct call {
    const char *topic;
    const char *content_type;
    const char *sig_header; /* header name carrying the signature, NULL for none */
    const char *secret;     /* key the test signs with */
    const char *domain;
    int send_tests;
};

static const struct call paid = {"orders/paid", "application/json",     "X-Shopify-Hmac-Sha256",
                                 SECRET,        "jsmith.myshopify.com", 0};

static enum source_result run_call(const struct call *c, const char *body, struct conversion *out,
                                   char *why)
{
    char sig[64];
    struct test_headers h = {0};
    struct webhook_request req;
    struct source_cfg src;

    test_sign_base64(c->secret, body, sig);
    if (c->sig_header)
        test_header_add(&h, c->sig_header, sig);
    if (c->topic)
        test_header_add(&h, "X-Shopify-Topic", c->topic);
    if (c->domain)
        test_header_add(&h, "X-Shopify-Shop-Domain", c->domain);
    test_header_add(&h, "X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    test_header_add(&h, "X-Shopify-API-Version", "2025-01");
    test_request_init(&req, &h, body, c->content_type, NOW);
    test_source_init(&src, &source_shopify, "shop", SECRET, KIND_ORDER);
    src.send_tests = c->send_tests;
    return source_handle(&src, &req, out, why, 128);
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    return run_call(&paid, body, out, why);
}

static void test_orders_paid_maps_every_field(const char *body)
{
    struct conversion c;
    char why[128];

    is_int(run(body, &c, why), SOURCE_OK, "orders/paid accepted (%s)", why);
    is_str(c.source_id, "shop", "source id preset");
    is_int(c.kind, KIND_ORDER, "kind order");
    is_str(c.object_id, ORDER_ID, "object id is the int64 order id, exact beyond 2^53");
    is_str(c.order_id, ORDER_ID, "order_id is the order id");
    is_str(c.delivery_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "delivery id from webhook id");
    is_str(c.value, "388.00", "value exact from total_price");
    is_str(c.currency, "USD", "currency");
    is_email_hash(c.email_hash, "jon.doe@example.com", "email trimmed, lower-cased, hashed");
    is_phone_hash(c.phone_hash, "+14045550123",
                  "national billing phone to +14045550123 via country_code US");
    is_external_id_hash(c.external_id_hash, "115310627314723954", "external id from customer.id");
    is_str(c.ip, "223.197.189.54", "ip from client_details");
    is_str(c.user_agent, UA, "user agent from client_details");
    is_str(c.url, "https://jsmith.myshopify.com/pages/lp-t1?utm_source=tiktok&ttclid=E.C.P.abc",
           "landing_site path prefixed with the shop domain");
    is_str(c.referrer, "https://www.tiktok.com/", "referrer from referring_site");
    is_str(c.ttclid, "E.C.P.abc", "ttclid from landing_site query");
    is_str(c.vid, "v-123", "vid from note_attributes ttr_vid");
    is_str(c.event_id, "", "no explicit event id");
    is_str(c.ttp, "", "no ttp");
    is_int(c.event_time, 1640995200LL, "event_time from processed_at with -05:00 offset");
    is_int(c.test, 0, "not a test");
    ok(test_has_ref(&c, ORDER_ID) && test_has_ref(&c, "#9999") && test_has_ref(&c, "9999") &&
           test_has_ref(&c, "1234") && test_has_ref(&c, "ae0ed4e40b4fe3c339cc9be09ea0d41b") &&
           test_has_ref(&c, "Z2NwLXVzLWVhc3QxOjAxSE5XRjhZ") && test_has_ref(&c, "123456abcd"),
       "refs: id, name with and without #, order_number, checkout/cart tokens, token");
    is_int(c.nrefs, 7, "seven refs");
    is_str(
        c.contents_json,
        "[{\"content_id\":\"632910392\",\"content_name\":\"IPod Nano - 8GB Pink\",\"price\":199.0,"
        "\"quantity\":1},{\"content_id\":\"632910393\",\"content_name\":\"Silicone Case - Black\","
        "\"price\":94.5,\"quantity\":2}]",
        "contents from line_items");
    conversion_clear(&c);
}

static void test_topics_collapse_and_filter(const char *paid_body)
{
    char *create = test_fixture("shopify_orders_create.json", 0);
    struct call c = paid;
    struct conversion a, b;
    char why[128];

    c.topic = "orders/create";
    is_int(run_call(&c, create, &a, why), SOURCE_OK, "orders/create accepted");
    is_int(run(paid_body, &b, why), SOURCE_OK, "orders/paid accepted");
    is_str(a.object_id, b.object_id, "orders/create and orders/paid share the business key");
    conversion_clear(&a);
    conversion_clear(&b);
    c.topic = "orders/updated";
    is_int(run_call(&c, paid_body, &a, why), SOURCE_OK, "orders/updated accepted");
    conversion_clear(&a);
    c.topic = "products/update";
    is_int(run_call(&c, paid_body, &a, why), SOURCE_IGNORED, "products/update ignored");
    c.topic = "orders/cancelled";
    is_int(run_call(&c, paid_body, &a, why), SOURCE_IGNORED, "orders/cancelled ignored");
    c.topic = NULL;
    is_int(run_call(&c, paid_body, &a, why), SOURCE_IGNORED, "no topic ignored");
    free(create);
}

static void test_signature(const char *body)
{
    struct call c = paid;
    struct conversion out;
    char why[128];
    char *tampered = test_replace(body, "\"total_price\":\"388.00\"", "\"total_price\":\"3.88\"");

    c.sig_header = "Shopify-Hmac-Sha256";
    is_int(run_call(&c, body, &out, why), SOURCE_OK,
           "Shopify-Hmac-Sha256 (events delivery) accepted");
    conversion_clear(&out);
    c.sig_header = NULL;
    is_int(run_call(&c, body, &out, why), SOURCE_UNAUTHORIZED, "missing signature: 401");
    is_str(out.object_id, "", "nothing mapped without a signature");
    c.sig_header = "X-Shopify-Hmac-Sha256";
    c.secret = "another-secret";
    is_int(run_call(&c, body, &out, why), SOURCE_UNAUTHORIZED, "signed with another secret: 401");
    ok(tampered != NULL, "tampered body built");
    {
        struct test_headers h = {0};
        struct webhook_request req;
        struct source_cfg src;
        char sig[64];

        test_sign_base64(SECRET, body, sig);
        test_header_add(&h, "X-Shopify-Hmac-Sha256", sig);
        test_header_add(&h, "X-Shopify-Topic", "orders/paid");
        test_request_init(&req, &h, tampered, "application/json", NOW);
        test_source_init(&src, &source_shopify, "shop", SECRET, KIND_ORDER);
        is_int(source_handle(&src, &req, &out, why, sizeof why), SOURCE_UNAUTHORIZED,
               "body changed after signing: 401");
    }
    free(tampered);
}

static void test_content_type(const char *body)
{
    struct call c = paid;
    struct conversion out;
    char why[128];

    c.content_type = "application/json; charset=utf-8";
    is_int(run_call(&c, body, &out, why), SOURCE_OK, "application/json with charset accepted");
    conversion_clear(&out);
    c.content_type = "text/plain";
    is_int(run_call(&c, body, &out, why), SOURCE_BAD_MEDIA, "text/plain: 415");
    c.content_type = "application/x-www-form-urlencoded";
    is_int(run_call(&c, body, &out, why), SOURCE_BAD_MEDIA, "form body: 415");
    c.content_type = NULL;
    is_int(run_call(&c, body, &out, why), SOURCE_BAD_MEDIA, "no content type: 415");
}

static void test_test_and_cancelled_orders(void)
{
    char *test = test_fixture("shopify_test_order.json", 0);
    char *cancelled = test_fixture("shopify_cancelled.json", 0);
    struct call c = paid;
    struct conversion out;
    char why[128];

    is_int(run(test, &out, why), SOURCE_IGNORED, "test order ignored by default");
    is_str(why, "test order", "reason says test order");
    c.send_tests = 1;
    is_int(run_call(&c, test, &out, why), SOURCE_OK, "test order accepted with send_tests");
    is_int(out.test, 1, "marked as test");
    is_str(out.object_id, "450789469", "test order id");
    conversion_clear(&out);
    is_int(run(cancelled, &out, why), SOURCE_IGNORED, "cancelled order ignored");
    is_str(why, "cancelled order", "reason says cancelled");
    free(test);
    free(cancelled);
}

static void check_total(const char *body, const char *total, const char *want)
{
    char to[64], *b;
    struct conversion out;
    char why[128];

    snprintf(to, sizeof to, "\"total_price\":\"%s\"", total);
    b = test_replace(body, "\"total_price\":\"388.00\"", to);
    is_int(run(b, &out, why), SOURCE_OK, "total %s accepted", total);
    is_str(out.value, want, "total_price %s kept exactly", total);
    conversion_clear(&out);
    free(b);
}

static void test_cart_attributes_win(const char *body)
{
    char *b = test_replace(body, "{\"name\":\"ttr_vid\",\"value\":\"v-123\"}",
                           "{\"name\":\"ttr_vid\",\"value\":\"v-123\"},"
                           "{\"name\":\"event_id\",\"value\":\"pix-evt-42\"},"
                           "{\"name\":\"ttclid\",\"value\":\"E.C.P.fromcart\"},"
                           "{\"name\":\"ttp\",\"value\":\"2F7h37YkS1j57AYSKTI7IHhJPYH\"}");
    struct conversion out;
    char why[128];

    is_int(run(b, &out, why), SOURCE_OK, "order with cart attributes accepted");
    is_str(out.event_id, "pix-evt-42", "event_id from note_attributes");
    is_str(out.ttclid, "E.C.P.fromcart", "note_attributes ttclid wins over landing_site");
    is_str(out.ttp, "2F7h37YkS1j57AYSKTI7IHhJPYH", "ttp from note_attributes");
    conversion_clear(&out);
    free(b);
}

static void test_page_and_time_fallbacks(const char *body)
{
    struct call c = paid;
    struct conversion out;
    char why[128];
    char *b = test_replace(body, "\"processed_at\":\"2021-12-31T19:00:00-05:00\"",
                           "\"processed_at\":null");

    c.domain = NULL;
    is_int(run_call(&c, body, &out, why), SOURCE_OK, "order without shop domain header");
    is_str(out.url, "", "a bare path is not sent as a URL");
    is_str(out.ttclid, "E.C.P.abc", "ttclid still read from the path");
    conversion_clear(&out);
    c.domain = "evil.example/x?";
    is_int(run_call(&c, body, &out, why), SOURCE_OK, "order with a malformed shop domain");
    is_str(out.url, "", "a malformed domain is not used");
    conversion_clear(&out);
    is_int(run(b, &out, why), SOURCE_OK, "order without processed_at");
    is_int(out.event_time, 1640995198LL, "event_time falls back to created_at");
    conversion_clear(&out);
    free(b);
}

static void test_malformed_bodies(const char *body)
{
    struct conversion out;
    char why[128];
    char *noid = test_replace(body, "{\"id\":820982911946154508,", "{");

    is_int(run("{\"id\":1,", &out, why), SOURCE_BAD_REQUEST, "truncated JSON: 400");
    is_int(run("[1,2,3]", &out, why), SOURCE_BAD_REQUEST, "JSON array: 400");
    ok(noid != NULL, "body without id built");
    is_int(run(noid, &out, why), SOURCE_BAD_REQUEST, "order without id: 400");
    free(noid);
}

/* 50 line items priced 0.01 .. 0.50: each price must come out with its exact value. */
static void test_fifty_line_items(const char *body)
{
    json_t *order = json_loads(body, 0, NULL), *items = json_array(), *contents, *last;
    struct conversion out;
    char why[128], price[16], *text;

    for (int i = 1; i <= 50; i++) {
        snprintf(price, sizeof price, "0.%02d", i);
        json_array_append_new(items, json_pack("{s:I,s:I,s:s,s:s,s:i}", "id", (json_int_t)i,
                                               "product_id", (json_int_t)(7000000000000 + i),
                                               "name", "Sticker", "price", price, "quantity", i));
    }
    json_object_set_new(order, "line_items", items);
    text = json_dumps(order, JSON_COMPACT);
    is_int(run(text, &out, why), SOURCE_OK, "order with 50 line items accepted");
    contents = json_loads(out.contents_json ? out.contents_json : "", 0, NULL);
    is_int(json_array_size(contents), 50, "50 contents");
    last = json_array_get(contents, 49);
    is_str(json_string_value(json_object_get(last, "content_id")), "7000000000050",
           "content_id of the 50th item");
    ok(strstr(out.contents_json, "\"price\":0.5,\"quantity\":50") != NULL, "50th price 0.5");
    ok(strstr(out.contents_json, "\"price\":0.07,\"quantity\":7") != NULL, "7th price 0.07");
    conversion_clear(&out);
    json_decref(contents);
    json_decref(order);
    free(text);
}

int main(void)
{
    char *body = test_fixture("shopify_orders_paid.json", 4000);

    if (!body)
        return tap_done();
    test_orders_paid_maps_every_field(body);
    test_topics_collapse_and_filter(body);
    test_signature(body);
    test_content_type(body);
    test_test_and_cancelled_orders();
    test_check_member(run, body, "financial_status", "paid", "refunded", SOURCE_IGNORED);
    test_check_member(run, body, "financial_status", "paid", "voided", SOURCE_IGNORED);
    test_check_member(run, body, "financial_status", "paid", "pending", SOURCE_OK);
    test_check_member(run, body, "financial_status", "paid", "partially_refunded", SOURCE_OK);
    test_check_member(run, body, "financial_status", "paid", "authorized", SOURCE_OK);
    test_check_national_phone(run, body, "country_code", "020 7946 0018", "GB", "+442079460018");
    test_check_national_phone(run, body, "country_code", "030 1234567", "DE", "+49301234567");
    check_total(body, "0.00", "0.00");
    check_total(body, "123456789.99", "123456789.99");
    test_cart_attributes_win(body);
    test_page_and_time_fallbacks(body);
    test_malformed_bodies(body);
    test_fifty_line_items(body);
    free(body);
    return tap_done();
}
