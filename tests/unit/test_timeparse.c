/* ISO 8601 timestamps as the webhook senders write them, and what must be refused. */
#include "tap.h"

#include "timeparse.h"

static void check(const char *s, long long want)
{
    long long got = -1;

    is_int(time_parse_iso8601(s, &got), 0, "parses %s", s);
    is_int(got, want, "%s is %lld", s, want);
}

static void refuse(const char *s)
{
    long long got = 42;

    is_int(time_parse_iso8601(s, &got), -1, "refuses '%s'", s ? s : "(null)");
    is_int(got, 42, "output untouched for '%s'", s ? s : "(null)");
}

int main(void)
{
    check("2021-12-31T19:00:00-05:00", 1640995200LL); /* Shopify */
    check("2022-01-01T00:00:00Z", 1640995200LL);
    check("2022-01-01T00:00:00z", 1640995200LL);
    check("2023-05-24T09:30:00.538Z", 1684920600LL); /* Cal.com, fraction dropped */
    check("2025-05-10T22:50:34", 1746917434LL);      /* WooCommerce *_gmt: UTC */
    check("2025-05-10 22:50:34", 1746917434LL);
    check("2025-05-11T04:20:34+0530", 1746917434LL);
    check("2025-05-11T04:20:34+05:30", 1746917434LL);
    check("2025-05-11T00:50:34+02", 1746917434LL);
    check("2026-03-15T10:00-04:00", 1773583200LL); /* no seconds */
    check("1970-01-01T00:00:00Z", 0LL);
    check("1969-12-31T23:59:59Z", -1LL);
    check("2024-02-29T12:00:00Z", 1709208000LL); /* leap day */
    check("2100-03-01T00:00:00Z", 4107542400LL);
    refuse(NULL);
    refuse("");
    refuse("2023-02-29T00:00:00Z"); /* not a leap year */
    refuse("2023-13-01T00:00:00Z");
    refuse("2023-01-01T24:00:00Z");
    refuse("2023-01-01T00:60:00Z");
    refuse("2023-01-01");
    refuse("2023-01-01T00:00:00+25:00");
    refuse("2023-01-01T00:00:00Zjunk");
    refuse("2023-01-01T00:00:00.Z");
    refuse("1672531200");
    refuse("23-01-01T00:00:00Z");
    return tap_done();
}
