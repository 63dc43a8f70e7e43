/* Reading a request: headers and the browser's address. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "header.h"
#include "request.h"

const char *request_header(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static void peer_ip(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

#define XFF_VALUES_MAX 16

/* X-Forwarded-For values in the order they arrived; only the last XFF_VALUES_MAX are
 * kept, since the walk goes right to left and stops at the first untrusted hop. */
struct xff_values {
    const char *v[XFF_VALUES_MAX];
    int n;
};

static enum MHD_Result xff_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct xff_values *x = cls;
    if (key && strcasecmp(key, "X-Forwarded-For") == 0) {
        if (x->n == XFF_VALUES_MAX) {
            memmove(x->v, x->v + 1, (XFF_VALUES_MAX - 1) * sizeof x->v[0]);
            x->n--;
        }
        x->v[x->n++] = value;
    }
    return MHD_YES;
}

static int proxy_trusted(const void *cfg, const char *ip)
{
    return config_proxy_trusted(cfg, ip);
}

/* The browser's address: the peer, or the rightmost X-Forwarded-For hop that is not a
 * trusted proxy when the peer itself is one. */
void request_client_ip(const struct config *cfg, struct MHD_Connection *conn, char *out,
                       size_t size)
{
    char peer[INET6_ADDRSTRLEN];
    struct xff_values x = {.n = 0};

    peer_ip(conn, peer, sizeof peer);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_collect, &x);
    header_client_ip(peer, x.v, x.n, proxy_trusted, cfg, out, size);
}
