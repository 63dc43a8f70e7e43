/* Strict ISO 8601 / RFC 3339 date-time parsing for webhook timestamps
 * ("2021-12-31T19:00:00-05:00", "…Z", fractional seconds, "+0000"). */
#ifndef TTR_TIMEPARSE_H
#define TTR_TIMEPARSE_H

/* Parses "YYYY-MM-DD[T| ]hh:mm[:ss[.fraction]][Z|±hh[:]mm|±hh]" into unix seconds
 * (fraction dropped). A time without an offset is taken as UTC, which is what
 * WooCommerce's *_gmt fields mean. Returns 0, or -1 when s is not such a time. */
int time_parse_iso8601(const char *s, long long *out);

#endif
