/* The HTTP listeners (libmicrohttpd, one thread per connection): the public one serves
 * webhooks, /collect, /ttr.js, /ttr-shopify.js and health; the admin one requires the admin token.
 * A request thread that stores something blocks until the group commit holding its row
 * is on disk, and only then answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "collect.h"
#include "config.h"
#include "daemon.h"
#include "dashboard.h"
#include "http_internal.h"
#include "forwarder.h"
#include "hash.h"
#include "header.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "sources/source.h"
#include "store.h"

#define HEADER_LIMIT (32 * 1024)

enum listener { LISTENER_PUBLIC, LISTENER_ADMIN };

struct listener_ctx {
    struct daemon_ctx *ctx;
    enum listener which;
};

static struct listener_ctx public_lc, admin_lc;

/* Every open connection, so that one trickling its request (slow-loris, headers or body)
 * can be cut off: libmicrohttpd's timeout only counts idle time. */
enum conn_phase {
    PHASE_HEADERS, /* waiting for or reading a request's headers */
    PHASE_BODY,    /* reading its body */
    PHASE_SERVING, /* whole request read: being answered, or waiting for its commit */
};
struct conn_track {
    int fd;
    enum conn_phase phase;
    long long since; /* monotonic ms when it began waiting for this request */
    struct conn_track *prev, *next;
};
static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn_track *tracked;
static int in_flight;     /* requests begun and not completed (atomic) */
static size_t body_bytes; /* capacity of every request body buffer (atomic) */
static int draining;      /* set at shutdown: answers close their connection (atomic) */

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

struct MHD_Response *http_json_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned int status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    if (__atomic_load_n(&draining, __ATOMIC_ACQUIRE))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    return http_reply(conn, status, http_json_response(text));
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned int status,
                                 const char *error)
{
    json_t *o = json_pack("{s:s}", "error", error);
    char *text = json_dumps(o, JSON_COMPACT);
    enum MHD_Result ret = http_reply_json(conn, status, text ? text : "{}");
    free(text);
    json_decref(o);
    return ret;
}

const char *http_header(void *conn, const char *name)
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
void http_client_ip(const struct config *cfg, struct MHD_Connection *conn, char *out, size_t size)
{
    char peer[INET6_ADDRSTRLEN];
    struct xff_values x = {.n = 0};

    peer_ip(conn, peer, sizeof peer);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_collect, &x);
    header_client_ip(peer, x.v, x.n, proxy_trusted, cfg, out, size);
}

static enum MHD_Result handle_health(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                     const char *url)
{
    char reasons[1024], text[1200];
    if (strcmp(url, "/healthz") == 0)
        return http_reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    if (daemon_ready(ctx, reasons, sizeof reasons))
        return http_reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ready\"}");
    snprintf(text, sizeof text, "{\"status\":\"not ready\",\"reasons\":%s}", reasons);
    return http_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text);
}

static enum MHD_Result handle_public(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                     const char *url, const char *method, struct request *rq)
{
    if (strncmp(url, "/webhooks/", 10) == 0 && url[10] && !strchr(url + 10, '/')) {
        if (strcmp(method, "POST") != 0)
            return http_reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        return ingest_webhook(ctx, conn, url + 10, rq);
    }
    if (strcmp(url, "/collect") == 0) {
        if (strcmp(method, "POST") != 0 && strcmp(method, "OPTIONS") != 0)
            return http_reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        return ingest_collect(ctx, conn, method, rq);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return http_reply_error(conn,
                                strcmp(url, "/ttr.js") == 0 ||
                                        strcmp(url, "/ttr-shopify.js") == 0 ||
                                        strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0
                                    ? MHD_HTTP_METHOD_NOT_ALLOWED
                                    : MHD_HTTP_NOT_FOUND,
                                "not found");
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0)
        return handle_health(ctx, conn, url);
    if (strcmp(url, "/ttr.js") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(ttr_js_len, (void *)ttr_js, MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "application/javascript; charset=utf-8");
            MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=3600");
            MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        }
        return http_reply(conn, MHD_HTTP_OK, r);
    }
    if (strcmp(url, "/ttr-shopify.js") == 0)
        return http_shopify_snippet(ctx, conn);
    return http_reply_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

static const char *route_of(enum listener which, const char *url)
{
    if (which == LISTENER_ADMIN)
        return "admin";
    if (strncmp(url, "/webhooks/", 10) == 0)
        return "webhook";
    if (strcmp(url, "/collect") == 0)
        return "collect";
    return "other";
}

/* PHASE_HEADERS starts a new request's clock; the body's time counts with its headers'. */
static void track_phase(struct MHD_Connection *conn, enum conn_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&track_lock);
    t->phase = phase;
    if (phase == PHASE_HEADERS)
        t->since = clock_mono_ms();
    pthread_mutex_unlock(&track_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof *t)))
            return;
        t->fd = ci->connect_fd;
        t->phase = PHASE_HEADERS;
        t->since = clock_mono_ms();
        pthread_mutex_lock(&track_lock);
        t->next = tracked;
        if (tracked)
            tracked->prev = t;
        tracked = t;
        pthread_mutex_unlock(&track_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        pthread_mutex_lock(&track_lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            tracked = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&track_lock);
        free(t);
        *socket_context = NULL;
    }
}

void http_reap(struct daemon_ctx *ctx)
{
    struct config *cfg = daemon_config(ctx);
    long long limit = clock_mono_ms() - (long long)cfg->connection_timeout_s * 1000;
    int cut[PHASE_SERVING] = {0, 0};
    config_drop(cfg);
    pthread_mutex_lock(&track_lock);
    for (struct conn_track *t = tracked; t; t = t->next)
        if (t->phase != PHASE_SERVING && t->since < limit && t->fd >= 0) {
            /* shutdown, not close: the connection's thread still owns the descriptor and
             * closes it when it sees the end of the stream. */
            shutdown(t->fd, SHUT_RDWR);
            t->fd = -1;
            cut[t->phase]++;
        }
    pthread_mutex_unlock(&track_lock);
    if (cut[PHASE_HEADERS])
        log_warn("connections cut: request headers too slow", "count=%d", cut[PHASE_HEADERS]);
    if (cut[PHASE_BODY])
        log_warn("connections cut: request body too slow", "count=%d", cut[PHASE_BODY]);
}

/* First call: set up the request and refuse early what needs no body. */
static enum MHD_Result request_begin(struct listener_ctx *lc, struct MHD_Connection *conn,
                                     const char *url, void **req_cls)
{
    struct config *cfg = daemon_config(lc->ctx);
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        config_drop(cfg);
        return MHD_NO;
    }
    track_phase(conn, PHASE_BODY);
    clock_gettime(CLOCK_MONOTONIC, &rq->start);
    rq->conn = conn;
    __atomic_add_fetch(&in_flight, 1, __ATOMIC_ACQ_REL);
    rq->route = route_of(lc->which, url);
    rq->limit = strcmp(rq->route, "collect") == 0 ? cfg->max_collect_body
                : lc->which == LISTENER_ADMIN     ? 64 * 1024
                                                  : cfg->max_body;
    /* One body of the largest size always fits, whatever the setting. */
    rq->budget = cfg->max_body_memory > rq->limit ? cfg->max_body_memory : rq->limit + 1;
    config_drop(cfg);
    *req_cls = rq;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > rq->limit)
            rq->too_large = 1;
        else if (*end == '\0')
            rq->expect = (size_t)n;
    }
    return MHD_YES;
}

/* Takes n bytes of the shared body budget; -1 when that would pass it. */
static int body_reserve(size_t n, size_t budget)
{
    if (__atomic_add_fetch(&body_bytes, n, __ATOMIC_ACQ_REL) <= budget)
        return 0;
    __atomic_sub_fetch(&body_bytes, n, __ATOMIC_ACQ_REL);
    return -1;
}

static void request_append(struct request *rq, const char *data, size_t n)
{
    if (rq->too_large || rq->over_budget)
        return;
    if (rq->len + n > rq->limit) {
        rq->too_large = 1;
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        /* Doubling, but never past what the body can still need: a 1 MiB body costs
         * 1 MiB, not 2. */
        size_t most = (rq->expect ? rq->expect : rq->limit) + 1;
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1)
            cap *= 2;
        if (cap > most)
            cap = most > rq->len + n + 1 ? most : rq->len + n + 1;
        if (body_reserve(cap - rq->cap, rq->budget) < 0) {
            rq->over_budget = 1;
            return;
        }
        char *b = realloc(rq->body, cap);
        if (!b) {
            __atomic_sub_fetch(&body_bytes, cap - rq->cap, __ATOMIC_ACQ_REL);
            rq->over_budget = 1;
            return;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct listener_ctx *lc = cls;
    struct request *rq = *req_cls;

    if (rq && rq->waiting)
        return ingest_finish(lc->ctx, conn, rq);
    if (!rq) {
        if (request_begin(lc, conn, url, req_cls) != MHD_YES)
            return MHD_NO;
        rq = *req_cls;
        if (!rq->too_large)
            return MHD_YES;
        /* A declared Content-Length over the limit is refused before any of the body is
         * read (and before a 100-continue is sent). */
    } else if (*upload_data_size) {
        request_append(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (!rq->too_large && !rq->over_budget)
            return MHD_YES;
        /* Refused as soon as the limit is passed: the rest is never read. */
    }
    track_phase(conn, PHASE_SERVING);
    if (rq->over_budget) {
        struct MHD_Response *r = http_json_response("{\"error\":\"busy, retry later\"}");
        log_warn("request refused: request bodies use all of listen.max_body_memory",
                 "route=%s status=503 limit=%zu", rq->route, rq->budget);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        return http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    }
    if (rq->too_large) {
        log_limited(LOG_LVL_WARN, rq->route, "request refused: body too large",
                    "route=%s status=413 limit=%zu", rq->route, rq->limit);
        if (strcmp(rq->route, "webhook") == 0) {
            metrics_webhook("any", "too_large");
            ingest_log_delivery(lc->ctx, conn, url + 10, 413, "too_large",
                                "body larger than listen.max_body", NULL, 0);
        } else if (strcmp(rq->route, "collect") == 0)
            metrics_collect("too_large");
        return http_reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    }
    if (lc->which == LISTENER_ADMIN) {
        struct MHD_Response *resp = NULL;
        if (strcmp(url, "/healthz") == 0)
            return http_reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
        char why[64];
        /* The dashboard's page and sign-in, then the token or session check. */
        int status =
            dashboard_public(lc->ctx, conn, method, url, rq->body ? rq->body : "", rq->len, &resp);
        if (status)
            return http_reply(conn, (unsigned int)status, resp);
        if ((status = dashboard_authorize(lc->ctx, conn, method, why, sizeof why))) {
            log_limited(LOG_LVL_WARN, "admin", "admin request refused", "status=%d reason=\"%s\"",
                        status, why);
            return http_reply_error(conn, (unsigned int)status, why);
        }
        status = admin_handle(lc->ctx, conn, method, url, rq->body ? rq->body : "", rq->len, &resp);
        dashboard_secure_headers(resp);
        return http_reply(conn, (unsigned int)status, resp);
    }
    return handle_public(lc->ctx, conn, url, method, rq);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *req_cls;
    if (!rq)
        return;
    metrics_request_latency(rq->route, elapsed_s(&rq->start));
    track_phase(conn, PHASE_HEADERS);
    __atomic_sub_fetch(&in_flight, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&body_bytes, rq->cap, __ATOMIC_ACQ_REL);
    free(rq->body);
    rq->body = NULL;
    if (ingest_release(rq))
        free(rq);
    *req_cls = NULL;
}

/* libmicrohttpd's own decoder turns "%00" into a NUL that ends the path early. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    return header_unescape(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512], q[600];
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("http", "detail=%s", log_quote(buf, q, sizeof q));
}

static const char *listen_hint(int err)
{
    switch (err) {
    case EADDRINUSE: return "; another process listens on this port (ss -ltnp shows which)";
    case EACCES: return "; ports below 1024 need CAP_NET_BIND_SERVICE";
    case EADDRNOTAVAIL: return "; no interface of this machine has this address";
    default: return "";
    }
}

/* An exclusive listening socket (no SO_REUSEPORT: a second ttrelayd on the same port must
 * fail, not share the traffic). Returns the socket, or -1 with the system's reason. */
static int listen_socket(const char *which, const char *address, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int fd = -1, one = 1;

    if (inet_pton(AF_INET, address, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons((uint16_t)port);
        len = sizeof *sa4;
    } else if (inet_pton(AF_INET6, address, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        len = sizeof *sa6;
    } else {
        snprintf(err, errlen, "%s.address %s is not an IP address", which, address);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* SO_REUSEADDR only lets a restart bind over connections in TIME_WAIT. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s:%d (%s): %s%s", address, port, which,
                 strerror(e), listen_hint(e));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int http_bind(struct daemon_ctx *ctx, char *err, size_t errlen)
{
    struct config *cfg = daemon_config(ctx);
    int rc = -1;

    ctx->public_fd = listen_socket("listen", cfg->listen_address, cfg->listen_port, err, errlen);
    if (ctx->public_fd < 0)
        goto out;
    ctx->admin_fd = listen_socket("admin", cfg->admin_address, cfg->admin_port, err, errlen);
    if (ctx->admin_fd < 0)
        goto out;
    rc = 0;
out:
    config_drop(cfg);
    return rc;
}

static struct MHD_Daemon *listen_on(struct listener_ctx *lc, int fd, const char *address, int port,
                                    const struct config *cfg, int *bound, char *err, size_t errlen)
{
    /* Public: a few epoll threads; ingest requests are suspended while their commit is
     * pending, so no thread waits for the disk. Admin: low traffic with blocking store
     * reads, one thread per connection. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    unsigned int pool = 1;
    if (lc->which == LISTENER_PUBLIC) {
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        pool = n < 1 ? 1 : n > 16 ? 16 : (unsigned int)n;
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    }

    if (strchr(address, ':'))
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, lc, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, lc, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, lc, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)0, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(256 * 1024), MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        /* last: for the admin listener this ends the list */
        lc->which == LISTENER_PUBLIC ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,
        MHD_OPTION_END);
    if (!d) {
        snprintf(err, errlen, "cannot start the HTTP server on %s:%d: %s", address, port,
                 strerror(errno));
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    return d;
}

int http_start(struct daemon_ctx *ctx, char *err, size_t errlen)
{
    struct config *cfg = daemon_config(ctx);
    int rc = -1;

    public_lc = (struct listener_ctx){ctx, LISTENER_PUBLIC};
    admin_lc = (struct listener_ctx){ctx, LISTENER_ADMIN};
    ctx->public_http = listen_on(&public_lc, ctx->public_fd, cfg->listen_address, cfg->listen_port,
                                 cfg, &ctx->public_port, err, errlen);
    if (!ctx->public_http)
        goto out;
    ctx->admin_http = listen_on(&admin_lc, ctx->admin_fd, cfg->admin_address, cfg->admin_port, cfg,
                                &ctx->admin_port, err, errlen);
    if (!ctx->admin_http)
        goto out;
    log_info("listening", "listener=public address=%s port=%d", cfg->listen_address,
             ctx->public_port);
    log_info("listening", "listener=admin address=%s port=%d", cfg->admin_address, ctx->admin_port);
    rc = 0;
out:
    config_drop(cfg);
    return rc;
}

/* Waits, at most rounds × 50 ms, until no request has been in flight for a moment. */
static void http_drain(int rounds)
{
    for (int i = 0, quiet = 0; i < rounds && quiet < 6; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        quiet = __atomic_load_n(&in_flight, __ATOMIC_ACQUIRE) > 0 ? 0 : quiet + 1;
    }
}

void http_stop(struct daemon_ctx *ctx)
{
    /* Quiesce first so no new connection is accepted while those in flight finish. */
    if (ctx->public_http)
        MHD_quiesce_daemon(ctx->public_http);
    if (ctx->admin_http)
        MHD_quiesce_daemon(ctx->admin_http);
    /* Let requests in flight (a webhook waiting for its commit) answer, closing their
     * keep-alive connections, until none has been seen for a moment; bounded at 5 s, about
     * as long as senders wait for an answer. */
    __atomic_store_n(&draining, 1, __ATOMIC_RELEASE);
    http_drain(100);
    /* Webhooks still waiting for their commit (a stalled disk) are answered 503: their
     * senders retry, and libmicrohttpd aborts when stopped with a suspended connection. */
    int n = ingest_stop();
    if (n > 0) {
        log_warn("stopping: requests still waiting for the store answered 503", "count=%d", n);
        http_drain(40);
    }
    if (ctx->public_http)
        MHD_stop_daemon(ctx->public_http);
    if (ctx->admin_http)
        MHD_stop_daemon(ctx->admin_http);
    ctx->public_http = ctx->admin_http = NULL;
}
