/* libFuzzer target: the signature checks. Input: [header up to the first '\n'] [body].
 * A fuzzed header never verifies; a correct "t=,v1=" prefix followed by fuzzed items
 * verifies unless the items make the header malformed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "signature.h"

#define SECRET "whsec_fuzz0123456789abcdef"
#define NOW 1752619699L

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* hex of HMAC(SECRET, "<NOW>.<body>") into hex[65]. */
static void mac_now(const char *body, size_t blen, char hex[65])
{
    char prefix[32], *buf;
    unsigned char mac[32];
    int plen = snprintf(prefix, sizeof prefix, "%ld.", NOW);

    buf = malloc((size_t)plen + blen + 1);
    if (!buf)
        abort();
    memcpy(buf, prefix, (size_t)plen);
    memcpy(buf + plen, body, blen);
    hash_hmac_sha256(SECRET, strlen(SECRET), buf, (size_t)plen + blen, mac);
    hash_hex_encode(mac, 32, hex);
    free(buf);
}

/* A header may verify only by carrying the real MAC (the seeds do); none can be forged. */
static int carries_mac(const char *body, size_t blen, const char *header)
{
    char hex[65];

    mac_now(body, blen, hex);
    return strcasestr(header, hex) != NULL;
}

static void check_prefixed(const char *body, size_t blen, const char *header)
{
    char hex[65], *signed_hdr;
    size_t hlen = strlen(header);
    enum signature_result r;

    signed_hdr = malloc(hlen + 100);
    if (!signed_hdr)
        abort();
    mac_now(body, blen, hex);
    snprintf(signed_hdr, hlen + 100, "t=%ld,v1=%s,%s", NOW, hex, header);
    r = signature_check_timestamped(SECRET, body, blen, signed_hdr, NOW, 300);
    if (r != SIG_OK && r != SIG_MALFORMED)
        abort();
    /* The same authentic header a day later is stale, never accepted. */
    r = signature_check_timestamped(SECRET, body, blen, signed_hdr, NOW + 86400, 300);
    if (r == SIG_OK || r == SIG_MISMATCH)
        abort();
    free(signed_hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - (const char *)data) : size;
    size_t blen = nl ? size - hlen - 1 : 0;
    char *header = malloc(hlen + 1), *body = malloc(blen + 1);
    unsigned char raw[64];

    if (!header || !body)
        abort();
    memcpy(header, data, hlen);
    header[hlen] = '\0';
    if (blen)
        memcpy(body, (const char *)data + hlen + 1, blen);
    body[blen] = '\0';

    if (signature_check_timestamped(SECRET, body, blen, header, NOW, 300) == SIG_OK &&
        !carries_mac(body, blen, header))
        abort();
    if (signature_check_base64(SECRET, body, blen, header) ||
        signature_check_hex(SECRET, body, blen, header))
        abort();
    int n = hash_base64_decode(header, hlen, raw, sizeof raw);
    if (n > (int)sizeof raw)
        abort();
    check_prefixed(body, blen, header);
    free(header);
    free(body);
    return 0;
}
