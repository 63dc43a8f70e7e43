/* The table of source types and the verify-then-parse sequence every webhook goes through. */
#include <string.h>

#include "config.h"
#include "source.h"

static const struct source_ops *const source_all[] = {
    &source_shopify, &source_woocommerce, &source_stripe,
    &source_calendly, &source_calcom, &source_generic,
};

const struct source_ops *source_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof source_all / sizeof source_all[0]; i++)
        if (strcmp(source_all[i]->type, type) == 0)
            return source_all[i];
    return NULL;
}

/* out is cleared here; it is left holding a conversion (the caller's to conversion_clear)
 * only on SOURCE_OK, and is empty after any other result. */
enum source_result source_handle(const struct source_cfg *src, const struct webhook_request *req,
                                 struct conversion *out, char *why, size_t whylen)
{
    const struct source_ops *ops = src->ops ? src->ops : source_find(src->type);
    enum source_result rc;

    memset(out, 0, sizeof *out);
    if (why && whylen)
        why[0] = '\0';
    STR_SET(out->source_id, src->id);
    out->kind = src->kind;
    if (!ops) {
        if (why && whylen)
            str_copy(why, whylen, "unknown source type");
        return SOURCE_BAD_REQUEST;
    }
    rc = ops->verify(src, req, why, whylen);
    if (rc == SOURCE_OK)
        rc = ops->parse(src, req, out, why, whylen);
    if (rc != SOURCE_OK)
        conversion_clear(out);
    return rc;
}
