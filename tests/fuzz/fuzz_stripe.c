/* libFuzzer target: Stripe webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_stripe,
    .kind = KIND_ORDER,
    .scheme = SCHEME_TIMESTAMPED,
    .sig_header = "Stripe-Signature",
};

FUZZ_SOURCE_TARGET(fs)
