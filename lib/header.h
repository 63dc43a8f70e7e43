/* What the HTTP layer takes from request headers and URLs, as pure functions so that they
 * can be fuzzed: the browser's address behind trusted proxies, header text a touch keeps,
 * the rate-limit key of an address, and %-decoding that leaves control bytes encoded. */
#ifndef TTR_HEADER_H
#define TTR_HEADER_H
#include <stddef.h>

/* 1 when ip (canonical text) is a trusted proxy. */
typedef int (*header_trust_fn)(const void *arg, const char *ip);

/* The browser's address into out (canonical text): peer itself unless trusted(peer); then
 * the rightmost X-Forwarded-For hop that is not a trusted proxy, reading the n values
 * (borrowed, in the order the headers arrived) whole, right to left. A hop that is not an
 * address stops the walk at the last address read. */
void header_client_ip(const char *peer, const char *const *values, int n, header_trust_fn trusted,
                      const void *arg, char *out, size_t size);

/* The key one browser is rate-limited by: an IPv4 address itself, an IPv6 address's /64
 * (one subscriber's prefix). */
void header_rate_key(const char *ip, char *out, size_t size);

/* A header value a touch keeps (User-Agent) into out: cut between characters when long,
 * "" when absent. Returns 0, or -1 (out "") when it is not UTF-8 or holds control bytes:
 * such a value is dropped, as webhook header values are. */
int header_copy_text(const char *value, char *out, size_t size);

/* Decodes %XX in s in place, except escapes of control bytes (%00-%1F, %7F), which stay
 * as written so that "/webhooks/shop%00x" cannot name the source "shop". Returns the
 * new length. */
size_t header_unescape(char *s);

#endif
