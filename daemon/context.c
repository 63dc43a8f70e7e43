/* The shared context: the configuration under its lock, and readiness. */
#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "forwarder.h"
#include "store.h"

/* A held conversion this far past the end of its hold means matching is stuck: nothing
 * behind it is sent. Far above any backlog a healthy matcher leaves. */
#define READY_HELD_OVERDUE_MS (300 * 1000LL)

struct config *daemon_config(struct daemon_ctx *ctx)
{
    pthread_mutex_lock(&ctx->cfg_lock);
    struct config *cfg = config_hold(ctx->cfg);
    pthread_mutex_unlock(&ctx->cfg_lock);
    return cfg;
}

struct config *daemon_swap_config(struct daemon_ctx *ctx, struct config *cfg)
{
    pthread_mutex_lock(&ctx->cfg_lock);
    struct config *old = ctx->cfg;
    ctx->cfg = cfg;
    pthread_mutex_unlock(&ctx->cfg_lock);
    return old;
}

/* Appends a JSON string (plain ASCII text) to the reasons array being built in buf. */
static void ready_reason(char *buf, size_t size, size_t *len, int *ready, const char *reason)
{
    if (*len < size)
        *len += (size_t)snprintf(buf + *len, size - *len, "%s\"%s\"", *ready ? "" : ",", reason);
    *ready = 0;
}

int daemon_paused_warning(struct daemon_ctx *ctx, char *buf, size_t size)
{
    int n = forwarder_paused_count(ctx->fw);
    if (n <= 0)
        return 0;
    snprintf(buf, size, "%d pixel%s paused: events are kept, not sent (see /admin/status)", n,
             n == 1 ? "" : "s");
    return 1;
}

int daemon_ready(struct daemon_ctx *ctx, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    int ready = 1;
    long long due;

    /* The writer's last group commit, not a count of the tables: probes come often. */
    if (!store_writable(ctx->st))
        ready_reason(buf, size, &len, &ready, "store not writable");
    if (!store_files_present(ctx->st))
        ready_reason(buf, size, &len, &ready, "store files deleted: restart ttrelayd");
    if (store_oldest_held_due(ctx->st, &due) == 1 && clock_wall_ms() - due > READY_HELD_OVERDUE_MS)
        ready_reason(buf, size, &len, &ready,
                     "held conversions overdue: matching is stuck (see /admin/events?state=held)");
    if (forwarder_idle_ms(ctx->fw) > 60000)
        ready_reason(buf, size, &len, &ready, "forwarder stalled");
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return ready;
}
