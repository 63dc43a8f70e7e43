/* libFuzzer target: the /collect body parser. Input: [2 bytes: Accept-Language country]
 * [body]. Whatever a browser (or anyone) posts, a touch comes out with hashed match keys,
 * terminated valid-UTF-8 fields, and no email left in its URLs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "conversion.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char country[3], why[160];
    char *body;
    struct touch t;

    if (size < 2)
        return 0;
    country[0] = (char)data[0];
    country[1] = (char)data[1];
    country[2] = '\0';
    size -= 2;
    body = malloc(size + 1);
    if (!body)
        abort();
    memcpy(body, data + 2, size);
    body[size] = '\0';
    if (collect_parse(body, size, country, "GB", &t, why, sizeof why) == 0) {
        fuzz_check_hash(t.email_hash);
        fuzz_check_hash(t.phone_hash);
        FUZZ_CHECK_FIELD(t.vid);
        FUZZ_CHECK_FIELD(t.event);
        FUZZ_CHECK_FIELD(t.event_id);
        FUZZ_CHECK_FIELD(t.order_id);
        FUZZ_CHECK_FIELD(t.ttclid);
        FUZZ_CHECK_FIELD(t.ttp);
        FUZZ_CHECK_FIELD(t.url);
        FUZZ_CHECK_FIELD(t.referrer);
        FUZZ_CHECK_FIELD(t.value);
        FUZZ_CHECK_FIELD(t.currency);
        if (!t.vid[0])
            abort();
        fuzz_check_scrubbed(t.url);
        fuzz_check_scrubbed(t.referrer);
    } else if (!memchr(why, '\0', sizeof why)) {
        abort();
    }
    free(body);
    return 0;
}
