/* Webhook signature checks: HMAC-SHA256 over the raw body, compared in constant time on
 * the decoded bytes so that case or padding differences never decide a match. */
#include "signature.h"

#include "hash.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest header we look at; real ones are a few hundred bytes. */
#define SIG_HEADER_MAX 4096
#define SIG_MAX_V1 8

/* Decodes exactly 64 hex digits (case-insensitive) from s[0..len) into out[32]. */
static int sig_hex_decode32(const char *s, size_t len, unsigned char out[32])
{
    if (len != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        int hi = hash_hex_value((unsigned char)s[2 * i]);
        int lo = hash_hex_value((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Trims ASCII whitespace from both ends of [*s, *s+*len). */
static void sig_trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int signature_check_base64(const char *secret, const char *body, size_t len, const char *header)
{
    unsigned char want[32], got[64];
    const char *h = header;
    size_t hlen;
    int n;

    if (!secret || !header)
        return 0;
    hlen = strnlen(header, SIG_HEADER_MAX + 1);
    if (hlen > SIG_HEADER_MAX)
        return 0;
    sig_trim(&h, &hlen);
    if (hlen == 0)
        return 0;
    n = hash_base64_decode(h, hlen, got, sizeof got);
    if (n != 32)
        return 0;
    hash_hmac_sha256(secret, strlen(secret), body, body ? len : 0, want);
    return hash_equal(want, got, 32);
}

int signature_check_hex(const char *secret, const char *body, size_t len, const char *header)
{
    unsigned char want[32], got[32];
    const char *h = header;
    size_t hlen;

    if (!secret || !header)
        return 0;
    hlen = strnlen(header, SIG_HEADER_MAX + 1);
    if (hlen > SIG_HEADER_MAX)
        return 0;
    sig_trim(&h, &hlen);
    if (sig_hex_decode32(h, hlen, got) != 0)
        return 0;
    hash_hmac_sha256(secret, strlen(secret), body, body ? len : 0, want);
    return hash_equal(want, got, 32);
}

struct sig_parsed {
    long long t;
    char t_text[24]; /* the digits as sent: they, not a reformatting, are signed */
    int have_t;
    unsigned char v1[SIG_MAX_V1][32];
    int nv1;     /* well-formed v1 values */
    int seen_v1; /* every v1 key, well-formed or not */
};

/* Parses one "key=value" item of a timestamped header. Unknown keys (v0, …) are ignored. */
static int sig_parse_item(const char *item, size_t len, struct sig_parsed *p)
{
    const char *eq = memchr(item, '=', len);
    const char *key = item, *val;
    size_t klen, vlen;

    if (!eq)
        return -1;
    klen = (size_t)(eq - item);
    val = eq + 1;
    vlen = len - klen - 1;
    sig_trim(&key, &klen);
    sig_trim(&val, &vlen);
    if (klen == 1 && key[0] == 't') {
        char *end;
        if (p->have_t || vlen == 0 || vlen >= sizeof p->t_text)
            return -1;
        for (size_t i = 0; i < vlen; i++) {
            if (!isdigit((unsigned char)val[i]))
                return -1;
        }
        memcpy(p->t_text, val, vlen);
        p->t_text[vlen] = '\0';
        errno = 0;
        p->t = strtoll(p->t_text, &end, 10);
        if (errno != 0 || *end != '\0')
            return -1;
        p->have_t = 1;
    } else if (klen == 2 && key[0] == 'v' && key[1] == '1') {
        p->seen_v1++;
        if (p->nv1 < SIG_MAX_V1 && sig_hex_decode32(val, vlen, p->v1[p->nv1]) == 0)
            p->nv1++;
    }
    return 0;
}

static int sig_parse_header(const char *header, struct sig_parsed *p)
{
    const char *s = header;

    memset(p, 0, sizeof *p);
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *item = s;
        size_t ilen = len;
        sig_trim(&item, &ilen);
        if (ilen > 0 && sig_parse_item(item, ilen, p) != 0)
            return -1;
        if (!comma)
            break;
        s = comma + 1;
    }
    return p->have_t && p->seen_v1 > 0 ? 0 : -1;
}

/* The signed payload is "<t>.<body>"; the HMAC is fed in one buffer. */
static int sig_hmac_timestamped(const char *secret, const char *t_text, const char *body,
                                size_t len, unsigned char out[32])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%s.", t_text);
    char *buf;

    if (plen < 0 || (size_t)plen >= sizeof prefix)
        return -1;
    buf = malloc((size_t)plen + len + 1);
    if (!buf)
        return -1;
    memcpy(buf, prefix, (size_t)plen);
    if (len > 0)
        memcpy(buf + plen, body, len);
    hash_hmac_sha256(secret, strlen(secret), buf, (size_t)plen + len, out);
    free(buf);
    return 0;
}

enum signature_result signature_check_timestamped(const char *secret, const char *body, size_t len,
                                                  const char *header, time_t now, long tolerance_s)
{
    struct sig_parsed p;
    unsigned char want[32];
    long long age;
    int match = 0;

    if (!header || !*header)
        return SIG_MISSING;
    if (strnlen(header, SIG_HEADER_MAX + 1) > SIG_HEADER_MAX || sig_parse_header(header, &p) != 0)
        return SIG_MALFORMED;
    if (!secret || sig_hmac_timestamped(secret, p.t_text, body, body ? len : 0, want) != 0)
        return SIG_MISMATCH;
    /* Every candidate is compared so the time taken does not reveal which one matched. */
    for (int i = 0; i < p.nv1; i++)
        match |= hash_equal(want, p.v1[i], 32);
    if (!match)
        return SIG_MISMATCH;
    /* Staleness is judged only on an authentic timestamp, so a forged t cannot probe it. */
    age = (long long)now - p.t;
    if (age < 0)
        age = -age;
    if (tolerance_s >= 0 && age > tolerance_s)
        return SIG_STALE;
    return SIG_OK;
}

int signature_sign_base64(const char *secret, const char *body, size_t len, char *out,
                          size_t outlen)
{
    unsigned char mac[32];

    hash_hmac_sha256(secret, strlen(secret), body, body ? len : 0, mac);
    return hash_base64_encode(mac, sizeof mac, out, outlen) < 0 ? -1 : 0;
}

int signature_sign_hex(const char *secret, const char *body, size_t len, char *out, size_t outlen)
{
    unsigned char mac[32];

    if (outlen < 2 * sizeof mac + 1)
        return -1;
    hash_hmac_sha256(secret, strlen(secret), body, body ? len : 0, mac);
    hash_hex_encode(mac, sizeof mac, out);
    return 0;
}

int signature_sign_timestamped(const char *secret, const char *body, size_t len, time_t t,
                               char *out, size_t outlen)
{
    unsigned char mac[32];
    char t_text[24], hex[2 * sizeof mac + 1];
    int n;

    snprintf(t_text, sizeof t_text, "%lld", (long long)t);
    if (sig_hmac_timestamped(secret, t_text, body, body ? len : 0, mac) != 0)
        return -1;
    hash_hex_encode(mac, sizeof mac, hex);
    n = snprintf(out, outlen, "t=%s,v1=%s", t_text, hex);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
