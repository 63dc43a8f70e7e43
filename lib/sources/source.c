/* The table of source types and the verify-then-parse sequence every webhook goes through. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "normalize.h"
#include "source.h"
#include "utf8.h"

static const struct source_ops *const source_all[] = {
    &source_shopify,  &source_woocommerce, &source_stripe,
    &source_calendly, &source_calcom,      &source_generic,
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

/* The delivery id is only logged, unquoted: printable ASCII without spaces or quotes. */
static int source_token_ok(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* Header values and URL-decoded text reach a conversion without jansson's UTF-8 check,
 * and a conversion the store cannot serialise would be answered 503 and resent forever.
 * Context fields that are not clean text are dropped; an identifying one refuses it. */
static enum source_result source_check_text(struct conversion *c, char *why, size_t whylen)
{
    char *context[] = {c->ttclid, c->ttp, c->ip, c->user_agent, c->url, c->referrer};
    const struct {
        const char *name;
        const char *value;
    } ids[] = {{"object id", c->object_id}, {"order id", c->order_id},
               {"event_id", c->event_id},   {"vid", c->vid},
               {"value", c->value},         {"currency", c->currency}};

    /* A landing page from a newsletter link carries the reader's address. */
    normalize_scrub_url(c->url);
    normalize_scrub_url(c->referrer);
    if (!source_token_ok(c->delivery_id))
        c->delivery_id[0] = '\0';
    for (size_t i = 0; i < sizeof context / sizeof context[0]; i++)
        if (!utf8_valid(context[i]))
            context[i][0] = '\0';
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (!utf8_valid(ids[i].value)) {
            if (why && whylen)
                snprintf(why, whylen, "%s is not valid UTF-8", ids[i].name);
            return SOURCE_BAD_REQUEST;
        }
    }
    for (int i = 0; i < c->nrefs && i < CONV_MAX_REFS; i++) {
        if (!utf8_valid(c->refs[i])) {
            if (why && whylen)
                snprintf(why, whylen, "order reference is not valid UTF-8");
            return SOURCE_BAD_REQUEST;
        }
    }
    return SOURCE_OK;
}

/* TikTok refuses an event whose currency is not on its list, and a refused row can fail the
 * whole batch. Such an order is still sent, without value and currency: the conversion
 * counts, its value does not. Said in the log, ttrelay_currency_refused_total and the
 * event's conversion (value_note). */
static void source_check_currency(struct conversion *c)
{
    if (!c->currency[0] || money_tiktok_accepts(c->currency))
        return;
    snprintf(c->value_note, sizeof c->value_note,
             "currency %s is not one TikTok accepts: value %s %s not sent", c->currency,
             c->value[0] ? c->value : "-", c->currency);
    log_warn("currency TikTok does not accept: the event is sent without value and currency",
             "source=%s object=%s currency=%s", c->source_id, c->object_id, c->currency);
    metrics_currency_refused(c->source_id);
    c->value[0] = '\0';
    c->currency[0] = '\0';
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
    if (rc == SOURCE_OK)
        rc = source_check_text(out, why, whylen);
    if (rc == SOURCE_OK)
        source_check_currency(out);
    /* Renewals are detected by each parser from its sender's own fields; the policy is
     * applied here, once for all. */
    if (rc == SOURCE_OK && out->renewal && src->renewals == RENEWALS_IGNORE) {
        if (why && whylen)
            str_copy(why, whylen, "renewal");
        rc = SOURCE_IGNORED;
    }
    if (rc != SOURCE_OK)
        conversion_clear(out);
    return rc;
}
