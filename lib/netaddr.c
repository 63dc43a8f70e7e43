/* CIDR ranges and web origins: parsed once at configuration load, compared per request. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

static int parse_ip(const char *text, int *family, unsigned char addr[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) != 1)
        return -1;
    *family = AF_INET6;
    /* ::ffff:10.1.2.3 is what a dual-stack socket reports for an IPv4 peer. */
    if (memcmp(addr, mapped, sizeof mapped) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
    }
    return 0;
}

int netaddr_parse_cidr(const char *text, struct netaddr_cidr *out, char *err, size_t errlen)
{
    char buf[128];
    char *slash, *end;
    int max;

    if (strlen(text) >= sizeof buf) {
        snprintf(err, errlen, "is too long");
        return -1;
    }
    strcpy(buf, text);
    slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (parse_ip(buf, &out->family, out->addr) < 0) {
        snprintf(err, errlen, "\"%s\" is not an IP address or CIDR range (e.g. \"10.0.0.0/8\")",
                 text);
        return -1;
    }
    max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > max) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0 to %d", text, max);
            return -1;
        }
        out->prefix = (int)p;
    }
    for (int bit = out->prefix; bit < max; bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            snprintf(err, errlen, "\"%s\" has host bits set beyond /%d", text, out->prefix);
            return -1;
        }
    return 0;
}

int netaddr_cidr_contains(const struct netaddr_cidr *range, const char *ip)
{
    unsigned char addr[16];
    int family, full, rest;

    if (!ip || parse_ip(ip, &family, addr) < 0 || family != range->family)
        return 0;
    full = range->prefix / 8;
    rest = range->prefix % 8;
    if (memcmp(addr, range->addr, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((addr[full] & mask) != (range->addr[full] & mask))
            return 0;
    }
    return 1;
}

int netaddr_normalize_origin(const char *text, char *out, size_t size, char *err, size_t errlen)
{
    const char *host, *hend, *p;
    char scheme[8];
    long port = 0;
    size_t slen;

    /* "*" allows any origin; "null" is what a sandboxed iframe (Shopify's custom pixel)
     * sends. Both are kept as written. */
    if (strcmp(text, "*") == 0 || strcmp(text, "null") == 0) {
        snprintf(out, size, "%s", text);
        return 0;
    }
    p = strstr(text, "://");
    slen = p ? (size_t)(p - text) : 0;
    if (!p || slen == 0 || slen >= sizeof scheme) {
        snprintf(err, errlen, "\"%s\" is not an origin: write scheme://host[:port]", text);
        return -1;
    }
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)text[i]);
    scheme[slen] = '\0';
    if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
        snprintf(err, errlen, "\"%s\": the scheme must be https or http", text);
        return -1;
    }
    host = p + 3;
    hend = host[0] == '[' ? strchr(host, ']') : host + strcspn(host, ":/?#");
    if (!hend || hend == host) {
        snprintf(err, errlen, "\"%s\" has no host", text);
        return -1;
    }
    if (*hend == ']')
        hend++;
    p = hend;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "\"%s\": the port must be 1 to 65535", text);
            return -1;
        }
        p = end;
    }
    if (*p) {
        /* A browser's Origin header never has a path, not even "/": such an entry would
         * never match, so it is refused rather than silently useless. */
        if (*p == '/' && p[1] == '\0')
            snprintf(err, errlen,
                     "\"%s\" ends with a slash; write \"%.*s\" (an origin has no path)", text,
                     (int)(p - text), text);
        else
            snprintf(err, errlen, "\"%s\" has a path; an origin is scheme://host[:port]", text);
        return -1;
    }
    if ((port == 443 && !strcmp(scheme, "https")) || (port == 80 && !strcmp(scheme, "http")))
        port = 0;
    int n = snprintf(out, size, "%s://", scheme);
    for (const char *c = host; c < hend && (size_t)n + 1 < size; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    out[n < (int)size ? n : (int)size - 1] = '\0';
    if (port)
        snprintf(out + n, size - (size_t)n, ":%ld", port);
    return 0;
}
