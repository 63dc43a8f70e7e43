/* The listener's share of one webhook without HTTP or the store: verify, parse and
 * serialise each line of a gen_webhooks.py shopify file, so callgrind can count it.
 *   valgrind --tool=callgrind build/bench/ingest_cost FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "conversion.h"
#include "source.h"

struct line_headers {
    const char *sig, *id;
};

static const char *line_header(void *ctx, const char *name)
{
    struct line_headers *h = ctx;

    if (!strcasecmp(name, "X-Shopify-Hmac-Sha256"))
        return h->sig;
    if (!strcasecmp(name, "X-Shopify-Webhook-Id"))
        return h->id;
    if (!strcasecmp(name, "X-Shopify-Topic"))
        return "orders/paid";
    if (!strcasecmp(name, "X-Shopify-Shop-Domain"))
        return "bench-shop.myshopify.com";
    return NULL;
}

int main(int argc, char **argv)
{
    struct source_cfg src = {.id = "shop", .type = "shopify", .secret = "shpss_bench_secret"};
    char *line = NULL, why[200];
    size_t cap = 0;
    ssize_t n;
    int ok = 0, bad = 0;
    FILE *f;

    if (argc != 2 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: ingest_cost FILE (from bench/gen_webhooks.py shopify)\n");
        return 2;
    }
    src.ops = &source_shopify;
    while ((n = getline(&line, &cap, f)) > 0) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        struct conversion c;
        if (!t2)
            continue;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        *t1 = *t2 = '\0';
        struct line_headers h = {line, t1 + 1};
        struct webhook_request req = {.body = t2 + 1,
                                      .len = (size_t)(line + n - (t2 + 1)),
                                      .content_type = "application/json",
                                      .header = line_header,
                                      .ctx = &h,
                                      .now = 1700000000};
        if (source_handle(&src, &req, &c, why, sizeof why) != SOURCE_OK) {
            fprintf(stderr, "refused: %s\n", why);
            bad++;
            continue;
        }
        char *text = conversion_to_json(&c);
        ok += text != NULL;
        free(text);
        conversion_clear(&c);
    }
    free(line);
    fclose(f);
    printf("%d serialised, %d refused\n", ok, bad);
    return bad != 0;
}
