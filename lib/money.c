/* Exact money values kept as decimal text. Amounts never pass through a double here:
 * the text a sender wrote is the text TikTok receives. */
#include "money.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Up to 18 integer digits keep every value inside a signed 64-bit minor-unit amount. */
#define MONEY_MAX_INT_DIGITS 18
#define MONEY_MAX_FRAC_DIGITS 18

int money_from_decimal(const char *s, char *out, size_t size)
{
    const char *p, *end, *int_start, *frac_start = NULL;
    size_t int_len, frac_len = 0, need, pos = 0;
    int negative = 0, nonzero = 0;

    if (!s || !out || size == 0)
        return -1;
    out[0] = '\0';
    p = s;
    end = s + strnlen(s, 128);
    if (*end != '\0')
        return -1;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    int_start = p;
    while (p < end && isdigit((unsigned char)*p))
        p++;
    int_len = (size_t)(p - int_start);
    if (p < end && *p == '.') {
        frac_start = ++p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        frac_len = (size_t)(p - frac_start);
        if (frac_len == 0 || frac_len > MONEY_MAX_FRAC_DIGITS)
            return -1;
    }
    /* Anything left over (exponent, second dot, letters, inner spaces) is refused. */
    if (p != end || int_len == 0)
        return -1;
    while (int_len > 1 && *int_start == '0') {
        int_start++;
        int_len--;
    }
    if (int_len > MONEY_MAX_INT_DIGITS)
        return -1;
    for (size_t i = 0; i < int_len; i++)
        nonzero |= int_start[i] != '0';
    for (size_t i = 0; i < frac_len; i++)
        nonzero |= frac_start[i] != '0';
    negative = negative && nonzero; /* "-0.00" is "0.00" */
    need = (size_t)negative + int_len + (frac_len ? frac_len + 1 : 0) + 1;
    if (need > size)
        return -1;
    if (negative)
        out[pos++] = '-';
    memcpy(out + pos, int_start, int_len);
    pos += int_len;
    if (frac_len) {
        out[pos++] = '.';
        memcpy(out + pos, frac_start, frac_len);
        pos += frac_len;
    }
    out[pos] = '\0';
    return 0;
}

/* Stripe's zero- and three-decimal currencies; everything else has two decimals. */
static const char *const money_zero_decimal[] = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF",
                                                 "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                                                 "VUV", "XAF", "XOF", "XPF"};
static const char *const money_three_decimal[] = {"BHD", "JOD", "KWD", "OMR", "TND"};

int money_currency_exponent(const char *currency)
{
    if (!currency)
        return 2;
    for (size_t i = 0; i < sizeof money_zero_decimal / sizeof money_zero_decimal[0]; i++) {
        if (strcasecmp(currency, money_zero_decimal[i]) == 0)
            return 0;
    }
    for (size_t i = 0; i < sizeof money_three_decimal / sizeof money_three_decimal[0]; i++) {
        if (strcasecmp(currency, money_three_decimal[i]) == 0)
            return 3;
    }
    return 2;
}

int money_from_minor(long long amount, const char *currency, char *out, size_t size)
{
    char code[4], digits[32];
    unsigned long long mag;
    int exp, n, written;

    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    if (money_currency(currency, code) != 0)
        return -1;
    exp = money_currency_exponent(code);
    /* Negated in unsigned arithmetic so that LLONG_MIN does not overflow. */
    mag = amount < 0 ? 0ULL - (unsigned long long)amount : (unsigned long long)amount;
    /* Zero-padded to exp + 1 digits so that 5 cents is "0.05". */
    n = snprintf(digits, sizeof digits, "%0*llu", exp + 1, mag);
    if (n < 0 || (size_t)n >= sizeof digits)
        return -1;
    if (exp == 0)
        written = snprintf(out, size, "%s%s", amount < 0 ? "-" : "", digits);
    else
        written = snprintf(out, size, "%s%.*s.%s", amount < 0 ? "-" : "", n - exp, digits,
                           digits + n - exp);
    if (written < 0 || (size_t)written >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int money_currency(const char *s, char out[4])
{
    const char *p, *end;

    out[0] = '\0';
    if (!s)
        return -1;
    p = s;
    end = s + strnlen(s, 16);
    if (*end != '\0')
        return -1;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (end - p != 3)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (!isalpha((unsigned char)p[i]) || (unsigned char)p[i] > 0x7f)
            return -1;
        out[i] = (char)toupper((unsigned char)p[i]);
    }
    out[3] = '\0';
    return 0;
}

/* The currencies TikTok accepts for an event's value. Source: TikTok's help centre, "About
 * parameters" (ads.tiktok.com/help/article/about-parameters, the zh page updated April 2025,
 * "TikTok 目前支持的币种"; the en page links the list from the currency parameter), 62 codes.
 * TikTok's own iOS Business SDK (tiktok/tiktok-business-ios-sdk@3cf0fc2,
 * TikTokBusinessSDK/TikTokConstants.m, TTCurrency) lists these plus BGN, IQD, JOD, LBP and
 * TZS: those five are UNCONFIRMED for web events and left out, because an order sent
 * without its value is a smaller loss than one TikTok refuses. Sorted for bsearch. */
static const char money_tiktok_currencies[][4] = {
    "AED", "ARS", "AUD", "BDT", "BHD", "BIF", "BOB", "BRL", "CAD", "CHF", "CLP", "CNY", "COP",
    "CRC", "CZK", "DKK", "DZD", "EGP", "EUR", "GBP", "GTQ", "HKD", "HNL", "HUF", "IDR", "ILS",
    "INR", "ISK", "JPY", "KES", "KHR", "KRW", "KWD", "KZT", "MAD", "MOP", "MXN", "MYR", "NGN",
    "NIO", "NOK", "NZD", "OMR", "PEN", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RUB", "SAR",
    "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "VES", "VND", "ZAR",
};

static int money_code_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int money_tiktok_accepts(const char *code)
{
    if (!code || strlen(code) != 3)
        return 0;
    return bsearch(code, money_tiktok_currencies,
                   sizeof money_tiktok_currencies / sizeof money_tiktok_currencies[0],
                   sizeof money_tiktok_currencies[0], money_code_cmp) != NULL;
}
