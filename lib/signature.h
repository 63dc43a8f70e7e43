/* Webhook signature checks shared by the sources. All comparisons are constant time. */
#ifndef TTR_SIGNATURE_H
#define TTR_SIGNATURE_H
#include <stddef.h>
#include <time.h>

/* header == base64(HMAC-SHA256(secret, body)) (Shopify, WooCommerce). 1 when valid. */
int signature_check_base64(const char *secret, const char *body, size_t len, const char *header);
/* header == hex(HMAC-SHA256(secret, body)) (Cal.com). 1 when valid. */
int signature_check_hex(const char *secret, const char *body, size_t len, const char *header);

enum signature_result { SIG_OK, SIG_MISSING, SIG_MALFORMED, SIG_MISMATCH, SIG_STALE };
/* Stripe-style "t=<unix>,v1=<hex>[,v1=<hex>…]" over "<t>.<body>": any v1 may match;
 * refused when |now - t| > tolerance_s (Stripe, Calendly, generic). */
enum signature_result signature_check_timestamped(const char *secret, const char *body, size_t len,
                                                  const char *header, time_t now, long tolerance_s);

/* The sender's side of the same schemes, for ttrelayctl send-test: out receives the header
 * value. Each returns 0, or -1 when out is too small. */
int signature_sign_base64(const char *secret, const char *body, size_t len, char *out,
                          size_t outlen);
int signature_sign_hex(const char *secret, const char *body, size_t len, char *out, size_t outlen);
/* "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" */
int signature_sign_timestamped(const char *secret, const char *body, size_t len, time_t t,
                               char *out, size_t outlen);

#endif
