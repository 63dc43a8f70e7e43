/* Money stays decimal text: what the sender wrote (or the minor units it sent) is what
 * TikTok receives, with no binary float in between. */
#include "money.h"
#include "tap.h"

static void decimal_is(const char *in, const char *want)
{
    char out[64];
    int rc = money_from_decimal(in, out, sizeof out);

    if (want) {
        is_int(rc, 0, "decimal '%s' accepted", in);
        is_str(out, want, "decimal '%s' kept exactly", in);
    } else {
        is_int(rc, -1, "decimal '%s' refused", in ? in : "(null)");
        is_str(out, "", "refused decimal leaves out empty");
    }
}

static void test_decimal(void)
{
    char small[5];

    decimal_is("9.2", "9.2");
    decimal_is("388.00", "388.00");
    decimal_is("0.00", "0.00");
    decimal_is("123456789012.34", "123456789012.34");
    decimal_is(" 9.2 ", "9.2");
    decimal_is("+15.50", "15.50");
    decimal_is("-15.50", "-15.50");
    decimal_is("-0.00", "0.00");
    decimal_is("007.5", "7.5");
    decimal_is("5000", "5000");
    decimal_is("999999999999999999.99", "999999999999999999.99");
    decimal_is("1000000000000000000", NULL); /* 19 integer digits */
    decimal_is("1e3", NULL);
    decimal_is("9.2E0", NULL);
    decimal_is("NaN", NULL);
    decimal_is("inf", NULL);
    decimal_is("", NULL);
    decimal_is("  ", NULL);
    decimal_is(NULL, NULL);
    decimal_is("1.2.3", NULL);
    decimal_is("1,234.56", NULL);
    decimal_is(".5", NULL);
    decimal_is("5.", NULL);
    decimal_is("-", NULL);
    decimal_is("12 34", NULL);
    decimal_is("0x10", NULL);
    is_int(money_from_decimal("388.00", small, sizeof small), -1,
           "a value longer than the buffer is refused, not truncated");
}

static void minor_is(long long amount, const char *currency, const char *want)
{
    char out[64];
    int rc = money_from_minor(amount, currency, out, sizeof out);

    if (want) {
        is_int(rc, 0, "%lld %s accepted", amount, currency);
        is_str(out, want, "%lld minor units of %s", amount, currency);
    } else {
        is_int(rc, -1, "%lld %s refused", amount, currency ? currency : "(null)");
    }
}

static void test_minor(void)
{
    minor_is(2500, "USD", "25.00");
    minor_is(920, "usd", "9.20");
    minor_is(5, "EUR", "0.05");
    minor_is(0, "GBP", "0.00");
    minor_is(-2500, "USD", "-25.00");
    minor_is(-5, "USD", "-0.05");
    minor_is(5000, "JPY", "5000");
    minor_is(5000, "jpy", "5000");
    minor_is(1200000, "KRW", "1200000");
    minor_is(-300, "JPY", "-300");
    minor_is(12345, "KWD", "12.345");
    minor_is(5, "BHD", "0.005");
    minor_is(-12345, "TND", "-12.345");
    minor_is(9223372036854775807LL, "USD", "92233720368547758.07");
    minor_is(-9223372036854775807LL - 1, "USD", "-92233720368547758.08");
    minor_is(100, "US", NULL);
    minor_is(100, "U1D", NULL);
    minor_is(100, NULL, NULL);
}

static void test_currency(void)
{
    char code[4];

    is_int(money_currency_exponent("JPY"), 0, "JPY has no decimals");
    is_int(money_currency_exponent("xof"), 0, "XOF has no decimals, any case");
    is_int(money_currency_exponent("KWD"), 3, "KWD has three decimals");
    is_int(money_currency_exponent("OMR"), 3, "OMR has three decimals");
    is_int(money_currency_exponent("USD"), 2, "USD has two decimals");
    is_int(money_currency_exponent("CHF"), 2, "unlisted currencies have two");
    is_int(money_currency(" usd ", code), 0, "currency trimmed and accepted");
    is_str(code, "USD", "currency upper-cased");
    is_int(money_currency("EURO", code), -1, "four letters refused");
    is_int(money_currency("E1R", code), -1, "a digit refused");
    is_int(money_currency("", code), -1, "empty refused");
    is_str(code, "", "refused currency leaves out empty");
}

/* The one table of currencies TikTok accepts (money.c cites its source). */
static void test_tiktok_currencies(void)
{
    const char *yes[] = {"USD", "EUR", "GBP", "JPY", "AED", "ZAR", "VND", "KWD"};
    const char *no[] = {"XBT", "XAU", "BTC", "HRK", "BGN", "usd", "US", "", "USDT"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ok(money_tiktok_accepts(yes[i]) == 1, "TikTok accepts %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ok(money_tiktok_accepts(no[i]) == 0, "TikTok does not accept \"%s\"", no[i]);
    ok(money_tiktok_accepts(NULL) == 0, "NULL is not a currency");
}

int main(void)
{
    test_tiktok_currencies();
    test_decimal();
    test_minor();
    test_currency();
    return tap_done();
}
