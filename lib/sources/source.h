/* The webhook source interface: one ops struct per sender type, one file each
 * (shopify.c, woocommerce.c, stripe.c, calendly.c, calcom.c, generic.c). */
#ifndef TTR_SOURCE_H
#define TTR_SOURCE_H
#include <stddef.h>
#include <time.h>
#include "conversion.h"

struct source_cfg;

/* What the HTTP layer hands to a source: the raw body and a header lookup. */
struct webhook_request {
    const char *body; /* raw bytes, NUL-terminated for convenience, len excludes it */
    size_t len;
    const char *content_type; /* may be NULL */
    /* case-insensitive header lookup; NULL when absent */
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
    time_t now;
};

enum source_result {
    SOURCE_OK,           /* conversion filled in: store it */
    SOURCE_IGNORED,      /* valid and authentic, but nothing to send (test, cancelled, …) */
    SOURCE_PING,         /* a sender's set-up ping (WooCommerce): answer 200, store nothing */
    SOURCE_UNAUTHORIZED, /* missing or wrong signature / token: 401 */
    SOURCE_BAD_REQUEST,  /* malformed body: 400 */
    SOURCE_BAD_MEDIA,    /* unsupported content type: 415 */
};

struct source_ops {
    const char *type;
    /* Verifies authenticity over the raw body; SOURCE_OK, SOURCE_PING or SOURCE_UNAUTHORIZED. */
    enum source_result (*verify)(const struct source_cfg *src, const struct webhook_request *req,
                                 char *why, size_t whylen);
    /* Maps an authentic body to a conversion (out is zeroed by the caller; source_id and the
     * source's default kind are preset). why gets a short reason for IGNORED/BAD_REQUEST. */
    enum source_result (*parse)(const struct source_cfg *src, const struct webhook_request *req,
                                struct conversion *out, char *why, size_t whylen);
};

extern const struct source_ops source_shopify;
extern const struct source_ops source_woocommerce;
extern const struct source_ops source_stripe;
extern const struct source_ops source_calendly;
extern const struct source_ops source_calcom;
extern const struct source_ops source_generic;

/* The ops for a type name, or NULL. */
const struct source_ops *source_find(const char *type);

/* verify, then parse. out is cleared first; on SOURCE_OK the caller owns it (conversion_clear). */
enum source_result source_handle(const struct source_cfg *src, const struct webhook_request *req,
                                 struct conversion *out, char *why, size_t whylen);

#endif
