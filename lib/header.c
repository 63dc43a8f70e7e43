/* Client address, header text and URL decoding for the HTTP layer (see header.h). */
#include "header.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conversion.h"
#include "hash.h"
#include "utf8.h"

/* The longest address text inet_pton reads ("ffff:…:255.255.255.255"). */
#define HEADER_ADDR_MAX 45

/* Canonical text of the address in [s, s+n) (blanks around it ignored) into out, which
 * has room for INET6_ADDRSTRLEN. Returns 0, or -1 when it is not an address. */
static int header_addr(const char *s, size_t n, char *out)
{
    char buf[HEADER_ADDR_MAX + 1];
    struct in6_addr a6;
    struct in_addr a4;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n > HEADER_ADDR_MAX)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return inet_ntop(AF_INET, &a4, out, INET6_ADDRSTRLEN) ? 0 : -1;
    if (inet_pton(AF_INET6, buf, &a6) == 1)
        return inet_ntop(AF_INET6, &a6, out, INET6_ADDRSTRLEN) ? 0 : -1;
    return -1;
}

void header_client_ip(const char *peer, const char *const *values, int n, header_trust_fn trusted,
                      const void *arg, char *out, size_t size)
{
    char hop[INET6_ADDRSTRLEN];

    str_copy(out, size, peer);
    if (!peer || !trusted(arg, peer))
        return;
    /* Whole values, right to left: the hop a trusted proxy appended is at the end, however
     * long the part the client wrote before it. */
    for (int v = n - 1; v >= 0; v--) {
        const char *s = values[v] ? values[v] : "";
        size_t end = strlen(s);
        for (;;) {
            size_t start = end;
            while (start > 0 && s[start - 1] != ',')
                start--;
            if (header_addr(s + start, end - start, hop) < 0)
                return; /* not an address: keep the last one read */
            str_copy(out, size, hop);
            if (!trusted(arg, hop))
                return;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
}

void header_rate_key(const char *ip, char *out, size_t size)
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];

    if (!ip || !strchr(ip, ':') || inet_pton(AF_INET6, ip, &a6) != 1) {
        str_copy(out, size, ip);
        return;
    }
    memset(a6.s6_addr + 8, 0, 8);
    if (!inet_ntop(AF_INET6, &a6, text, sizeof text)) {
        str_copy(out, size, ip);
        return;
    }
    str_copy(out, size, text);
    if (strlen(out) + 4 < size)
        strcat(out, "/64");
}

int header_copy_text(const char *value, char *out, size_t size)
{
    if (!value) {
        str_copy(out, size, "");
        return 0;
    }
    if (!utf8_valid(value) || utf8_has_control(value)) {
        str_copy(out, size, "");
        return -1;
    }
    str_copy(out, size, value);
    return 0;
}

size_t header_unescape(char *s)
{
    char *r = s, *w = s;

    while (*r) {
        int hi, lo;
        if (*r == '%' && (hi = hash_hex_value((unsigned char)r[1])) >= 0 &&
            (lo = hash_hex_value((unsigned char)r[2])) >= 0) {
            unsigned char c = (unsigned char)(hi << 4 | lo);
            if (c >= 0x20 && c != 0x7f) {
                *w++ = (char)c;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}
