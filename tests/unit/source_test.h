/* What every webhook source test needs: a fake header table, the signatures each sender
 * computes, fixtures, request and source set-up, and the checks on a mapped conversion. */
#ifndef TTR_SOURCE_TEST_H
#define TTR_SOURCE_TEST_H
#include "tap.h"

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "normalize.h"
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TEST_MAX_HEADERS 8

/* A request's headers as name/value pairs (borrowed), looked up case-insensitively. */
struct test_headers {
    const char *name[TEST_MAX_HEADERS];
    const char *value[TEST_MAX_HEADERS];
    int n;
};

/* The webhook_request header callback over a struct test_headers. */
static inline const char *test_header_get(void *ctx, const char *name)
{
    struct test_headers *h = ctx;

    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

/* Appends a header; name and value are borrowed and must outlive the request. */
static inline void test_header_add(struct test_headers *h, const char *name, const char *value)
{
    if (h->n >= TEST_MAX_HEADERS) {
        printf("Bail out! more than %d headers\n", TEST_MAX_HEADERS);
        exit(1);
    }
    h->name[h->n] = name;
    h->value[h->n] = value;
    h->n++;
}

/* base64(HMAC-SHA256(secret, body)), as Shopify and WooCommerce sign. */
static inline void test_sign_base64(const char *secret, const char *body, char out[64])
{
    unsigned char mac[32];

    hash_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
    hash_base64_encode(mac, sizeof mac, out, 64);
}

/* hex(HMAC-SHA256(secret, body)), as Cal.com's sendPayload computes it. */
static inline void test_sign_hex(const char *secret, const char *body, char out[65])
{
    unsigned char mac[32];

    hash_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
    hash_hex_encode(mac, sizeof mac, out);
}

/* hex(HMAC-SHA256(secret, "<t>.<body>")): one v1 value of a timestamped header. */
static inline void test_sign_v1(const char *secret, long long t, const char *body, char out[65])
{
    size_t len = strlen(body);
    char *buf = malloc(len + 32);
    unsigned char mac[32];
    int n;

    if (!buf)
        abort();
    n = snprintf(buf, 32, "%lld.", t);
    memcpy(buf + n, body, len);
    hash_hmac_sha256(secret, strlen(secret), buf, (size_t)n + len, mac);
    hash_hex_encode(mac, sizeof mac, out);
    free(buf);
}

/* "t=<t>,v1=<hex>": a whole Stripe, Calendly or generic X-Ttrelay signature header. */
static inline void test_sign_timestamped(const char *secret, long long t, const char *body,
                                         char *out, size_t size)
{
    char hex[65];

    test_sign_v1(secret, t, body, hex);
    snprintf(out, size, "t=%lld,v1=%s", t, hex);
}

/* A fixture's text (new, the caller frees; NULL when missing), checked as one test to be
 * longer than min_len bytes. */
static inline char *test_fixture(const char *name, size_t min_len)
{
    size_t len = 0;
    char *body = tap_fixture(name, &len);

    ok(body != NULL && len > min_len, "fixture %s loads", name);
    return body;
}

/* New copy of s with every occurrence of from replaced by to; NULL when from is absent. */
static inline char *test_replace(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    const char *p;
    char *out, *w;

    for (p = strstr(s, from); p; p = strstr(p + fl, from))
        count++;
    if (!count)
        return NULL;
    out = malloc(strlen(s) + count * tl + 1);
    if (!out)
        abort();
    w = out;
    for (p = s;;) {
        const char *hit = strstr(p, from);
        if (!hit)
            break;
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, to, tl);
        w += tl;
        p = hit + fl;
    }
    strcpy(w, p);
    return out;
}

/* A request carrying body (borrowed) with the headers in h, received at now. */
static inline void test_request_init(struct webhook_request *req, struct test_headers *h,
                                     const char *body, const char *content_type, long long now)
{
    memset(req, 0, sizeof *req);
    req->body = body;
    req->len = strlen(body);
    req->content_type = content_type;
    req->header = test_header_get;
    req->ctx = h;
    req->now = (time_t)now;
}

/* A source of ops' type keyed with secret (borrowed: sources only read it). */
static inline void test_source_init(struct source_cfg *src, const struct source_ops *ops,
                                    const char *id, const char *secret, enum conversion_kind kind)
{
    memset(src, 0, sizeof *src);
    STR_SET(src->id, id);
    STR_SET(src->type, ops->type);
    src->ops = ops;
    src->secret = (char *)secret;
    src->kind = kind;
}

/* The source's verify then parse, without source_handle's text checks; out starts empty
 * but for the source's default kind, as source_handle presets it. */
static inline enum source_result test_verify_parse(const struct source_cfg *src,
                                                   const struct webhook_request *req,
                                                   struct conversion *out, char *why, size_t whylen)
{
    enum source_result rc;

    memset(out, 0, sizeof *out);
    out->kind = src->kind;
    why[0] = '\0';
    rc = src->ops->verify(src, req, why, whylen);
    if (rc == SOURCE_OK)
        rc = src->ops->parse(src, req, out, why, whylen);
    return rc;
}

/* 1 when ref is one of c's match references. */
static inline int test_has_ref(const struct conversion *c, const char *ref)
{
    for (int i = 0; i < c->nrefs; i++)
        if (strcmp(c->refs[i], ref) == 0)
            return 1;
    return 0;
}

/* got is the SHA-256 hex of the text plain, taken as already normalized. */
#define is_sha(got, plain, ...)                                                                    \
    do {                                                                                           \
        char sha_[65];                                                                             \
        hash_sha256_hex((plain), strlen(plain), sha_);                                             \
        is_str((got), sha_, __VA_ARGS__);                                                          \
    } while (0)

/* got is the hash normalize gives email. */
#define is_email_hash(got, email, ...)                                                             \
    do {                                                                                           \
        char eh_[65];                                                                              \
        normalize_hash_email((email), eh_);                                                        \
        is_str((got), eh_, __VA_ARGS__);                                                           \
    } while (0)

/* got is the hash normalize gives the international number e164. */
#define is_phone_hash(got, e164, ...)                                                              \
    do {                                                                                           \
        char ph_[65];                                                                              \
        normalize_hash_phone((e164), NULL, ph_);                                                   \
        is_str((got), ph_, __VA_ARGS__);                                                           \
    } while (0)

/* got is the hash normalize gives the external id. */
#define is_external_id_hash(got, id, ...)                                                          \
    do {                                                                                           \
        char xh_[65];                                                                              \
        normalize_hash_external_id((id), xh_);                                                     \
        is_str((got), xh_, __VA_ARGS__);                                                           \
    } while (0)

/* Sends body through run (the test file's usual request) with its string member
 * "key":"from" rewritten to "key":"to", and checks the result is want. */
static inline void test_check_member(enum source_result (*run)(const char *body,
                                                               struct conversion *out, char *why),
                                     const char *body, const char *key, const char *from,
                                     const char *to, enum source_result want)
{
    char was[96], now[96], why[128], *b;
    struct conversion out;

    snprintf(was, sizeof was, "\"%s\":\"%s\"", key, from);
    snprintf(now, sizeof now, "\"%s\":\"%s\"", key, to);
    b = test_replace(body, was, now);
    /* A body the rewrite missed fails the check rather than crashing the test. */
    is_int(b ? (int)run(b, &out, why) : -1, want, "%s %s", key, to);
    if (b)
        conversion_clear(&out);
    free(b);
}

/* Sends body through run (the test file's usual request), body being an order fixture whose
 * phone "(404) 555-0123" is national in the US, with national and country (under
 * country_key) swapped in, and checks that the phone hashes as e164. */
static inline void test_check_national_phone(
    enum source_result (*run)(const char *body, struct conversion *out, char *why),
    const char *body, const char *country_key, const char *national, const char *country,
    const char *e164)
{
    char phone[64], us[32], cc[32], why[128];
    char *b1, *b2;
    struct conversion out;

    snprintf(phone, sizeof phone, "\"phone\":\"%s\"", national);
    snprintf(us, sizeof us, "\"%s\":\"US\"", country_key);
    snprintf(cc, sizeof cc, "\"%s\":\"%s\"", country_key, country);
    b1 = test_replace(body, "\"phone\":\"(404) 555-0123\"", phone);
    b2 = b1 ? test_replace(b1, us, cc) : NULL;
    ok(b2 != NULL, "order with a %s phone built", country);
    if (!b2)
        goto out;
    is_int(run(b2, &out, why), SOURCE_OK, "order with %s phone accepted", country);
    is_phone_hash(out.phone_hash, e164, "%s national %s hashed as %s", country, national, e164);
    conversion_clear(&out);
out:
    free(b1);
    free(b2);
}

#endif
