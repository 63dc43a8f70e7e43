/* libFuzzer target: Cal.com webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_calcom,
    .type = "calcom",
    .kind = KIND_CALL,
    .scheme = SCHEME_HEX,
    .sig_header = "X-Cal-Signature-256",
    .aux_header = NULL,
    .extra = {NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_source_one(&fs, data, size);
    return 0;
}
