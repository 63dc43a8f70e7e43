/* The driver shared by the webhook-source fuzz targets: one fuzz input becomes a webhook
 * request (body, headers, content type) pushed through source_handle exactly as the HTTP
 * layer does, once with a signature computed over the fuzzed body so that the parser is
 * reached, and once with the fuzzed bytes as the signature.
 *
 * Input layout: [mode byte] [header text up to the first '\n'] [body: everything after].
 * Mode bits:
 *   0    1: sign the body correctly (the header text rides along in another header);
 *        0: the header text is the signature header itself
 *   1-2  content type: application/json, form-urlencoded, absent, text/plain
 *   3    send_tests
 *   4    timestamped schemes: sign with a timestamp 400 s old (authentic but stale)
 *   5    Shopify: the unprefixed "Shopify-" header names; generic: bearer instead of HMAC
 *   6-7  generic: the source's default kind (order, call, lead) */
#ifndef TTR_FUZZ_SOURCE_H
#define TTR_FUZZ_SOURCE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz_check.h"
#include "conversion.h"
#include "hash.h"
#include "source.h"

#define FUZZ_SECRET "fuzz-secret-7c1e2a94d0b35f68"
#define FUZZ_NOW 1752619699L
#define FUZZ_MAX_HEADERS 12

enum fuzz_scheme { SCHEME_BASE64, SCHEME_HEX, SCHEME_TIMESTAMPED, SCHEME_GENERIC };

struct fuzz_source {
    const struct source_ops *ops;
    enum conversion_kind kind;
    enum fuzz_scheme scheme;
    const char *sig_header; /* where the signature goes */
    const char *aux_header; /* gets the fuzzed header text when the signature is correct */
    const char *extra[6];   /* fixed name, value pairs, NULL-terminated */
};

struct fuzz_headers {
    const char *name[FUZZ_MAX_HEADERS];
    const char *value[FUZZ_MAX_HEADERS];
    int n;
};

static const char *fuzz_header_get(void *ctx, const char *name)
{
    struct fuzz_headers *h = ctx;

    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

static void fuzz_header_add(struct fuzz_headers *h, const char *name, const char *value)
{
    if (h->n < FUZZ_MAX_HEADERS && name && value) {
        h->name[h->n] = name;
        h->value[h->n] = value;
        h->n++;
    }
}

/* "Shopify-Foo" for "X-Shopify-Foo" when the unprefixed spelling is chosen. */
static const char *fuzz_name(const char *name, int unprefixed)
{
    return unprefixed && strncasecmp(name, "X-Shopify-", 10) == 0 ? name + 2 : name;
}

/* The signature value over body for the source's scheme into out. */
static void fuzz_sign(const struct fuzz_source *fs, const char *body, size_t len, long t,
                      const char *tail, char *out, size_t size)
{
    unsigned char mac[32];
    char hex[65];

    if (fs->scheme == SCHEME_TIMESTAMPED || fs->scheme == SCHEME_GENERIC) {
        char prefix[32];
        int plen = snprintf(prefix, sizeof prefix, "%ld.", t);
        char *buf = malloc((size_t)plen + len + 1);
        if (!buf)
            abort();
        memcpy(buf, prefix, (size_t)plen);
        memcpy(buf + plen, body, len);
        hash_hmac_sha256(FUZZ_SECRET, strlen(FUZZ_SECRET), buf, (size_t)plen + len, mac);
        free(buf);
        hash_hex_encode(mac, 32, hex);
        /* The fuzzed text is appended as more items, so the header parser sees it too. */
        snprintf(out, size, "t=%ld,v1=%s%s%s", t, hex, tail && *tail ? "," : "", tail ? tail : "");
        return;
    }
    hash_hmac_sha256(FUZZ_SECRET, strlen(FUZZ_SECRET), body, len, mac);
    if (fs->scheme == SCHEME_HEX) {
        hash_hex_encode(mac, 32, hex);
        snprintf(out, size, "%s", hex);
    } else if (hash_base64_encode(mac, 32, out, size) < 0) {
        abort();
    }
}

/* A raw email or phone must never leave a source: every hash field is "" or 64 hex. */
static void fuzz_check_hashes(const struct conversion *c)
{
    const char *h[] = {c->email_hash, c->phone_hash, c->external_id_hash};

    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (h[i][0] && !hash_is_sha256_hex(h[i]))
            abort();
}

/* A forged signature must never pass: only a ping, or a refusal. Bearer tokens are the
 * exception only if the fuzzer typed the secret itself, which the check allows. */
static void fuzz_check_forged(const struct fuzz_source *fs, enum source_result rc,
                              const char *header)
{
    if (rc == SOURCE_UNAUTHORIZED || rc == SOURCE_PING)
        return;
    if (fs->scheme == SCHEME_GENERIC && strstr(header, FUZZ_SECRET))
        return;
    abort();
}

static void fuzz_source_one(const struct fuzz_source *fs, const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                        NULL, "text/plain"};
    const char *nl;
    char *header = NULL, *body = NULL, sig[512];
    size_t hlen, blen;
    unsigned mode;
    struct source_cfg src;
    struct fuzz_headers h = {0};
    struct conversion c;
    char why[200];
    enum source_result rc;

    if (size < 1)
        return;
    mode = data[0];
    data++;
    size--;
    nl = memchr(data, '\n', size);
    hlen = nl ? (size_t)(nl - (const char *)data) : size;
    blen = nl ? size - hlen - 1 : 0;
    if (hlen > 300)
        return;
    /* Exactly sized copies, NUL-terminated as the HTTP layer hands them over, so that
     * any read past the end trips AddressSanitizer. */
    header = malloc(hlen + 1);
    body = malloc(blen + 1);
    if (!header || !body)
        abort();
    memcpy(header, data, hlen);
    header[hlen] = '\0';
    if (blen)
        memcpy(body, (const char *)data + hlen + 1, blen);
    body[blen] = '\0';

    memset(&src, 0, sizeof src);
    snprintf(src.id, sizeof src.id, "fuzz");
    snprintf(src.type, sizeof src.type, "%s", fs->ops->type);
    snprintf(src.pixel, sizeof src.pixel, "CFUZZPIXEL0000000001");
    src.ops = fs->ops;
    src.secret = FUZZ_SECRET;
    src.kind =
        fs->scheme == SCHEME_GENERIC ? (enum conversion_kind)((mode >> 6) % KIND_COUNT) : fs->kind;
    src.send_tests = (mode >> 3) & 1;

    const int signed_ok = mode & 1, unprefixed = (mode >> 5) & 1;
    const long t = FUZZ_NOW - ((mode >> 4) & 1 ? 400 : 0);
    const char *ct = types[(mode >> 1) & 3];
    char bearer[64];

    fuzz_header_add(&h, "Content-Type", ct);
    for (int i = 0; fs->extra[i]; i += 2)
        fuzz_header_add(&h, fuzz_name(fs->extra[i], unprefixed), fs->extra[i + 1]);
    if (signed_ok) {
        if (fs->scheme == SCHEME_GENERIC && unprefixed) {
            snprintf(bearer, sizeof bearer, "Bearer %s", FUZZ_SECRET);
            fuzz_header_add(&h, "Authorization", bearer);
        } else {
            fuzz_sign(fs, body, blen, t, fs->aux_header ? NULL : header, sig, sizeof sig);
            fuzz_header_add(&h, fuzz_name(fs->sig_header, unprefixed), sig);
        }
        if (fs->aux_header)
            fuzz_header_add(&h, fuzz_name(fs->aux_header, unprefixed), header);
    } else if (fs->scheme == SCHEME_GENERIC && unprefixed) {
        fuzz_header_add(&h, "Authorization", header);
    } else {
        fuzz_header_add(&h, fuzz_name(fs->sig_header, unprefixed), header);
    }

    struct webhook_request req = {.body = body,
                                  .len = blen,
                                  .content_type = ct,
                                  .header = fuzz_header_get,
                                  .ctx = &h,
                                  .now = FUZZ_NOW};
    rc = source_handle(&src, &req, &c, why, sizeof why);
    if (memchr(why, '\0', sizeof why) == NULL)
        abort();
    if (!signed_ok)
        fuzz_check_forged(fs, rc, header);
    if (rc == SOURCE_OK) {
        fuzz_check_hashes(&c);
        fuzz_check_scrubbed(c.url);
        fuzz_check_scrubbed(c.referrer);
        if (!c.object_id[0])
            abort();
        /* What is stored must read back: the store keeps exactly this JSON. */
        char *json = conversion_to_json(&c);
        struct conversion back;
        if (!json || conversion_from_json(json, &back) != 0)
            abort();
        if (strcmp(back.object_id, c.object_id) != 0 || strcmp(back.email_hash, c.email_hash) != 0)
            abort();
        conversion_clear(&back);
        free(json);
    }
    conversion_clear(&c);
    free(header);
    free(body);
}

/* Defines the libFuzzer entry point of a source target: every input through fuzz_source_one
 * with the target's struct fuzz_source fs. */
#define FUZZ_SOURCE_TARGET(fs)                                                                     \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        fuzz_source_one(&(fs), data, size);                                                        \
        return 0;                                                                                  \
    }

#endif
