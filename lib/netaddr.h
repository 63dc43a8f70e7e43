/* Addresses as a user configures them: CIDR ranges of trusted proxies ("10.0.0.0/8", a
 * bare address is a /32 or /128) and web origins (scheme://host[:port]). */
#ifndef TTR_NETADDR_H
#define TTR_NETADDR_H
#include <stddef.h>

struct netaddr_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

/* Parses "ADDR" or "ADDR/PREFIX". Returns 0, or -1 with the reason in err. */
int netaddr_parse_cidr(const char *text, struct netaddr_cidr *out, char *err, size_t errlen);
/* 1 when ip (textual IPv4 or IPv6; an IPv4-mapped IPv6 counts as IPv4) is in range. */
int netaddr_cidr_contains(const struct netaddr_cidr *range, const char *ip);
/* Writes the canonical origin of text into out: lower-case scheme and host, the default
 * port (80/443) dropped. Returns 0, or -1 with the reason and a hint in err. "*" and
 * "null" stay as they are. */
int netaddr_normalize_origin(const char *text, char *out, size_t size, char *err, size_t errlen);

#endif
