/* What the daemon's parts share: the current configuration (swapped on SIGHUP), the
 * store, the forwarder, the rate limiter and the HTTP listener; and the readiness probe. */
#ifndef TTR_CONTEXT_H
#define TTR_CONTEXT_H
#include <pthread.h>
#include <stddef.h>

struct config;
struct store;
struct forwarder;
struct ratelimit;
struct http_listener;

struct daemon_ctx {
    pthread_mutex_t cfg_lock;
    struct config *cfg;
    struct store *st;
    struct forwarder *fw;
    struct ratelimit *rl;
    struct http_listener *http;
    double started;
    int public_port; /* the bound public port (listen.port may be 0), for admin status */
};

/* A held reference to the current config (config_drop it when done). */
struct config *daemon_config(struct daemon_ctx *ctx);
/* Makes cfg (steals it) the current config; returns the previous one, for the caller to
 * config_drop. */
struct config *daemon_swap_config(struct daemon_ctx *ctx, struct config *cfg);
/* Readiness: can this instance take webhooks? 1 when ready; otherwise 0 with reasons (a
 * JSON array text) in buf. A paused pixel does not make it unready: a load balancer would
 * take every instance out and refuse webhooks for a sending problem. */
int daemon_ready(struct daemon_ctx *ctx, char *buf, size_t size);
/* 1 with a warning (plain ASCII text) in buf when pixels are paused; else 0. */
int daemon_paused_warning(struct daemon_ctx *ctx, char *buf, size_t size);

#endif
