/* The /collect body: one capture from the browser script, turned into a touch.
 * Raw email/phone are hashed here and never leave this function. */
#ifndef TTR_COLLECT_H
#define TTR_COLLECT_H
#include <stddef.h>
#include "conversion.h"

/* Parses a JSON object with the fields of DESIGN.md (vid, event, event_id, ttclid, ttp,
 * url, referrer, email, phone, order_id, value, currency, ts). A national phone number is
 * read in country (the browser's, may be NULL), else in fallback_country (the configured
 * collect.phone_country, may be NULL). ip/user_agent/ts are left for the caller.
 * Returns 0, or -1 with a short reason in why (the caller answers 400). */
int collect_parse(const char *body, size_t len, const char *country, const char *fallback_country,
                  struct touch *out, char *why, size_t whylen);

#endif
