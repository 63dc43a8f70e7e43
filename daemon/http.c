/* The HTTP listeners (libmicrohttpd): the public one (an accept thread handing connections
 * to a pool of epoll workers) serves webhooks, /collect, /ttr.js, /ttr-shopify.js and health;
 * the admin one (a thread per connection) requires the admin token. A request that stores
 * something is answered only once the group commit holding its row is on disk. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acceptor.h"
#include "admin.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "dashboard.h"
#include "header.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "request.h"
#include "snippet.h"

#define HEADER_LIMIT (32 * 1024)

enum listener { LISTENER_PUBLIC, LISTENER_ADMIN };

/* The cls of one listener's callbacks. */
struct listener_ctx {
    struct http_listener *l;
    struct daemon_ctx *ctx;
    enum listener which;
};

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

struct http_listener {
    struct daemon_ctx *ctx;
    struct listener_ctx public_lc, admin_lc;
    int public_fd, admin_fd; /* from http_bind; the acceptor's, libmicrohttpd's once started */
    struct MHD_Daemon *public_http, *admin_http;
    struct acceptor *acceptor;   /* accepts for public_http */
    int public_port, admin_port; /* bound */

    pthread_mutex_t track_lock;
    struct conn_track *tracked;
    int in_flight;     /* requests begun and not completed (atomic) */
    size_t body_bytes; /* capacity of every request body buffer (atomic) */
};

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static enum MHD_Result handle_health(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                     const char *url)
{
    char reasons[1024], warning[128], text[1400];
    if (strcmp(url, "/healthz") == 0)
        return http_reply_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    int ready = daemon_ready(ctx, reasons, sizeof reasons);
    int warn = daemon_paused_warning(ctx, warning, sizeof warning);
    int n = snprintf(text, sizeof text, "{\"status\":\"%s\"", ready ? "ready" : "not ready");
    if (!ready)
        n += snprintf(text + n, sizeof text - (size_t)n, ",\"reasons\":%s", reasons);
    if (warn)
        n += snprintf(text + n, sizeof text - (size_t)n, ",\"warnings\":[\"%s\"]", warning);
    snprintf(text + n, sizeof text - (size_t)n, "}");
    return http_reply_json(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text);
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
    if (strcmp(url, "/ttr.js") == 0)
        return snippet_ttr_js(conn);
    if (strcmp(url, "/ttr-shopify.js") == 0)
        return snippet_shopify(ctx, conn);
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
static void track_phase(struct http_listener *l, struct MHD_Connection *conn, enum conn_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&l->track_lock);
    t->phase = phase;
    if (phase == PHASE_HEADERS)
        t->since = clock_mono_ms();
    pthread_mutex_unlock(&l->track_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_listener *l = ((struct listener_ctx *)cls)->l;
    struct conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof *t)))
            return;
        t->fd = ci->connect_fd;
        t->phase = PHASE_HEADERS;
        t->since = clock_mono_ms();
        pthread_mutex_lock(&l->track_lock);
        t->next = l->tracked;
        if (l->tracked)
            l->tracked->prev = t;
        l->tracked = t;
        pthread_mutex_unlock(&l->track_lock);
        *socket_context = t;
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    /* libmicrohttpd says CLOSED for every connection it said STARTED for. */
    if (((struct listener_ctx *)cls)->which == LISTENER_PUBLIC)
        acceptor_closed(l->acceptor);
    if (!t)
        return;
    pthread_mutex_lock(&l->track_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        l->tracked = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&l->track_lock);
    free(t);
    *socket_context = NULL;
}

void http_reap(struct http_listener *l)
{
    struct config *cfg = daemon_config(l->ctx);
    long long limit = clock_mono_ms() - (long long)cfg->connection_timeout_s * 1000;
    int cut[PHASE_SERVING] = {0, 0};
    config_drop(cfg);
    pthread_mutex_lock(&l->track_lock);
    for (struct conn_track *t = l->tracked; t; t = t->next)
        if (t->phase != PHASE_SERVING && t->since < limit && t->fd >= 0) {
            /* shutdown, not close: the connection's thread still owns the descriptor and
             * closes it when it sees the end of the stream. */
            shutdown(t->fd, SHUT_RDWR);
            t->fd = -1;
            cut[t->phase]++;
        }
    pthread_mutex_unlock(&l->track_lock);
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
    track_phase(lc->l, conn, PHASE_BODY);
    clock_gettime(CLOCK_MONOTONIC, &rq->start);
    rq->conn = conn;
    __atomic_add_fetch(&lc->l->in_flight, 1, __ATOMIC_ACQ_REL);
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
static int body_reserve(struct http_listener *l, size_t n, size_t budget)
{
    if (__atomic_add_fetch(&l->body_bytes, n, __ATOMIC_ACQ_REL) <= budget)
        return 0;
    __atomic_sub_fetch(&l->body_bytes, n, __ATOMIC_ACQ_REL);
    return -1;
}

static void request_append(struct http_listener *l, struct request *rq, const char *data, size_t n)
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
        if (body_reserve(l, cap - rq->cap, rq->budget) < 0) {
            rq->over_budget = 1;
            return;
        }
        char *b = realloc(rq->body, cap);
        if (!b) {
            __atomic_sub_fetch(&l->body_bytes, cap - rq->cap, __ATOMIC_ACQ_REL);
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
        request_append(lc->l, rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (!rq->too_large && !rq->over_budget)
            return MHD_YES;
        /* Refused as soon as the limit is passed: the rest is never read. */
    }
    track_phase(lc->l, conn, PHASE_SERVING);
    if (rq->over_budget) {
        log_warn("request refused: request bodies use all of listen.max_body_memory",
                 "route=%s status=503 limit=%zu", rq->route, rq->budget);
        return http_reply_retry_later(conn, "busy, retry later");
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
        http_secure_headers(resp);
        return http_reply(conn, (unsigned int)status, resp);
    }
    return handle_public(lc->ctx, conn, url, method, rq);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct listener_ctx *lc = cls;
    struct request *rq = *req_cls;
    if (!rq)
        return;
    metrics_request_latency(rq->route, elapsed_s(&rq->start));
    track_phase(lc->l, conn, PHASE_HEADERS);
    __atomic_sub_fetch(&lc->l->in_flight, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&lc->l->body_bytes, rq->cap, __ATOMIC_ACQ_REL);
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

/* Closes the sockets never handed on (start-up stopped before http_start). */
static void listener_free(struct http_listener *l)
{
    if (l->public_fd >= 0)
        close(l->public_fd);
    if (l->admin_fd >= 0)
        close(l->admin_fd);
    acceptor_free(l->acceptor);
    pthread_mutex_destroy(&l->track_lock);
    free(l);
}

struct http_listener *http_bind(struct daemon_ctx *ctx, char *err, size_t errlen)
{
    struct config *cfg = daemon_config(ctx);
    struct http_listener *l = calloc(1, sizeof *l);

    if (!l) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    l->ctx = ctx;
    l->public_lc = (struct listener_ctx){l, ctx, LISTENER_PUBLIC};
    l->admin_lc = (struct listener_ctx){l, ctx, LISTENER_ADMIN};
    pthread_mutex_init(&l->track_lock, NULL);
    l->admin_fd = -1;
    l->public_fd = listen_socket("listen", cfg->listen_address, cfg->listen_port, err, errlen);
    if (l->public_fd >= 0)
        l->admin_fd = listen_socket("admin", cfg->admin_address, cfg->admin_port, err, errlen);
    if (l->admin_fd < 0) {
        listener_free(l);
        l = NULL;
    }
out:
    config_drop(cfg);
    return l;
}

/* The accept thread's hand-off. In a thread pool libmicrohttpd gives the connection to the
 * worker whose index is the descriptor modulo the pool size (the next one when that one is
 * full), so connections accepted in a row, which get consecutive descriptors, alternate. */
static int hand_public(void *cls, int fd, const struct sockaddr *addr, socklen_t len)
{
    struct http_listener *l = cls;
    if (MHD_add_connection(l->public_http, fd, addr, len) == MHD_YES)
        return 0;
    log_limited(LOG_LVL_WARN, "add", "connection dropped: the HTTP server did not take it",
                "reason=\"%s\"", strerror(errno));
    return -1;
}

static int socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* fd: the admin listener's socket (libmicrohttpd's from here, whether it starts or not);
 * -1 for the public one, whose connections the acceptor hands over. */
static struct MHD_Daemon *listen_on(struct listener_ctx *lc, int fd, const char *address, int port,
                                    const struct config *cfg, char *err, size_t errlen)
{
    /* Public: a few epoll threads; ingest requests are suspended while their commit is
     * pending, so no thread waits for the disk. Admin: low traffic with blocking store
     * reads, one thread per connection. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    unsigned int limit = (unsigned int)cfg->max_connections;
    struct MHD_OptionItem last = {MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    if (lc->which == LISTENER_PUBLIC) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned int pool = n < 1 ? 1 : n > 16 ? 16 : (unsigned int)n;
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
        last = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool, NULL};
        /* The acceptor keeps to listen.max_connections. libmicrohttpd splits its own limit
         * between the workers and refuses one over a worker's share without telling the
         * acceptor (that place would be lost): each worker may take them all. */
        limit *= pool;
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, lc},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, lc},
        {MHD_OPTION_CONNECTION_LIMIT, limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_LIMIT, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, 256 * 1024, NULL},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL},
        last,
        {MHD_OPTION_END, 0, NULL},
    };

    if (strchr(address, ':'))
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, lc,
                                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d)
        snprintf(err, errlen, "cannot start the HTTP server on %s:%d: %s", address, port,
                 strerror(errno));
    return d;
}

int http_start(struct http_listener *l, char *err, size_t errlen)
{
    struct config *cfg = daemon_config(l->ctx);
    int rc = -1, fd;

    l->public_port = socket_port(l->public_fd);
    l->admin_port = socket_port(l->admin_fd);
    /* Before the pool starts: its threads call acceptor_closed. */
    if (!(l->acceptor = acceptor_new(cfg->max_connections, hand_public, l))) {
        snprintf(err, errlen, "cannot start the accept thread: %s", strerror(errno));
        goto out;
    }
    l->public_http =
        listen_on(&l->public_lc, -1, cfg->listen_address, cfg->listen_port, cfg, err, errlen);
    if (!l->public_http)
        goto out;
    fd = l->public_fd;
    l->public_fd = -1;
    if (acceptor_start(l->acceptor, fd, err, errlen) < 0)
        goto out;
    fd = l->admin_fd;
    l->admin_fd = -1;
    l->admin_http =
        listen_on(&l->admin_lc, fd, cfg->admin_address, cfg->admin_port, cfg, err, errlen);
    if (!l->admin_http)
        goto out;
    log_info("listening", "listener=public address=%s port=%d", cfg->listen_address,
             l->public_port);
    log_info("listening", "listener=admin address=%s port=%d", cfg->admin_address, l->admin_port);
    rc = 0;
out:
    config_drop(cfg);
    return rc;
}

int http_public_port(const struct http_listener *l)
{
    return l->public_port;
}

int http_admin_port(const struct http_listener *l)
{
    return l->admin_port;
}

/* Waits, at most rounds × 50 ms, until no request has been in flight for a moment. */
static void http_drain(struct http_listener *l, int rounds)
{
    for (int i = 0, quiet = 0; i < rounds && quiet < 6; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        quiet = __atomic_load_n(&l->in_flight, __ATOMIC_ACQUIRE) > 0 ? 0 : quiet + 1;
    }
}

void http_stop(struct http_listener *l)
{
    if (!l)
        return;
    /* Accept nothing new while those in flight finish. */
    acceptor_stop(l->acceptor);
    if (l->admin_http)
        MHD_quiesce_daemon(l->admin_http);
    /* Let requests in flight (a webhook waiting for its commit) answer, closing their
     * keep-alive connections, until none has been seen for a moment; bounded at 5 s, about
     * as long as senders wait for an answer. */
    http_reply_closing();
    http_drain(l, 100);
    /* Webhooks still waiting for their commit (a stalled disk) are answered 503: their
     * senders retry, and libmicrohttpd aborts when stopped with a suspended connection. */
    int n = ingest_stop();
    if (n > 0) {
        log_warn("stopping: requests still waiting for the store answered 503", "count=%d", n);
        http_drain(l, 40);
    }
    if (l->public_http)
        MHD_stop_daemon(l->public_http);
    if (l->admin_http)
        MHD_stop_daemon(l->admin_http);
    listener_free(l);
}
