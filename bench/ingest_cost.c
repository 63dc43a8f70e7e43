/* The listener's share of one webhook without HTTP or the store: verify, parse and
 * serialise each line of a gen_webhooks.py shopify file, so callgrind can count it.
 * With STORE, each order is also written to a fresh SQLite store there, one commit per
 * order (group of one), with its delivery row, as ttrelayd writes it: the writer's share.
 *   valgrind --tool=callgrind build/bench/ingest_cost FILE [STORE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "conversion.h"
#include "source.h"
#include "store.h"

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
    struct store *st = NULL;
    FILE *f;

    if (argc < 2 || argc > 3 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: ingest_cost FILE [STORE] (FILE from bench/gen_webhooks.py "
                        "shopify)\n");
        return 2;
    }
    if (argc == 3 && !(st = store_open(argv[2], 0, why, sizeof why))) {
        fprintf(stderr, "store: %s\n", why);
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
        if (st) {
            long long id = 0;
            struct delivery d = {.ts_ms = 1700000000000LL, .status = 200, .conversion_id = 0};
            ok += store_add_conversion(st, &c, "PIXEL", 0, 1700003600000LL, &id) == STORE_OK;
            snprintf(d.source, sizeof d.source, "%s", src.id);
            snprintf(d.result, sizeof d.result, "accepted");
            snprintf(d.delivery_id, sizeof d.delivery_id, "%s", h.id);
            d.conversion_id = id;
            store_submit_delivery(st, &d);
        } else {
            char *text = conversion_to_json(&c);
            ok += text != NULL;
            free(text);
        }
        conversion_clear(&c);
    }
    free(line);
    fclose(f);
    if (st)
        store_close(st);
    printf("%d serialised, %d refused\n", ok, bad);
    return bad != 0;
}
