/* libFuzzer target: Cal.com webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_calcom,
    .kind = KIND_CALL,
    .scheme = SCHEME_HEX,
    .sig_header = "X-Cal-Signature-256",
};

FUZZ_SOURCE_TARGET(fs)
