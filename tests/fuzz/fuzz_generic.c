/* libFuzzer target: generic (CRM) webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_generic,
    .type = "generic",
    .kind = KIND_CALL,
    .scheme = SCHEME_GENERIC,
    .sig_header = "X-Ttrelay-Signature",
    .aux_header = "Idempotency-Key",
    .extra = {NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_source_one(&fs, data, size);
    return 0;
}
