/* collect_parse: the /collect body from ttr.js becomes a touch with hashed contact keys,
 * and anything of the wrong shape is refused with a reason. */
#include <string.h>
#include <strings.h>

#include "collect.h"
#include "normalize.h"
#include "tap.h"

/* sha256("shopper@example.com") */
#define SHOPPER_HASH "a85e9ca18f34935ab9b0381b25bfad2455444112b0149270fd88e3da172fe196"

static int parse(const char *body, struct touch *t, char *why, size_t whylen)
{
    why[0] = '\0';
    return collect_parse(body, strlen(body), NULL, NULL, t, why, whylen);
}

static int refused(const char *body)
{
    struct touch t;
    char why[128];
    int rc = parse(body, &t, why, sizeof why);
    return rc == -1 && why[0] != '\0' && t.vid[0] == '\0';
}

static void test_event_touch(void)
{
    struct touch t;
    char why[128];
    const char *body =
        "{\"vid\":\"0123456789abcdef0123456789abcdef\",\"event\":\"CompletePayment\","
        "\"event_id\":\"ttr_4f0c2a9b1d3e5f607182\",\"ttclid\":\"E.C.P.abc\",\"ttp\":"
        "\"2F7h37YkS1j5\","
        "\"url\":\"https://shop.example/thanks?x=1\",\"referrer\":\"https://www.tiktok.com/\","
        "\"order_id\":\"1001\",\"value\":388.5,\"currency\":\"usd\",\"content_id\":\"sku-1\","
        "\"ts\":1760000000123}";

    is_int(parse(body, &t, why, sizeof why), 0, "a pixel event body is accepted (%s)", why);
    is_str(t.vid, "0123456789abcdef0123456789abcdef", "vid kept");
    is_str(t.event, "CompletePayment", "event kept");
    is_str(t.event_id, "ttr_4f0c2a9b1d3e5f607182", "event_id kept");
    is_str(t.order_id, "1001", "order_id kept");
    is_str(t.ttclid, "E.C.P.abc", "ttclid kept");
    is_str(t.ttp, "2F7h37YkS1j5", "ttp kept");
    is_str(t.url, "https://shop.example/thanks?x=1", "url kept");
    is_str(t.referrer, "https://www.tiktok.com/", "referrer kept");
    is_str(t.value, "388.5", "a JSON number value becomes exact decimal text");
    is_str(t.currency, "USD", "currency upper-cased");
    is_str(t.email_hash, "", "no email hash without an email");
    is_int(t.ts, 0, "the client's ts is ignored: the caller stamps server time");
    is_str(t.ip, "", "ip is left for the caller");
}

static void test_values(void)
{
    struct touch t;
    char why[128];

    is_int(parse("{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":\"e1\",\"value\":9.2}", &t,
                 why, sizeof why),
           0, "value 9.2 accepted");
    is_str(t.value, "9.2", "9.2 is written 9.2, not 9.1999999999999993");
    is_int(parse("{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":\"e1\",\"value\":\"388.00\"}",
                 &t, why, sizeof why),
           0, "a numeric string value is accepted");
    is_str(t.value, "388.00", "a decimal string keeps its digits");
    is_int(parse("{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":\"e1\",\"value\":25}", &t,
                 why, sizeof why),
           0, "an integer value is accepted");
    is_str(t.value, "25", "integer value text");
    ok(refused("{\"vid\":\"v1\",\"value\":\"12abc\"}"), "a non-numeric value string is refused");
    ok(refused("{\"vid\":\"v1\",\"currency\":\"US\"}"), "a 2-letter currency is refused");
}

static void test_wrong_types(void)
{
    ok(refused("{\"vid\":12345}"), "vid as a number is refused");
    ok(refused("{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":42}"),
       "event_id as a number is refused");
    ok(refused("{\"vid\":\"v1\",\"value\":true}"), "value as a boolean is refused");
    ok(refused("{\"vid\":\"v1\",\"value\":{\"amount\":1}}"), "value as an object is refused");
    ok(refused("{\"vid\":\"v1\",\"ts\":\"1760000000\"}"), "ts as a string is refused");
    ok(refused("{\"vid\":\"v1\",\"email\":[\"a@b.example\"]}"), "email as an array is refused");
    ok(refused("{\"vid\":\"v1\",\"url\":5}"), "url as a number is refused");
    ok(refused("[{\"vid\":\"v1\"}]"), "a JSON array is refused");
    ok(refused("\"vid\""), "a JSON string is refused");
    ok(refused("42"), "a JSON number is refused");
    ok(refused("{\"vid\":\"v1\""), "truncated JSON is refused");
    ok(refused("{\"vid\":\"v1\",\"vid\":\"v2\"}"), "a duplicated key is refused");
    ok(refused(""), "an empty body is refused");
}

static void test_required_and_names(void)
{
    struct touch t;
    char why[128];

    ok(refused("{\"event\":\"Purchase\",\"event_id\":\"e1\"}"), "a touch without vid is refused");
    ok(refused("{\"vid\":\"\"}"), "an empty vid is refused");
    ok(refused("{\"vid\":\"a b\"}"), "a vid with a space is refused");
    ok(refused("{\"vid\":\"v1\",\"event\":\"Complete Payment\",\"event_id\":\"e1\"}"),
       "an event name with a space is refused");
    ok(refused("{\"vid\":\"v1\",\"event\":\"A234567890123456789012345678901234567890123456789012345"
               "678901234\",\"event_id\":\"e1\"}"),
       "a 64-character event name is refused");
    is_int(
        parse("{\"vid\":\"v1\",\"event\":\"A23456789012345678901234567890123456789012345678901234"
              "5678901_3\",\"event_id\":\"e1\"}",
              &t, why, sizeof why),
        0, "a 63-character event name is accepted");
    ok(refused("{\"vid\":\"v1\",\"event\":\"Purchase\"}"), "an event without event_id is refused");
    ok(refused("{\"vid\":\"v1\",\"event_id\":\"e1\"}"), "an event_id without event is refused");
    ok(refused("{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":\"e\\u0001\"}"),
       "an event_id with a control character is refused");
}

static void test_depth(void)
{
    struct touch t;
    char why[128];

    is_int(parse("{\"vid\":\"v1\",\"x\":{\"a\":[{\"b\":1}]}}", &t, why, sizeof why), 0,
           "nesting of 4 is accepted");
    ok(refused("{\"vid\":\"v1\",\"x\":{\"a\":[{\"b\":[1]}]}}"), "nesting of 5 is refused");
    is_int(
        parse("{\"vid\":\"v1\",\"url\":\"https://a.example/?q=[[[[[{{{{{\"}", &t, why, sizeof why),
        0, "brackets inside strings do not count as nesting");
    is_str(t.url, "https://a.example/?q=[[[[[{{{{{", "that url is kept");
    is_int(parse("{\"vid\":\"v1\",\"url\":\"a\\\"{{{{{\\\\\"}", &t, why, sizeof why), 0,
           "an escaped quote or backslash does not end the string for the depth scan");
    is_str(t.url, "a\"{{{{{\\", "that url is kept unescaped");
}

/* 1 when needle occurs anywhere in the bytes of the touch, in any case. */
static int touch_contains(const struct touch *t, const char *needle)
{
    const char *p = (const char *)t;
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= sizeof *t; i++) {
        if (strncasecmp(p + i, needle, n) == 0)
            return 1;
    }
    return 0;
}

static void test_contact_hashed(void)
{
    struct touch t;
    char why[128], want[65], phone_want[65];
    const char *body = "{\"vid\":\"v1\",\"email\":\" Shopper@Example.com \","
                       "\"phone\":\"(404) 555-1234\"}";

    is_int(collect_parse(body, strlen(body), "US", NULL, &t, why, sizeof why), 0,
           "an identify body is accepted (%s)", why);
    is_int(normalize_hash_email(" Shopper@Example.com ", want), 0, "normalize_hash_email works");
    is_str(t.email_hash, want, "email hash equals normalize_hash_email of the same value");
    is_str(t.email_hash, SHOPPER_HASH, "email hash is sha256 of the trimmed lower-cased email");
    is_int(normalize_hash_phone("+14045551234", NULL, phone_want), 0, "normalize_hash_phone works");
    is_str(t.phone_hash, phone_want, "a national phone is hashed in E.164 with the country");
    is_str(t.event, "", "an identify touch has no event");
    ok(!touch_contains(&t, "shopper@example.com"), "the raw email is in no touch field");
    ok(!touch_contains(&t, "Shopper"), "no part of the raw email is in the touch");
    ok(!touch_contains(&t, "555-1234") && !touch_contains(&t, "4045551234"),
       "the raw phone is in no touch field");

    is_int(parse("{\"vid\":\"v1\",\"email\":\"" SHOPPER_HASH "\"}", &t, why, sizeof why), 0,
           "an already hashed email is accepted");
    is_str(t.email_hash, SHOPPER_HASH, "an already hashed email is passed through");
    ok(refused("{\"vid\":\"v1\",\"email\":\"not an email\"}"), "an invalid email is refused");
    ok(refused("{\"vid\":\"v1\",\"phone\":\"12\"}"), "an invalid phone is refused");

    is_int(parse("{\"vid\":\"v1\",\"email\":\"Shopper@Example.com\" ]", &t, why, sizeof why), -1,
           "a malformed body carrying an email is refused");
    ok(strstr(why, "hopper") == NULL && strstr(why, "xample") == NULL,
       "the refusal reason does not quote the email (%s)", why);
}

/* Which country reads a national phone: the browser's (Accept-Language), else the
 * configured collect.phone_country; an international number needs neither. */
static int phone_in(const char *phone, const char *country, const char *fallback, char hash[65])
{
    struct touch t;
    char body[160], why[128];

    snprintf(body, sizeof body, "{\"vid\":\"v1\",\"phone\":\"%s\"}", phone);
    hash[0] = '\0';
    if (collect_parse(body, strlen(body), country, fallback, &t, why, sizeof why) != 0)
        return -1;
    memcpy(hash, t.phone_hash, 65);
    return 0;
}

static void test_phone_country(void)
{
    char got[65], gb[65], nl[65], de[65];

    normalize_hash_phone("+447700900123", NULL, gb);
    normalize_hash_phone("+31612345678", NULL, nl);
    normalize_hash_phone("+4915123456789", NULL, de);
    is_int(phone_in("07700 900123", "", "GB", got), 0,
           "a national phone from a browser naming no country is read in phone_country");
    is_str(got, gb, "... and hashed as the configured country's E.164");
    is_int(phone_in("06 12345678", "US", "NL", got), 0,
           "a number the browser's country cannot read is read in phone_country");
    is_str(got, nl, "... and hashed as the configured country's E.164, not +1");
    is_int(phone_in("0151 23456789", "DE", "GB", got), 0,
           "a number the browser's country reads stays with the browser's country");
    is_str(got, de, "... so a German browser's German number is hashed as +49");
    is_int(phone_in("+44 07700 900123", "US", "NL", got), 0,
           "an international number is accepted whatever the countries");
    is_str(got, gb, "... and hashed as its own country's E.164");
    is_int(phone_in("07700 900123", "", NULL, got), -1,
           "without phone_country a national phone from a browser naming no country is refused");
    is_int(phone_in("06 12345678", "US", "GB", got), -1,
           "a number neither country reads is refused");
}

/* A newsletter link can carry the reader's address; it must not be stored with the url. */
static void test_url_scrubbed(void)
{
    struct touch t;
    char why[128];
    const char *body =
        "{\"vid\":\"v1\",\"url\":\"https://shop.example/p?utm_source=nl&email=Shopper%40Example.com"
        "&ttclid=E.C.P.a#m=shopper@example.com\",\"referrer\":\"https://mail.example/"
        "r?to=shopper@example.com\"}";

    is_int(parse(body, &t, why, sizeof why), 0, "a url with an email in its query is accepted");
    is_str(t.url, "https://shop.example/p?utm_source=nl&email=&ttclid=E.C.P.a#m=",
           "query and fragment values holding an email are dropped, the rest kept");
    is_str(t.referrer, "https://mail.example/r?to=", "the referrer is scrubbed the same way");
    ok(!touch_contains(&t, "shopper@example.com") && !touch_contains(&t, "Shopper%40Example"),
       "the email from the url is in no touch field");
    is_int(parse("{\"vid\":\"v1\",\"url\":\"https://shop.example/a?b=c&d=e#top\"}", &t, why,
                 sizeof why),
           0, "a plain url is accepted");
    is_str(t.url, "https://shop.example/a?b=c&d=e#top", "a url without an email is kept as is");
}

/* Context fields are cut to their buffers, never past a UTF-8 character. */
static void test_bounded_copies(void)
{
    struct touch t;
    char why[128], body[3000], url[1100];
    size_t n = 0;

    /* "https://a.example/" then 'é' (2 bytes) repeated past the 1023-byte url field. */
    n += (size_t)snprintf(url, sizeof url, "https://a.example/");
    while (n + 2 < sizeof url - 1) {
        url[n++] = (char)0xC3;
        url[n++] = (char)0xA9;
    }
    url[n] = '\0';
    snprintf(body, sizeof body, "{\"vid\":\"v1\",\"url\":\"%s\",\"ttclid\":\"%0300d\"}", url, 7);
    is_int(parse(body, &t, why, sizeof why), 0, "long url and ttclid are accepted (%s)", why);
    is_int(strlen(t.ttclid), sizeof t.ttclid - 1, "ttclid cut to its field");
    ok(strlen(t.url) <= sizeof t.url - 1, "url fits its field");
    ok(strlen(t.url) % 2 == 0, "url not cut inside a 2-byte character (len %zu)", strlen(t.url));
    ok(strncmp(t.url, url, strlen(t.url)) == 0, "url keeps its beginning");

    snprintf(body, sizeof body, "{\"vid\":\"v1\",\"event\":\"Purchase\",\"event_id\":\"%0200d\"}",
             1);
    ok(refused(body), "an event_id longer than its field is refused, not cut");
    snprintf(body, sizeof body, "{\"vid\":\"v1\",\"order_id\":\"%0200d\"}", 1);
    ok(refused(body), "an order_id longer than its field is refused, not cut");
}

int main(void)
{
    test_event_touch();
    test_values();
    test_wrong_types();
    test_required_and_names();
    test_depth();
    test_contact_hashed();
    test_phone_country();
    test_url_scrubbed();
    test_bounded_copies();
    return tap_done();
}
