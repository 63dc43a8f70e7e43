/* The client address behind trusted proxies, header text and URL decoding (header.c). */
#include <string.h>

#include "header.h"
#include "tap.h"

static int trusted(const void *arg, const char *ip)
{
    (void)arg;
    return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "10.0.0.2") == 0;
}

static const char *client(const char *peer, const char *const *v, int n)
{
    static char out[64];
    header_client_ip(peer, v, n, trusted, NULL, out, sizeof out);
    return out;
}

int main(void)
{
    char big[4096], s[64], out[16];

    const char *one[] = {"198.51.100.7"};
    is_str(client("203.0.113.1", one, 1), "203.0.113.1", "an untrusted peer's header is ignored");
    is_str(client("127.0.0.1", one, 1), "198.51.100.7", "a trusted peer's hop is believed");
    const char *chain[] = {"6.6.6.6, 198.51.100.7, 10.0.0.2"};
    is_str(client("127.0.0.1", chain, 1), "198.51.100.7",
           "trusted hops are skipped, right to left");
    const char *junk[] = {"junk, 198.51.100.7"};
    is_str(client("127.0.0.1", junk, 1), "198.51.100.7",
           "a junk hop left of the client is never read");
    const char *bad[] = {"6.6.6.6, not-an-ip"};
    is_str(client("127.0.0.1", bad, 1), "127.0.0.1", "a junk rightmost hop keeps the peer");
    const char *two[] = {"6.6.6.6", "203.0.113.77"};
    is_str(client("127.0.0.1", two, 2), "203.0.113.77", "the last header line is the proxy's");
    const char *v6[] = {" 2001:DB8:0:0::1 "};
    is_str(client("127.0.0.1", v6, 1), "2001:db8::1", "an IPv6 hop is written canonically");

    /* 1,023 bytes of the client's choosing, then the proxy's hop. */
    memset(big, ' ', sizeof big);
    memcpy(big, "10.9.8.7", 8);
    memcpy(big + 1016, "6.6.6.6", 7);
    strcpy(big + 1023, ", 198.51.100.7");
    const char *longv[] = {big};
    is_str(client("127.0.0.1", longv, 1), "198.51.100.7", "a long header is read whole");

    header_rate_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", s, sizeof s);
    is_str(s, "2001:db8:1:2::/64", "an IPv6 address is limited by its /64");
    header_rate_key("198.51.100.7", s, sizeof s);
    is_str(s, "198.51.100.7", "an IPv4 address by itself");

    is_int(header_copy_text("Mozilla/5.0", out, sizeof out), 0, "clean text is kept");
    is_str(out, "Mozilla/5.0", "as it is");
    is_int(header_copy_text("Mozilla \xff", out, sizeof out), -1,
           "bytes that are not UTF-8 drop it");
    is_str(out, "", "to nothing");
    is_int(header_copy_text("a\x01z", out, sizeof out), -1, "so do control bytes");
    is_int(header_copy_text("Mozilla/5.0 caf\xc3\xa9", out, sizeof out), 0, "long text is cut");
    is_str(out, "Mozilla/5.0 caf", "between characters");

    strcpy(s, "/webhooks/shop%00x");
    header_unescape(s);
    is_str(s, "/webhooks/shop%00x", "%%00 stays encoded");
    strcpy(s, "/webhooks/cr%6D%0a%7F%2f");
    header_unescape(s);
    is_str(s, "/webhooks/crm%0a%7F/", "printable escapes decode, control ones do not");
    strcpy(s, "%4%zz%");
    is_int(header_unescape(s), 6, "broken escapes are left as written");
    return tap_done();
}
