/* libFuzzer target: WooCommerce webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_woocommerce,
    .kind = KIND_ORDER,
    .scheme = SCHEME_BASE64,
    .sig_header = "X-WC-Webhook-Signature",
    .aux_header = "X-WC-Webhook-Topic",
    .extra = {"X-WC-Webhook-Delivery-ID", "9b1f0d4c2e7a5b3d", "X-WC-Webhook-Source",
              "https://shop.example/", NULL},
};

FUZZ_SOURCE_TARGET(fs)
