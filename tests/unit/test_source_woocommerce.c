/* WooCommerce source: the set-up ping, signature, topic and status rules and the mapping
 * of an order, including its order-attribution meta. */
#include "source_test.h"

#define SECRET "wc-webhook-secret-8f3a91c2"
#define NOW 1746918000LL
#define UA                                                                                         \
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "                          \
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

struct call {
    const char *topic;
    const char *content_type;
    const char *secret; /* key the test signs with; NULL sends no signature */
};

static const struct call created = {"order.created", "application/json", SECRET};

static enum source_result run_call(const struct call *c, const char *body, struct conversion *out,
                                   char *why)
{
    char sig[64];
    struct test_headers h = {0};
    struct webhook_request req;
    struct source_cfg src;

    if (c->secret) {
        test_sign_base64(c->secret, body, sig);
        test_header_add(&h, "X-WC-Webhook-Signature", sig);
        test_header_add(&h, "X-WC-Webhook-Source", "https://shop.example/");
        test_header_add(&h, "X-WC-Webhook-Resource", "order");
        test_header_add(&h, "X-WC-Webhook-ID", "7");
        test_header_add(&h, "X-WC-Webhook-Delivery-ID", "9c4f3e1a2b7d8c6e5f4a3b2c1d0e9f8a");
    }
    if (c->topic)
        test_header_add(&h, "X-WC-Webhook-Topic", c->topic);
    test_request_init(&req, &h, body, c->content_type, NOW);
    test_source_init(&src, &source_woocommerce, "woo", SECRET, KIND_ORDER);
    return source_handle(&src, &req, out, why, 128);
}

static enum source_result run(const char *body, struct conversion *out, char *why)
{
    return run_call(&created, body, out, why);
}

static void test_processing_maps_every_field(const char *body)
{
    struct conversion c;
    char why[128];

    is_int(run(body, &c, why), SOURCE_OK, "processing order accepted (%s)", why);
    is_str(c.source_id, "woo", "source id preset");
    is_int(c.kind, KIND_ORDER, "kind order");
    is_str(c.object_id, "14489", "object id is the order id");
    is_str(c.order_id, "14489", "order_id is the order id");
    is_str(c.delivery_id, "9c4f3e1a2b7d8c6e5f4a3b2c1d0e9f8a", "delivery id");
    is_str(c.value, "54.90", "value exact from total");
    is_str(c.currency, "USD", "currency");
    is_email_hash(c.email_hash, "jon.doe@example.com", "billing email normalized and hashed");
    is_phone_hash(c.phone_hash, "+14045550123", "billing phone to E.164 via billing country US");
    is_external_id_hash(c.external_id_hash, "11", "external id from customer_id");
    is_str(c.ip, "197.210.78.217", "ip from customer_ip_address");
    is_str(c.user_agent, UA, "user agent from customer_user_agent");
    is_str(c.url, "https://shop.example/product/hoodie/?utm_source=tiktok&ttclid=E.C.P.woo%2Fxyz",
           "url from the attribution session entry");
    is_str(c.ttclid, "E.C.P.woo/xyz", "ttclid URL-decoded from the session entry");
    is_str(c.referrer, "https://www.tiktok.com/", "referrer from attribution meta");
    is_str(c.vid, "v-456", "vid from meta ttr_vid");
    is_str(c.event_id, "", "no explicit event id");
    is_int(c.event_time, 1746917434LL, "event_time from date_paid_gmt (UTC)");
    ok(test_has_ref(&c, "14489") && test_has_ref(&c, "wc_order_inUqP1zmyrG2P") &&
           test_has_ref(&c, "0542e7a8633f55ad58ffb70db2744930") &&
           test_has_ref(&c, "pi_3RNME1C8Qa7hr7SI1pcLYDA0"),
       "refs: id/number, order_key, cart_hash, transaction_id");
    is_int(c.nrefs, 4, "number equal to id is kept once");
    is_str(c.contents_json,
           "[{\"content_id\":\"101\",\"content_name\":\"Hoodie - Black, M\",\"price\":30.0,"
           "\"quantity\":1},{\"content_id\":\"120\",\"content_name\":\"Beanie\",\"price\":10.0,"
           "\"quantity\":2}]",
           "contents from line_items");
    is_int(c.test, 0, "not a test");
    conversion_clear(&c);
}

static void test_pending_then_completed(void)
{
    char *pending = test_fixture("woo_order_pending.json", 0);
    char *completed = test_fixture("woo_order_completed.json", 0);
    struct call upd = {"order.updated", "application/json", SECRET};
    struct conversion out;
    char why[128];

    is_int(run(pending, &out, why), SOURCE_IGNORED, "pending order ignored");
    is_str(why, "order status pending", "reason names the status");
    is_int(run_call(&upd, completed, &out, why), SOURCE_OK, "the same order completed: accepted");
    is_str(out.object_id, "14490", "keyed on the order id");
    is_str(out.external_id_hash, "", "guest order (customer_id 0) has no external id");
    is_int(out.event_time, 1747051200LL, "event_time from date_paid_gmt");
    is_str(out.delivery_id, "9c4f3e1a2b7d8c6e5f4a3b2c1d0e9f8a", "delivery id");
    conversion_clear(&out);
    free(pending);
    free(completed);
}

static void test_ping(void)
{
    struct call ping = {NULL, "application/x-www-form-urlencoded", NULL};
    struct conversion out;
    char why[128];

    is_int(run_call(&ping, "webhook_id=12", &out, why), SOURCE_PING, "form ping answered as ping");
    ping.content_type = NULL;
    is_int(run_call(&ping, "webhook_id=12", &out, why), SOURCE_PING,
           "ping body without content type");
    ping.content_type = "application/json";
    is_int(run_call(&ping, "webhook_id=12", &out, why), SOURCE_PING,
           "ping body with any content type");
    is_int(run_call(&ping, "webhook_id=12&x=1", &out, why), SOURCE_UNAUTHORIZED,
           "other unsigned form body with JSON content type: 401");
}

static void test_signature(const char *body)
{
    struct call c = created;
    struct conversion out;
    char why[128];

    c.secret = NULL;
    is_int(run_call(&c, body, &out, why), SOURCE_UNAUTHORIZED, "unsigned JSON order: 401");
    c.secret = "not-the-secret";
    is_int(run_call(&c, body, &out, why), SOURCE_UNAUTHORIZED, "wrong secret: 401");
    is_str(out.object_id, "", "nothing mapped");
    c.content_type = "application/x-www-form-urlencoded";
    is_int(run_call(&c, "webhook_id=12", &out, why), SOURCE_UNAUTHORIZED,
           "form body with a bad signature is no ping: 401");
    c.secret = SECRET;
    is_int(run_call(&c, body, &out, why), SOURCE_BAD_MEDIA, "signed form-typed order: 415");
}

static void test_topics(const char *body)
{
    struct call c = created;
    struct conversion out;
    char why[128];

    c.topic = "order.updated";
    is_int(run_call(&c, body, &out, why), SOURCE_OK, "order.updated accepted");
    conversion_clear(&out);
    c.topic = NULL;
    is_int(run_call(&c, body, &out, why), SOURCE_OK, "no topic: treated as an order");
    is_str(out.object_id, "14489", "order id without topic");
    conversion_clear(&out);
    c.topic = "order.deleted";
    is_int(run_call(&c, body, &out, why), SOURCE_IGNORED, "order.deleted ignored");
    c.topic = "product.created";
    is_int(run_call(&c, body, &out, why), SOURCE_IGNORED, "product.created ignored");
}

static void test_explicit_meta_wins(const char *body)
{
    char *b = test_replace(body, "{\"id\":8443,\"key\":\"ttr_vid\",\"value\":\"v-456\"}",
                           "{\"id\":8443,\"key\":\"ttr_vid\",\"value\":\"v-456\"},"
                           "{\"id\":8450,\"key\":\"ttr_event_id\",\"value\":\"pix-evt-77\"},"
                           "{\"id\":8451,\"key\":\"ttclid\",\"value\":\"E.C.P.meta\"},"
                           "{\"id\":8452,\"key\":\"_some_plugin\",\"value\":{\"nested\":true}}");
    struct conversion out;
    char why[128];

    ok(b != NULL, "body with explicit meta built");
    is_int(run(b, &out, why), SOURCE_OK, "order with explicit meta accepted");
    is_str(out.event_id, "pix-evt-77", "event_id from meta ttr_event_id");
    is_str(out.ttclid, "E.C.P.meta", "explicit ttclid meta wins over the session entry");
    is_str(out.url, "https://shop.example/product/hoodie/?utm_source=tiktok&ttclid=E.C.P.woo%2Fxyz",
           "url still from the session entry");
    conversion_clear(&out);
    free(b);
}

static void test_value_and_time_edges(const char *body)
{
    char *zero = test_replace(body, "\"total\":\"54.90\"", "\"total\":\"0.00\"");
    char *unpaid =
        test_replace(body, "\"date_paid_gmt\":\"2025-05-10T22:50:34\"", "\"date_paid_gmt\":null");
    struct conversion out;
    char why[128];

    is_int(run(zero, &out, why), SOURCE_OK, "zero total accepted");
    is_str(out.value, "0.00", "total 0.00 kept");
    conversion_clear(&out);
    is_int(run(unpaid, &out, why), SOURCE_OK, "order without date_paid_gmt");
    is_int(out.event_time, 1746917432LL, "event_time falls back to date_created_gmt");
    conversion_clear(&out);
    is_int(run("{\"status\":\"processing\"}", &out, why), SOURCE_BAD_REQUEST,
           "order without id: 400");
    is_int(run("not json", &out, why), SOURCE_BAD_REQUEST, "not JSON: 400");
    free(zero);
    free(unpaid);
}

int main(void)
{
    char *body = test_fixture("woo_order_processing.json", 2000);

    if (!body)
        return tap_done();
    test_processing_maps_every_field(body);
    test_pending_then_completed();
    test_check_member(run, body, "status", "processing", "completed", SOURCE_OK);
    test_check_member(run, body, "status", "processing", "on-hold", SOURCE_IGNORED);
    test_check_member(run, body, "status", "processing", "failed", SOURCE_IGNORED);
    test_check_member(run, body, "status", "processing", "cancelled", SOURCE_IGNORED);
    test_check_member(run, body, "status", "processing", "refunded", SOURCE_IGNORED);
    test_check_member(run, body, "status", "processing", "checkout-draft", SOURCE_IGNORED);
    test_ping();
    test_signature(body);
    test_topics(body);
    test_check_national_phone(run, body, "country", "020 7946 0018", "GB", "+442079460018");
    test_check_national_phone(run, body, "country", "030 1234567", "DE", "+49301234567");
    test_explicit_meta_wins(body);
    test_value_and_time_edges(body);
    free(body);
    return tap_done();
}
