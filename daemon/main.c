/* ttrelayd: start-up in order, the signal loop, shutdown in reverse. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "dashboard.h"
#include "forwarder.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "ratelimit.h"
#include "store.h"

static volatile sig_atomic_t got_reload, got_stop;

/* Read by jemalloc at start when it is linked (see CMakeLists.txt), ignored otherwise: one
 * arena and a quick return of freed pages keep the RSS near the C library's malloc while
 * keeping most of jemalloc's speed with jansson's many small objects. */
const char *malloc_conf = "narenas:1,dirty_decay_ms:200,muzzy_decay_ms:0";

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_reload = 1;
    else
        got_stop = 1;
}

/* How long a stop waits for the store's writer to commit what is queued. */
#define STORE_FLUSH_MS 10000

/* The forwarder, then the store's writer, each within a bound: a stalled disk must not
 * keep the process from exiting. Returns 0 (store closed) or -1 (left open). */
static int stop_store(struct daemon_ctx *ctx)
{
    long grace = 2000;

    if (ctx->cfg)
        grace += ctx->cfg->request_timeout_ms;
    if (forwarder_stop(ctx->fw, grace) < 0 || store_flush(ctx->st, STORE_FLUSH_MS) < 0)
        return -1;
    store_close(ctx->st);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ttrelayd [-t] -c FILE\n"
               "       ttrelayd --version\n"
               "  -c FILE   configuration file (libconfig syntax)\n"
               "  -t        check the configuration and exit\n");
}

/* Per-pixel and per-source series exist at 0 from the moment they are configured. */
static void config_loaded(const struct config *cfg)
{
    if (cfg->default_pixel[0])
        metrics_declare_pixel(cfg->default_pixel);
    for (int i = 0; i < cfg->npixels; i++)
        metrics_declare_pixel(cfg->pixels[i].code);
    for (int i = 0; i < cfg->nsources; i++)
        metrics_declare_source(cfg->sources[i].id);
    metrics_config_reload(1, (double)clock_wall_ms() / 1000.0);
}

static void reload(struct daemon_ctx *ctx, const char *path)
{
    char err[600];
    notify_reloading();
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg) {
        log_error("reload refused, keeping the running configuration", "reason=\"%s\"", err);
        dashboard_note_reload(err);
        metrics_config_reload(0, 0);
        notify_ready();
        return;
    }
    struct config *old = ctx->cfg;
    if (strcmp(old->listen_address, cfg->listen_address) || old->listen_port != cfg->listen_port ||
        strcmp(old->admin_address, cfg->admin_address) || old->admin_port != cfg->admin_port ||
        strcmp(old->store_path, cfg->store_path) || strcmp(old->store_backend, cfg->store_backend))
        log_warn("listen addresses and the store change only on restart", "path=%s", path);
    old = daemon_swap_config(ctx, cfg);
    log_set_level(cfg->log_level);
    forwarder_set_config(ctx->fw, cfg);
    config_drop(old);
    config_loaded(cfg);
    log_info("configuration reloaded", "sources=%d pixels=%d", cfg->nsources, cfg->npixels);
    dashboard_note_reload(NULL);
    notify_ready();
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void serve(struct daemon_ctx *ctx, const char *path)
{
    unsigned long long wd_usec = notify_watchdog_usec();
    struct timespec tick = {0, 200 * 1000000L};
    long long since_wd = 0;

    while (!got_stop) {
        nanosleep(&tick, NULL);
        if (got_reload) {
            got_reload = 0;
            reload(ctx, path);
        }
        http_reap(ctx->http);
        since_wd += 200000;
        /* Feed the watchdog only while the forwarder is alive: a stalled forwarder
         * gets the service restarted. */
        if (wd_usec && since_wd * 2 >= (long long)wd_usec && forwarder_idle_ms(ctx->fw) < 60000) {
            notify_watchdog();
            since_wd = 0;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int check = 0, c, rc = 1;
    char err[600];
    struct daemon_ctx ctx;

    memset(&ctx, 0, sizeof ctx);
    while ((c = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case 'V': printf("ttrelayd %s\n", TTR_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    umask(077);
    ctx.cfg = config_load(path, err, sizeof err);
    if (!ctx.cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (config_check_store(ctx.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        config_drop(ctx.cfg);
        return 1;
    }
    if (check) {
        printf("configuration OK\n");
        config_drop(ctx.cfg);
        return 0;
    }
    log_set_level(ctx.cfg->log_level);
    pthread_mutex_init(&ctx.cfg_lock, NULL);
    ctx.started = clock_mono_s();
    install_signals();

    if (!(ctx.http = http_bind(&ctx, err, sizeof err))) {
        log_error("cannot listen", "reason=\"%s\"", err);
        goto out;
    }
    struct store_options so = {.backend = ctx.cfg->store_backend,
                               .path = ctx.cfg->store_path,
                               .synchronous_full = ctx.cfg->store_sync_full,
                               .conninfo = ctx.cfg->store_conninfo};
    if (!(ctx.st = store_open_with(&so, err, sizeof err))) {
        log_error("cannot open the store", "backend=%s path=%s reason=\"%s\"",
                  ctx.cfg->store_backend, ctx.cfg->store_path, err);
        goto out;
    }
    if (!(ctx.rl = ratelimit_new(65536)) ||
        !(ctx.fw = forwarder_start(ctx.st, ctx.cfg, err, sizeof err))) {
        log_error("cannot start", "reason=\"%s\"", ctx.rl ? err : "out of memory");
        goto out;
    }
    /* Every line from here says which instance wrote it (several may share a PostgreSQL
     * store, and logs of several machines meet in one place). */
    log_set_instance(forwarder_instance(ctx.fw));
    if (http_start(ctx.http, err, sizeof err) < 0) {
        log_error("cannot listen", "reason=\"%s\"", err);
        goto out;
    }
    ctx.public_port = http_public_port(ctx.http);
    forwarder_set_ports(ctx.fw, ctx.public_port, http_admin_port(ctx.http));
    config_loaded(ctx.cfg);
    /* The instance id ends the line, as on every line since forwarder_start. */
    log_info("ready", "version=%s store=%s backend=%s sources=%d pixels=%d dry_run=%s",
             /* Never the conninfo: it may hold a password. */
             TTR_VERSION,
             strcmp(store_backend_name(ctx.st), "sqlite") ? "database" : ctx.cfg->store_path,
             store_backend_name(ctx.st), ctx.cfg->nsources, ctx.cfg->npixels,
             ctx.cfg->dry_run ? "true" : "false");
    if (ctx.cfg->dry_run)
        log_warn("dry run: events are recorded, nothing is sent to TikTok. For real delivery set "
                 "tiktok.dry_run = false and each pixel's access_token, then reload (SIGHUP)",
                 "path=%s", path);
    notify_ready();
    serve(&ctx, path);
    notify_stopping();
    log_info("stopping", "signal=%s", "term");
    rc = 0;
out:
    http_stop(ctx.http);
    if (stop_store(&ctx) < 0) {
        /* Threads are stuck in the kernel: no clean-up is possible, and nothing that was
         * not written was acknowledged. */
        log_error("stopped without flushing the store: the disk does not answer", "exit=1");
        _exit(1);
    }
    ratelimit_free(ctx.rl);
    config_drop(ctx.cfg);
    if (rc == 0)
        log_info("stopped", "exit=%d", 0);
    return rc;
}
