/* Webhook signatures: the expected values were computed independently with Python's
 * hmac module, so these tests check the wire format and not just self-consistency. */
#include "signature.h"
#include "tap.h"

static const char shop_body[] = "{\"id\":820982911946154508,\"total_price\":\"388.00\"}";
static const char stripe_body[] = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
#define SHOP_SIG "737ZQ2jhYl7Q5C4Srzh+6UBWKNntGYs2rNIkZ/1XJHM="
#define CAL_SIG "b8046fe9756d7d6dc2be41140d64ea140a0645567796813b34def7aac52101f1"
#define STRIPE_SIG "001ce3ef73e456cedaab328328720d3ad59defb8bbd0f1518f46c04ad4ac0bb7"
#define STRIPE_OLD_SIG "112b8f3347b5153a9d788c594c4995aa89ddabd6ed8707eec0ae9f30fb646011"
#define T0 1700000000

static void test_base64(void)
{
    size_t len = strlen(shop_body);
    char changed[sizeof shop_body];

    ok(signature_check_base64("shpss_test", shop_body, len, SHOP_SIG),
       "base64 HMAC of the raw body is accepted");
    ok(signature_check_base64("shpss_test", shop_body, len, " " SHOP_SIG " "),
       "surrounding whitespace in the header is tolerated");
    ok(!signature_check_base64("shpss_other", shop_body, len, SHOP_SIG), "wrong secret refused");
    memcpy(changed, shop_body, sizeof shop_body);
    changed[strlen(changed) - 3] = '1'; /* 388.00 -> 388.01 */
    ok(!signature_check_base64("shpss_test", changed, len, SHOP_SIG), "changed body refused");
    ok(!signature_check_base64("shpss_test", shop_body, len - 1, SHOP_SIG),
       "only len bytes are signed: a truncated body is refused");
    ok(!signature_check_base64("shpss_test", shop_body, len, NULL), "missing header refused");
    ok(!signature_check_base64("shpss_test", shop_body, len, ""), "empty header refused");
    ok(!signature_check_base64("shpss_test", shop_body, len, "737ZQ2jhYl7Q5C4Srzh+6UBWKNnt"),
       "truncated signature refused");
    ok(!signature_check_base64("shpss_test", shop_body, len, CAL_SIG),
       "a hex signature is not a base64 one");
}

static void test_hex(void)
{
    size_t len = strlen(shop_body);

    ok(signature_check_hex("calcom_secret", shop_body, len, CAL_SIG), "hex HMAC accepted");
    ok(signature_check_hex("calcom_secret", shop_body, len,
                           "B8046FE9756D7D6DC2BE41140D64EA140A0645567796813B34DEF7AAC52101F1"),
       "upper-case hex accepted");
    ok(!signature_check_hex("calcom_other", shop_body, len, CAL_SIG), "wrong secret refused");
    ok(!signature_check_hex("calcom_secret", "{}", 2, CAL_SIG), "changed body refused");
    ok(!signature_check_hex("calcom_secret", shop_body, len, "no-secret-provided"),
       "Cal.com's no-secret marker refused");
    ok(!signature_check_hex("calcom_secret", shop_body, len, NULL), "missing header refused");
}

static enum signature_result check_ts(const char *secret, const char *body, const char *header,
                                      time_t now)
{
    return signature_check_timestamped(secret, body, strlen(body), header, now, 300);
}

static void test_timestamped(void)
{
    const char *good = "t=1700000000,v1=" STRIPE_SIG;

    is_int(check_ts("whsec_test", stripe_body, good, T0), SIG_OK, "valid t/v1 accepted");
    is_int(check_ts("whsec_test", stripe_body, good, T0 + 300), SIG_OK, "300 s old accepted");
    is_int(check_ts("whsec_test", stripe_body, good, T0 - 300), SIG_OK, "300 s ahead accepted");
    is_int(check_ts("whsec_test", stripe_body, good, T0 + 301), SIG_STALE, "301 s old is stale");
    is_int(check_ts("whsec_test", stripe_body, good, T0 - 301), SIG_STALE,
           "301 s in the future is stale");
    is_int(check_ts("whsec_test", stripe_body,
                    "t=1700000000, v1=" STRIPE_SIG ", v0=6ffbb59b2300aae63f272406069a9788", T0),
           SIG_OK, "spaces and a v0 entry are tolerated");
    is_int(check_ts("whsec_test", stripe_body, "v1=" STRIPE_SIG ",t=1700000000", T0), SIG_OK,
           "order of keys does not matter");
    is_int(check_ts("whsec_other", stripe_body, good, T0), SIG_MISMATCH, "wrong secret");
    is_int(check_ts("whsec_test", "{\"id\":\"evt_2\"}", good, T0), SIG_MISMATCH, "changed body");
    is_int(check_ts("whsec_test", stripe_body, "t=1700000001,v1=" STRIPE_SIG, T0), SIG_MISMATCH,
           "changed timestamp breaks the signature");
    is_int(check_ts("whsec_test", stripe_body, NULL, T0), SIG_MISSING, "NULL header is missing");
    is_int(check_ts("whsec_test", stripe_body, "", T0), SIG_MISSING, "empty header is missing");
    is_int(check_ts("whsec_test", stripe_body, "v1=" STRIPE_SIG, T0), SIG_MALFORMED, "no t");
    is_int(check_ts("whsec_test", stripe_body, "t=1700000000", T0), SIG_MALFORMED, "no v1");
    is_int(check_ts("whsec_test", stripe_body, "t=1700000000,v0=" STRIPE_SIG, T0), SIG_MALFORMED,
           "only v0 is no v1");
    is_int(check_ts("whsec_test", stripe_body, "t=17000x0000,v1=" STRIPE_SIG, T0), SIG_MALFORMED,
           "non-numeric t");
    is_int(check_ts("whsec_test", stripe_body, "t=-1700000000,v1=" STRIPE_SIG, T0), SIG_MALFORMED,
           "signed t");
    is_int(check_ts("whsec_test", stripe_body, "garbage", T0), SIG_MALFORMED, "no key=value");
}

static void test_rotated_secret(void)
{
    const char *both = "t=1700000000,v1=" STRIPE_OLD_SIG ",v1=" STRIPE_SIG;
    const char *both_rev = "t=1700000000,v1=" STRIPE_SIG ",v1=" STRIPE_OLD_SIG;

    is_int(check_ts("whsec_test", stripe_body, both, T0), SIG_OK,
           "new secret matches the second v1");
    is_int(check_ts("whsec_old", stripe_body, both, T0), SIG_OK, "old secret matches the first v1");
    is_int(check_ts("whsec_test", stripe_body, both_rev, T0), SIG_OK, "either order");
    is_int(check_ts("whsec_third", stripe_body, both, T0), SIG_MISMATCH,
           "a third secret matches neither");
    is_int(check_ts("whsec_test", stripe_body, "t=1700000000,v1=abc,v1=" STRIPE_SIG, T0), SIG_OK,
           "a malformed v1 next to a good one does not hide it");
}

/* The signing side (ttrelayctl send-test) gives the independently computed values. */
static void test_sign(void)
{
    size_t len = strlen(shop_body);
    char out[128], tiny[16];

    ok(signature_sign_base64("shpss_test", shop_body, len, out, sizeof out) == 0,
       "base64 signing succeeds");
    is_str(out, SHOP_SIG, "base64 signature is Shopify's");
    ok(signature_sign_hex("calcom_secret", shop_body, len, out, sizeof out) == 0,
       "hex signing succeeds");
    is_str(out, CAL_SIG, "hex signature is Cal.com's");
    ok(signature_sign_timestamped("whsec_test", stripe_body, strlen(stripe_body), T0, out,
                                  sizeof out) == 0,
       "timestamped signing succeeds");
    is_str(out, "t=1700000000,v1=" STRIPE_SIG, "timestamped header is Stripe's");
    ok(signature_sign_base64("shpss_test", shop_body, len, tiny, sizeof tiny) < 0,
       "a base64 buffer too small is refused");
    ok(signature_sign_hex("calcom_secret", shop_body, len, tiny, sizeof tiny) < 0,
       "a hex buffer too small is refused");
    ok(signature_sign_timestamped("whsec_test", stripe_body, strlen(stripe_body), T0, tiny,
                                  sizeof tiny) < 0,
       "a header buffer too small is refused");
}

int main(void)
{
    test_base64();
    test_hex();
    test_timestamped();
    test_rotated_secret();
    test_sign();
    return tap_done();
}
