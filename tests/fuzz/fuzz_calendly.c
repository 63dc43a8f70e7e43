/* libFuzzer target: Calendly webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_calendly,
    .kind = KIND_CALL,
    .scheme = SCHEME_TIMESTAMPED,
    .sig_header = "Calendly-Webhook-Signature",
};

FUZZ_SOURCE_TARGET(fs)
