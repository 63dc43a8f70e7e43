/* libFuzzer target: what the HTTP layer takes from request headers and URLs (header.c).
 * Input: NUL-separated pieces [peer][User-Agent][URL][X-Forwarded-For value]...
 * The client address is the peer or a canonical address read from the values; a kept
 * User-Agent is UTF-8 without control bytes and fits; decoding never creates a control
 * byte and never grows the text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "header.h"

#define PIECES_MAX 20

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s is an address in the canonical text inet_ntop writes. */
static int canonical_address(const char *s)
{
    unsigned char a[16];
    char back[INET6_ADDRSTRLEN];
    int af = strchr(s, ':') ? AF_INET6 : AF_INET;

    return inet_pton(af, s, a) == 1 && inet_ntop(af, a, back, sizeof back) && !strcmp(back, s);
}

/* Loopback and 10.0.0.0/8 are the proxies: enough to walk several hops. */
static int trusted(const void *arg, const char *ip)
{
    (void)arg;
    return canonical_address(ip) &&
           (strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0 || strncmp(ip, "10.", 3) == 0);
}

static size_t controls(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (unsigned char)*s < 0x20 || *s == 0x7f;
    return n;
}

static void check_client_ip(const char *peer, const char *const *values, int n)
{
    char ip[64], key[64];

    memset(ip, 'x', sizeof ip);
    header_client_ip(peer, values, n, trusted, NULL, ip, sizeof ip);
    if (!memchr(ip, '\0', sizeof ip))
        abort();
    /* An untrusted peer is the client; otherwise the answer is the peer or a real address. */
    if (!trusted(NULL, peer) && strncmp(ip, peer, strlen(ip)) != 0)
        abort();
    if (trusted(NULL, peer) && strcmp(ip, peer) != 0 && !canonical_address(ip))
        abort();
    header_rate_key(ip, key, sizeof key);
    if (!memchr(key, '\0', sizeof key))
        abort();
}

static void check_text(const char *ua)
{
    char out[512];

    if (header_copy_text(ua, out, sizeof out) == 0) {
        FUZZ_CHECK_FIELD(out);
        if (controls(out) || strlen(out) >= sizeof out)
            abort();
    } else if (out[0]) {
        abort();
    }
}

static void check_unescape(const char *url)
{
    char *copy = strdup(url);
    size_t before, after;

    if (!copy)
        abort();
    before = strlen(copy);
    after = header_unescape(copy);
    if (after != strlen(copy) || after > before || controls(copy) > controls(url))
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    const char *piece[PIECES_MAX];
    int n = 0;

    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    piece[n++] = buf;
    for (size_t i = 0; i < size && n < PIECES_MAX; i++)
        if (buf[i] == '\0')
            piece[n++] = buf + i + 1;
    while (n < 3)
        piece[n++] = "";
    check_client_ip(piece[0], piece + 3, n - 3);
    check_text(piece[1]);
    check_unescape(piece[2]);
    free(buf);
    return 0;
}
