/* Exact money values: decimal strings are kept as text, never through a binary float,
 * so 9.2 is written 9.2. */
#ifndef TTR_MONEY_H
#define TTR_MONEY_H
#include <stddef.h>

/* Canonical decimal text of s ("388.00" -> "388.00", " 9.2" -> "9.2", "1e3" rejected).
 * Accepts [-]digits[.digits]. Returns 0 or -1. */
int money_from_decimal(const char *s, char *out, size_t size);
/* Minor units to decimal text using the currency's exponent (JPY 0, KWD 3, else 2). */
int money_from_minor(long long amount, const char *currency, char *out, size_t size);
/* Number of decimals of an ISO 4217 currency in Stripe's sense (0, 2 or 3). */
int money_currency_exponent(const char *currency);
/* Canonical upper-case currency code into out[4]; returns 0 or -1 when not 3 letters. */
int money_currency(const char *s, char out[4]);
/* 1 when TikTok accepts this (canonical, upper-case) code as an event's currency, else 0.
 * The one table of them is in money.c, with its source. */
int money_tiktok_accepts(const char *code);

#endif
