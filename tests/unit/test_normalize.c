/* Normalization of match keys: the same rules run on webhooks and on /collect, so these
 * outputs are what both sides hash. Expected hashes were computed with Python hashlib. */
#include "hash.h"
#include "normalize.h"
#include "tap.h"

static void email_is(const char *raw, const char *want)
{
    char out[128];
    int rc = normalize_email(raw, out, sizeof out);

    if (want) {
        is_int(rc, 0, "email '%s' accepted", raw);
        is_str(out, want, "email '%s' normalized", raw);
    } else {
        is_int(rc, -1, "email '%s' refused", raw ? raw : "(null)");
        is_str(out, "", "refused email leaves out empty");
    }
}

static void test_email(void)
{
    char small[8], buf[64];

    email_is(" John.Doe@Example.COM ", "john.doe@example.com");
    is_int(normalize_email("\tjane+tag@shop.example\n", buf, sizeof buf), 0,
           "email with tab and newline around it accepted");
    is_str(buf, "jane+tag@shop.example", "tab and newline trimmed");
    email_is("a@b", "a@b");
    email_is("", NULL);
    email_is("   ", NULL);
    email_is(NULL, NULL);
    email_is("john.example.com", NULL);
    email_is("john@@example.com", NULL);
    email_is("a@b@example.com", NULL);
    email_is("@example.com", NULL);
    email_is("john@", NULL);
    email_is("jo hn@example.com", NULL);
    is_int(normalize_email("john@example.com", small, sizeof small), -1,
           "email longer than the buffer is refused, not truncated");
}

static void phone_is(const char *raw, const char *country, const char *want)
{
    char out[32];
    int rc = normalize_phone(raw, country, out, sizeof out);

    if (want) {
        is_int(rc, 0, "phone '%s' (%s) accepted", raw, country ? country : "-");
        is_str(out, want, "phone '%s' (%s) to E.164", raw, country ? country : "-");
    } else {
        is_int(rc, -1, "phone '%s' (%s) refused", raw, country ? country : "-");
        is_str(out, "", "refused phone leaves out empty");
    }
}

/* Each country as its people write a number at home: spaces, dashes, dots, parentheses
 * around the area code, the trunk 0 (or 1 in NANP, 8 in Russia) in front. */
static void test_phone_national(void)
{
    phone_is("07700 900123", "GB", "+447700900123");
    phone_is("020 7946 0958", "GB", "+442079460958");
    phone_is("(020) 7946-0958", "gb", "+442079460958");
    phone_is("0151 23456789", "DE", "+4915123456789");
    phone_is("030 1234567", "DE", "+49301234567");
    phone_is("(030) 123 456 789", "DE", "+4930123456789");
    phone_is("06 12 34 56 78", "FR", "+33612345678");
    phone_is("06.12.34.56.78", "FR", "+33612345678");
    phone_is("(201) 555-0123", "US", "+12015550123");
    phone_is("201.555.0123", "us", "+12015550123");
    phone_is("1-201-555-0123", "US", "+12015550123");
    phone_is("(416) 555-0199", "CA", "+14165550199");
    phone_is("1 613 555 0123", "CA", "+16135550123");
    phone_is("0412 345 678", "AU", "+61412345678");
    phone_is("(02) 9876 5432", "AU", "+61298765432");
    phone_is("098765 43210", "IN", "+919876543210");
    phone_is("98765-43210", "IN", "+919876543210");
    phone_is("(11) 91234-5678", "BR", "+5511912345678");
    phone_is("(011) 91234-5678", "BR", "+5511912345678");
    phone_is("55 1234 5678", "MX", "+525512345678");
    phone_is("044 55 1234 5678", "MX", "+525512345678"); /* the old mobile prefix */
    phone_is("612 34 56 78", "ES", "+34612345678");
    phone_is("912-345-678", "ES", "+34912345678");
    phone_is("06 1234 5678", "IT", "+390612345678"); /* Italy keeps its leading 0 */
    phone_is("333.123.4567", "IT", "+393331234567");
    phone_is("06-12345678", "NL", "+31612345678");
    phone_is("020 123 4567", "NL", "+31201234567");
    phone_is("090-1234-5678", "JP", "+819012345678");
    phone_is("03-1234-5678", "JP", "+81312345678");
    phone_is("082 123 4567", "ZA", "+27821234567");
    phone_is("011 123 4567", "ZA", "+27111234567");
    phone_is("0803 123 4567", "NG", "+2348031234567");
    phone_is("087 123 4567", "IE", "+353871234567");
    phone_is("070-123 45 67", "SE", "+46701234567");
    phone_is("512 345 678", "PL", "+48512345678");
    phone_is("010-1234-5678", "KR", "+821012345678");
    phone_is("8 912 345-67-89", "RU", "+79123456789");
    phone_is("06 30 123 4567", "HU", "+36301234567");
}

/* The same numbers with their country code: "+", "00", another country's international
 * prefix, and the trunk 0 typed after the country code, bare or in brackets. */
static void test_phone_international(void)
{
    phone_is("+44 07700 900123", NULL, "+447700900123");
    phone_is("+44 7700 900123", "US", "+447700900123");
    phone_is("+44 (0)20 7946 0958", "GB", "+442079460958");
    phone_is("0044 20 7946 0958", "DE", "+442079460958");
    phone_is("0044 7700 900123", NULL, "+447700900123");
    phone_is("+44 (0)7700 900123", NULL, "+447700900123");
    phone_is("+49 0151 23456789", NULL, "+4915123456789");
    phone_is("+49 (0)30 123456789", NULL, "+4930123456789");
    phone_is("0049 151 23456789", "FR", "+4915123456789");
    phone_is("+33 (0)6 12 34 56 78", NULL, "+33612345678");
    phone_is("+33 06 12 34 56 78", "", "+33612345678");
    phone_is("+1 (201) 555-0123", "", "+12015550123");
    phone_is("+1-416-555-0199", NULL, "+14165550199");
    phone_is("+61 (0)412 345 678", NULL, "+61412345678");
    phone_is("+91 098765 43210", NULL, "+919876543210");
    phone_is("+55 (11) 91234-5678", NULL, "+5511912345678");
    phone_is("+52 1 55 1234 5678", NULL, "+525512345678"); /* the "1" of old mobiles */
    phone_is("+34 612-345-678", NULL, "+34612345678");
    phone_is("0034 912 345 678", "ES", "+34912345678");
    phone_is("+39 06 1234 5678", NULL, "+390612345678");
    phone_is("+31 (0)6 12345678", NULL, "+31612345678");
    phone_is("+81 (0)90-1234-5678", NULL, "+819012345678");
    phone_is("+27 (0)82 123 4567", NULL, "+27821234567");
    phone_is("+234 0803 123 4567", NULL, "+2348031234567");
    phone_is("+234 803 123 4567", "NG", "+2348031234567");
    phone_is("011 44 7700 900123", "US", "+447700900123");
    phone_is("0011 44 20 7946 0958", "AU", "+442079460958");
    phone_is("010 44 20 7946 0958", "JP", "+442079460958");
    phone_is("+96550001234", NULL, "+96550001234");
}

static void test_phone_invalid(void)
{
    /* Impossible lengths, one digit short or long of each country's numbers. */
    phone_is("07700 90012", "GB", NULL);
    phone_is("07700 9001234", "GB", NULL);
    phone_is("+49 151", NULL, NULL);
    phone_is("+33 6 12 34 56 7", NULL, NULL);
    phone_is("+33 6 12 34 56 789", NULL, NULL);
    phone_is("(201) 555-012", "US", NULL);
    phone_is("+1 201 555 01234", NULL, NULL);
    phone_is("+52 55 1234 567", NULL, NULL);
    phone_is("+34 612 345 67", NULL, NULL);
    phone_is("0803 123 456", "NG", NULL);
    phone_is("+1234567", NULL, NULL);
    phone_is("+1234567890123456", NULL, NULL);
    phone_is("12345", "GB", NULL);
    phone_is("555 1234", "US", NULL); /* dialled locally: no area code */
    /* A national number read in the wrong country, or in none. */
    phone_is("06 12345678", "US", NULL);
    phone_is("07911 123456", NULL, NULL);
    phone_is("07911 123456", "", NULL);
    phone_is("07911 123456", "XX", NULL);
    phone_is("07911 123456", "GBR", NULL);
    /* No such country code; a leading 0 after "+"; not a number at all. */
    phone_is("+999 1234 5678", NULL, NULL);
    phone_is("+0441234567890", NULL, NULL);
    phone_is("555-555-SHIP", "US", NULL);
    phone_is("201 555 0123 ext 7", "US", NULL);
    phone_is("+44 79+11 123456", NULL, NULL);
    phone_is("+", NULL, NULL);
    phone_is("00", "GB", NULL);
    phone_is("", "US", NULL);
    phone_is(NULL, "US", NULL);
}

static void test_phone_buffers(void)
{
    char small[13], fits[14];

    is_int(normalize_phone("+44 7700 900123", NULL, small, sizeof small), -1,
           "E.164 longer than the buffer is refused, not truncated");
    is_str(small, "", "a refused phone leaves a short buffer empty");
    is_int(normalize_phone("+44 7700 900123", NULL, fits, sizeof fits), 0,
           "E.164 that just fits is written");
    is_str(fits, "+447700900123", "E.164 in a buffer of its own size");
}

static void test_hashes(void)
{
    char out[65], want[65];

    is_int(normalize_hash_email("jon@example.com", out), 0, "hash of an email");
    hash_sha256_hex("jon@example.com", strlen("jon@example.com"), want);
    is_str(out, want, "email hash is sha256 of the normalized text");
    is_str(out, "32023064c99bdd80005be565f7bcd3282c55e4981c5a5a63f1d2d84be7af258d",
           "email hash equals Python's sha256 of jon@example.com");
    is_int(normalize_hash_email("  JON@Example.com ", out), 0, "hash of a messy email");
    is_str(out, "32023064c99bdd80005be565f7bcd3282c55e4981c5a5a63f1d2d84be7af258d",
           "messy email hashes like the clean one");
    is_int(normalize_hash_email("32023064C99BDD80005BE565F7BCD3282C55E4981C5A5A63F1D2D84BE7AF258D",
                                out),
           0, "64-hex email accepted");
    is_str(out, "32023064c99bdd80005be565f7bcd3282c55e4981c5a5a63f1d2d84be7af258d",
           "64-hex email is lower-cased and passed through, not re-hashed");
    is_int(normalize_hash_email("not an email", out), -1, "invalid email has no hash");
    is_str(out, "", "invalid email leaves the hash empty");
    is_int(normalize_hash_email("", out), -1, "empty email has no hash");

    is_int(normalize_hash_phone("(404) 555-1234", "US", out), 0, "hash of a US phone");
    is_str(out, "cbe402028396ab36aba067aa94538d53eb026d29e4c9fcc357d966e037ec2e17",
           "phone hash is sha256 of +14045551234");
    is_int(normalize_hash_phone("+44 7911 123456", NULL, out), 0, "hash of a GB phone");
    is_str(out, "20b18ac9de7b3aad174961827d8e451c410af9aedfd1d699927f4b29b81aa1fa",
           "phone hash is sha256 of +447911123456");
    is_int(normalize_hash_phone("cbe402028396ab36aba067aa94538d53eb026d29e4c9fcc357d966e037ec2e17",
                                NULL, out),
           0, "64-hex phone accepted without a country");
    is_str(out, "cbe402028396ab36aba067aa94538d53eb026d29e4c9fcc357d966e037ec2e17",
           "64-hex phone passed through");
    is_int(normalize_hash_phone("07911 123456", "GB", want), 0, "hash of a national GB phone");
    is_str(want, "20b18ac9de7b3aad174961827d8e451c410af9aedfd1d699927f4b29b81aa1fa",
           "national and international forms of one phone hash equal");
    is_int(normalize_hash_phone("+44 07911 123456", NULL, want), 0,
           "hash of a phone with the trunk 0 after +44");
    is_str(want, "20b18ac9de7b3aad174961827d8e451c410af9aedfd1d699927f4b29b81aa1fa",
           "the trunk 0 after +44 does not change the hash");
    is_int(normalize_hash_phone("07911 123456", NULL, out), -1,
           "a national phone without a country has no hash");
    is_str(out, "", "a national phone without a country leaves the hash empty");
    is_int(normalize_hash_phone("555-555-SHIP", "US", out), -1, "vanity phone has no hash");
    is_str(out, "", "vanity phone leaves the hash empty");

    is_int(normalize_hash_external_id("  cust_42 ", out), 0, "hash of an external id");
    is_str(out, "2b1cb0b84296c10ce6cc722d09a874d1f0cc1865615cb94ee50e62354aec017b",
           "external id trimmed then hashed");
    is_int(normalize_hash_external_id("   ", out), -1, "blank external id has no hash");
}

static void scrub_is(const char *in, const char *want, const char *name)
{
    char url[256];
    snprintf(url, sizeof url, "%s", in);
    normalize_scrub_url(url);
    is_str(url, want, "%s", name);
}

static void test_scrub_url_phones(void)
{
    scrub_is("https://shop.example/thanks?phone=%2B14045551234&ok=1",
             "https://shop.example/thanks?phone=&ok=1", "a phone key loses its value");
    scrub_is("https://shop.example/c?text_reminder_number=+1%20404-555-1234&month=2024-06",
             "https://shop.example/c?text_reminder_number=&month=2024-06",
             "Calendly's text_reminder_number loses its value, a month stays");
    scrub_is("https://shop.example/?customer%5Bphone%5D=4045551234",
             "https://shop.example/?customer%5Bphone%5D=", "customer[phone] is a phone key");
    scrub_is("https://shop.example/?c=%2B447700900123#x=(404)%20555-1234",
             "https://shop.example/?c=#x=", "phone-shaped values go under any key");
    scrub_is("https://shop.example/?tel=tel:0044%207700", "https://shop.example/?tel=",
             "tel: values go");
    scrub_is("https://shop.example/call/+14045551234/x", "https://shop.example/call//x",
             "an international number as a path segment goes");
    scrub_is("https://shop.example/p?variant=39543212345678&ts=1700000000&hotel=7&page=2",
             "https://shop.example/p?variant=39543212345678&ts=1700000000&hotel=7&page=2",
             "ids, timestamps and words containing 'tel' stay");
}

int main(void)
{
    test_email();
    test_phone_national();
    test_phone_international();
    test_phone_invalid();
    test_phone_buffers();
    test_hashes();
    test_scrub_url_phones();
    return tap_done();
}
