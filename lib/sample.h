/* Sample deliveries for ttrelayctl send-test: a realistic webhook of a source's type, signed
 * with the source's own secret the way its sender signs, and marked as a test. */
#ifndef TTR_SAMPLE_H
#define TTR_SAMPLE_H
#include <stddef.h>
#include <time.h>

struct source_cfg;

#define SAMPLE_MAX_HEADERS 12

struct sample_delivery {
    char *body; /* new, NUL-terminated; len excludes the NUL */
    size_t len;
    char headers[SAMPLE_MAX_HEADERS][640]; /* "Name: value", as sent */
    int nheaders;
    char object_id[160]; /* the sender's object id the conversion is keyed on */
    char what[160];      /* what the payload is, in words: "Shopify orders/paid order …" */
    char test_mark[160]; /* how the payload says it is a test: "\"test\": true", … */
};

/* Builds and signs a delivery for src at time now (ids are random, so no real object is
 * ever named). Returns 0, or -1 with the reason in err. On success the caller owns
 * out->body (sample_clear). */
int sample_build(const struct source_cfg *src, time_t now, struct sample_delivery *out, char *err,
                 size_t errlen);
void sample_clear(struct sample_delivery *d);

#endif
