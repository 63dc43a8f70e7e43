/* What the daemon's parts share: the current configuration (swapped on SIGHUP), the
 * store, the forwarder and the HTTP listeners. */
#ifndef TTR_DAEMON_H
#define TTR_DAEMON_H
#include <pthread.h>

struct config;
struct store;
struct forwarder;
struct ratelimit;
struct MHD_Daemon;

struct daemon_ctx {
    pthread_mutex_t cfg_lock;
    struct config *cfg;
    struct store *st;
    struct forwarder *fw;
    struct ratelimit *rl;
    struct MHD_Daemon *public_http;
    struct MHD_Daemon *admin_http;
    double started;
    int public_port;
    int admin_port;
    int public_fd; /* listening sockets from http_bind, handed to the listeners */
    int admin_fd;
};

/* A held reference to the current config (config_drop it when done). */
struct config *daemon_config(struct daemon_ctx *ctx);

/* Binds both listening sockets (exclusively), before the store is opened, so a port in
 * use stops start-up with the system's reason. Returns 0, or -1 with it in err. */
int http_bind(struct daemon_ctx *ctx, char *err, size_t errlen);
/* Starts both listeners on the sockets of http_bind (ports may be 0: the bound ports are stored in ctx).
 * Returns 0, or -1 with a reason in err. */
int http_start(struct daemon_ctx *ctx, char *err, size_t errlen);
/* Cuts connections that have trickled request headers for longer than listen.timeout_s
 * (slow-loris); called from the main loop. */
void http_reap(struct daemon_ctx *ctx);
/* Stops accepting; waits for requests in flight to finish. */
void http_stop(struct daemon_ctx *ctx);

/* Admin routes; called by http.c for the admin listener after the token check. */
struct MHD_Connection;
struct MHD_Response;
int admin_handle(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                 const char *url, const char *body, size_t len, struct MHD_Response **resp);

/* JSON responses: the text is copied. */
struct MHD_Response *http_json_response(const char *text);
/* Readiness: 1 when ready; otherwise 0 with reasons (a JSON array text) in buf. */
int daemon_ready(struct daemon_ctx *ctx, char *buf, size_t size);

/* The embedded scripts (daemon/embed.cmake), NUL-terminated. */
extern const unsigned char ttr_js[];
extern const size_t ttr_js_len;
extern const unsigned char ttr_shopify_js[];
extern const size_t ttr_shopify_js_len;

#endif
