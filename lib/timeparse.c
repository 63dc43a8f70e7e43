/* Strict ISO 8601 date-time parsing without the C library's locale- and
 * TZ-dependent calls, so the result never depends on the host's time zone. */
#include "timeparse.h"

#include <stddef.h>

/* Reads exactly n decimal digits; returns 0 or -1. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153LL * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses the offset part; *secs gets the offset east of UTC. Returns 0 or -1. */
static int read_offset(const char *p, long long *secs)
{
    int hh = 0, mm = 0, sign;

    if (*p == '\0') {
        *secs = 0;
        return 0;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *secs = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p == '-' ? -1 : 1;
    p++;
    if (read_digits(&p, 2, &hh) < 0)
        return -1;
    if (*p == ':')
        p++;
    if (*p != '\0' && read_digits(&p, 2, &mm) < 0)
        return -1;
    if (*p != '\0' || hh > 23 || mm > 59)
        return -1;
    *secs = sign * (hh * 3600LL + mm * 60LL);
    return 0;
}

int time_parse_iso8601(const char *s, long long *out)
{
    int y, mo, d, h, mi, sec = 0;
    long long offset;
    const char *p = s;

    if (!s || !out)
        return -1;
    if (read_digits(&p, 4, &y) < 0 || *p++ != '-' || read_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        read_digits(&p, 2, &d) < 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) < 0 || *p++ != ':' || read_digits(&p, 2, &mi) < 0)
        return -1;
    if (*p == ':') {
        p++;
        if (read_digits(&p, 2, &sec) < 0)
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    /* 60 allows a leap second; it lands on the next minute's first second. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (read_offset(p, &offset) < 0)
        return -1;
    *out = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec - offset;
    return 0;
}
