/* libFuzzer target: Calendly webhooks through source_handle (signature check and parser). */
#include "fuzz_source.h"

static const struct fuzz_source fs = {
    .ops = &source_calendly,
    .type = "calendly",
    .kind = KIND_CALL,
    .scheme = SCHEME_TIMESTAMPED,
    .sig_header = "Calendly-Webhook-Signature",
    .aux_header = NULL,
    .extra = {NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_source_one(&fs, data, size);
    return 0;
}
