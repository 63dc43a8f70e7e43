/* Helpers the webhook sources share: safe reads of the request and of JSON members, and the
 * mappings several senders spell alike (ids, money, line items, tracking keys, times). */
#ifndef TTR_SOURCE_UTIL_H
#define TTR_SOURCE_UTIL_H
#include <jansson.h>
#include <stddef.h>

#include "conversion.h"
#include "source.h"

/* What may follow the media type: STRICT only blanks before ';' or the end; LOOSE also
 * anything at all once a blank has ended the type (what the order sources always took). */
enum source_media_match { SOURCE_MEDIA_STRICT, SOURCE_MEDIA_LOOSE };

/* The keys a sender's line items use, each list NULL-terminated: the first that holds a
 * value wins. Price and quantity are "price" and "quantity" for every sender. */
struct source_item_keys {
    const char *id[4];
    const char *name[3];
};

/* Writes a printf-style reason into why, when the caller gave room for one. */
void source_util_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A header's value exactly as sent (borrowed), or NULL when absent or there is no lookup. */
const char *source_util_header_raw(const struct webhook_request *req, const char *name);

/* A header's value (borrowed), or NULL when absent or empty. */
const char *source_util_header(const struct webhook_request *req, const char *name);

/* The content type the HTTP layer passed, else the Content-Type header (borrowed, may be NULL). */
const char *source_util_content_type(const struct webhook_request *req);

/* 1 when content_type (may be NULL) names the media type type: case-insensitive, leading
 * blanks and parameters ignored, the tail judged by match. */
int source_util_media_is(const char *content_type, const char *type, enum source_media_match match);

/* The body parsed as a JSON object (new reference), duplicate keys refused; NULL (why says
 * so) when it is anything else. The tree comes from the thread's arena: release it in the
 * thread that loaded it, before the request ends. */
json_t *source_util_load_object(const struct webhook_request *req, char *why, size_t whylen);

/* obj[key] when it is a non-empty string (borrowed), else NULL; obj may be NULL or no object. */
const char *source_util_str(const json_t *obj, const char *key);

/* An id as decimal text: a positive JSON integer (exact, never via double; Shopify ids
 * exceed 2^53) or a non-empty string. Returns 0, or -1 when absent or too long. */
int source_util_id_text(const json_t *v, char *out, size_t size);

/* Copies an identifier only when it fits: a cut id would name something else. 0 or -1. */
int source_util_id_set(char *dst, size_t size, const char *src);

/* The URL-decoded value of key in url's query string into out. Returns 0, or -1 when it is
 * absent, empty, too long or decodes to a NUL. */
int source_util_query_param(const char *url, const char *key, char *out, size_t size);

/* 1 when s (may be NULL) is an absolute http:// or https:// URL. */
int source_util_is_http_url(const char *s);

/* Canonical decimal money text of a JSON number or numeric string into out. A real goes
 * through "%.15g" (the digits a double holds exactly from decimal text) and must read back
 * to the same double. Returns 0, or -1 when v is no such number. */
int source_util_decimal(const json_t *v, char *out, size_t size);

/* value from the decimal text order[total_key] and currency from order.currency; a malformed
 * one is left unknown rather than losing the conversion. */
void source_util_map_total(const json_t *order, const char *total_key, struct conversion *out);

/* New JSON text of TikTok contents[] from a line_items array, or NULL when none maps (or
 * out of memory). Written straight to text, as json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(15)) wrote the objects it once built: content_id, content_name,
 * price (a number, or the number of exact decimal text), quantity. */
char *source_util_contents(const json_t *items, const struct source_item_keys *keys);

/* Maps one tracking key that storefront plugins and ttr.js write (event_id or ttr_event_id,
 * ttr_vid, ttclid, ttp or _ttp) onto its field when the value fits; ttr_test = "1" or "true"
 * marks a test (ttrelayctl send-test, for senders without a test flag of their own).
 * Returns 1 when key is one of them, 0 otherwise. value may be NULL. */
int source_util_map_tracking(const char *key, const char *value, struct conversion *out);

/* Adds obj[key] as a match reference for each key (NULL-terminated) that holds an id. */
void source_util_add_id_refs(struct conversion *out, const json_t *obj, const char *const *keys);
/* The same for guessable references (sequential order numbers). */
void source_util_add_guessable_id_refs(struct conversion *out, const json_t *obj,
                                       const char *const *keys);

/* Makes out a booked call named by payload[key]: its object id and first reference.
 * Returns 0, or -1 (why says so) when that id is missing or too long. */
int source_util_booking_id(const json_t *payload, const char *key, struct conversion *out,
                           char *why, size_t whylen);

/* The first obj[key] (keys NULL-terminated) that is an ISO 8601 time, else fallback. */
long long source_util_event_time(const json_t *obj, const char *const *keys, long long fallback);

#endif
