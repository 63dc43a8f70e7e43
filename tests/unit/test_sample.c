/* Sample deliveries (ttrelayctl send-test): each one passes its own source's signature check
 * and parser, and is a test — stored as one, or ignored where the sender's test flag says
 * so and send_tests is off. A sample signed for one source fails another's secret. */
#include "sample.h"
#include "source_test.h"

#include <time.h>

struct sample_case {
    const struct source_ops *ops;
    enum conversion_kind kind;
    int ignored_without_send_tests; /* the sender's own test flag (Shopify, Stripe) */
};

/* The header lookup over a sample's "Name: value" lines. */
static const char *sample_header_get(void *ctx, const char *name)
{
    const struct sample_delivery *d = ctx;
    size_t n = strlen(name);

    for (int i = 0; i < d->nheaders; i++)
        if (strncasecmp(d->headers[i], name, n) == 0 && d->headers[i][n] == ':')
            return d->headers[i] + n + 2;
    return NULL;
}

static enum source_result run(const struct source_cfg *src, const struct sample_delivery *d,
                              time_t now, struct conversion *c, char *why, size_t whylen)
{
    struct webhook_request req = {.body = d->body,
                                  .len = d->len,
                                  .content_type = sample_header_get((void *)d, "Content-Type"),
                                  .header = sample_header_get,
                                  .ctx = (void *)d,
                                  .now = now};
    return test_verify_parse(src, &req, c, why, whylen);
}

static void check_case(const struct sample_case *k)
{
    struct source_cfg src, other;
    struct sample_delivery d, d2;
    struct conversion c;
    char err[256] = "", why[200];
    time_t now = time(NULL);
    enum source_result rc;

    test_source_init(&src, k->ops, "src", "a-secret-of-this-source", k->kind);
    ok(sample_build(&src, now, &d, err, sizeof err) == 0, "%s: sample built %s", k->ops->type, err);
    ok(d.len == strlen(d.body) && d.nheaders >= 2 && d.what[0] && d.test_mark[0],
       "%s: body, headers and descriptions filled in", k->ops->type);
    rc = run(&src, &d, now, &c, why, sizeof why);
    if (k->ignored_without_send_tests) {
        is_int(rc, SOURCE_IGNORED, "%s: the sender's test flag is ignored without send_tests (%s)",
               k->ops->type, why);
        conversion_clear(&c);
        src.send_tests = 1;
        rc = run(&src, &d, now, &c, why, sizeof why);
    }
    is_int(rc, SOURCE_OK, "%s: verified and parsed (%s)", k->ops->type, why);
    ok(c.test == 1, "%s: the conversion is a test", k->ops->type);
    is_str(c.object_id, d.object_id, "%s: the object id is the one reported", k->ops->type);
    is_int(c.kind, k->kind, "%s: kind", k->ops->type);
    is_email_hash(c.email_hash, "send-test@example.com", "%s: the email is read", k->ops->type);
    conversion_clear(&c);

    test_source_init(&other, k->ops, "other", "another-secret", k->kind);
    is_int(run(&other, &d, now, &c, why, sizeof why), SOURCE_UNAUTHORIZED,
           "%s: another source's secret refuses it", k->ops->type);
    conversion_clear(&c);

    ok(sample_build(&src, now, &d2, err, sizeof err) == 0 && strcmp(d.object_id, d2.object_id),
       "%s: two samples never share an object id", k->ops->type);
    sample_clear(&d);
    sample_clear(&d2);
}

int main(void)
{
    static const struct sample_case cases[] = {
        {&source_shopify, KIND_ORDER, 1}, {&source_woocommerce, KIND_ORDER, 0},
        {&source_stripe, KIND_ORDER, 1},  {&source_calendly, KIND_CALL, 0},
        {&source_calcom, KIND_CALL, 0},   {&source_generic, KIND_LEAD, 0},
    };
    struct source_cfg src;
    struct sample_delivery d;
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    test_source_init(&src, &source_shopify, "nosecret", NULL, KIND_ORDER);
    ok(sample_build(&src, time(NULL), &d, err, sizeof err) < 0 && strstr(err, "no secret"),
       "a source without a secret has no sample: %s", err);
    return tap_done();
}
