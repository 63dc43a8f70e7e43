/* libFuzzer target: generic (CRM) webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_generic,
    .kind = KIND_CALL,
    .scheme = SCHEME_GENERIC,
    .sig_header = "X-Ttrelay-Signature",
    .aux_header = "Idempotency-Key",
};

FUZZ_SOURCE_TARGET(fs)
