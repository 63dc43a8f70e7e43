/* libFuzzer target: Shopify webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_shopify,
    .kind = KIND_ORDER,
    .scheme = SCHEME_BASE64,
    .sig_header = "X-Shopify-Hmac-Sha256",
    .aux_header = "X-Shopify-Topic",
    .extra = {"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
              "X-Shopify-Shop-Domain", "ttr-fuzz.myshopify.com", NULL},
};

FUZZ_SOURCE_TARGET(fs)
