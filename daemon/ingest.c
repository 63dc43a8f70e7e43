/* The ingest routes: POST /webhooks/<source id> and POST /collect. A request is verified
 * and parsed in the listener's thread, then its connection is suspended while the store's
 * writer commits the row with others; the writer resumes it and ingest_finish answers.
 * So nothing is acknowledged before it is on disk, and no thread waits for a disk. */
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "collect.h"
#include "config.h"
#include "context.h"
#include "forwarder.h"
#include "header.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "reply.h"
#include "request.h"
#include "sources/source.h"
#include "store.h"

/* The sender's own id of this delivery, from the headers that carry one. */
static const char *header_delivery_id(struct MHD_Connection *conn)
{
    static const char *const names[] = {"X-Shopify-Webhook-Id", "X-WC-Webhook-Delivery-ID",
                                        "X-Request-Id"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, names[i]);
        if (v && *v)
            return v;
    }
    return "";
}

void ingest_log_delivery(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *asked,
                         int status, const char *result, const char *reason,
                         const char *delivery_id, long long conversion_id)
{
    struct delivery d;
    size_t n = 0;

    memset(&d, 0, sizeof d);
    d.ts_ms = clock_wall_ms();
    /* The id as asked, printable only: it comes from anyone's URL. */
    for (const char *p = asked; *p && n + 1 < sizeof d.source; p++)
        d.source[n++] = (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '?';
    d.status = status;
    STR_SET(d.result, result);
    STR_SET(d.reason, reason ? reason : "");
    if (!delivery_id || !*delivery_id || strcmp(delivery_id, "-") == 0)
        delivery_id = header_delivery_id(conn);
    STR_SET(d.delivery_id, delivery_id);
    d.conversion_id = conversion_id;
    if (store_submit_delivery(ctx->st, &d) < 0)
        log_debug("delivery not logged", "source=%s status=%d", d.source, status);
}

static const char *webhook_status(enum store_result r)
{
    return r == STORE_OK ? "accepted" : r == STORE_DUPLICATE ? "duplicate" : "unavailable";
}

/* Requests suspended until the writer has committed their row. At shutdown the rest are
 * answered 503 (ingest_stop); the writer may still call back for them afterwards, so a
 * request whose connection has gone meanwhile is freed by that callback. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct request *pending;
static int pending_closed;

/* Caller holds pending_lock. */
static void pending_unlink(struct request *rq)
{
    if (rq->pprev)
        rq->pprev->pnext = rq->pnext;
    else if (pending == rq)
        pending = rq->pnext;
    if (rq->pnext)
        rq->pnext->pprev = rq->pprev;
    rq->pprev = rq->pnext = NULL;
}

/* Suspends rq's connection until its commit. Returns 0, or -1 when stopping (answer now). */
static int pending_add(struct request *rq)
{
    pthread_mutex_lock(&pending_lock);
    if (pending_closed) {
        pthread_mutex_unlock(&pending_lock);
        return -1;
    }
    rq->waiting = rq->job_pending = 1;
    rq->pnext = pending;
    if (pending)
        pending->pprev = rq;
    pending = rq;
    /* Before the job is submitted: the writer may resume the connection at once. */
    MHD_suspend_connection(rq->conn);
    pthread_mutex_unlock(&pending_lock);
    return 0;
}

/* The writer is done with rq (committed, failed, or never queued): answer it unless it was
 * answered already, or free it when its connection is gone. */
static void pending_done(struct request *rq, enum store_result result, long long id)
{
    pthread_mutex_lock(&pending_lock);
    rq->job_pending = 0;
    if (rq->orphaned) {
        pthread_mutex_unlock(&pending_lock);
        free(rq);
        return;
    }
    if (!rq->resumed) {
        rq->result = result;
        rq->id = id;
        rq->resumed = 1;
        pending_unlink(rq);
        MHD_resume_connection(rq->conn);
    }
    pthread_mutex_unlock(&pending_lock);
}

int ingest_stop(void)
{
    int n = 0;

    pthread_mutex_lock(&pending_lock);
    pending_closed = 1;
    while (pending) {
        struct request *rq = pending;
        pending_unlink(rq);
        rq->result = STORE_ERROR;
        rq->resumed = rq->abandoned = 1;
        MHD_resume_connection(rq->conn);
        n++;
    }
    pthread_mutex_unlock(&pending_lock);
    return n;
}

int ingest_release(struct request *rq)
{
    int now;

    pthread_mutex_lock(&pending_lock);
    pending_unlink(rq);
    rq->orphaned = rq->job_pending;
    now = !rq->job_pending;
    pthread_mutex_unlock(&pending_lock);
    return now;
}

/* Runs in the writer's thread. Counted here, at the commit, so the metrics match the store
 * even when a sender hangs up before its answer. */
static void on_committed(void *arg, enum store_result result, long long id)
{
    struct request *rq = arg;
    if (rq->is_collect)
        metrics_collect(result == STORE_OK ? "stored" : "unavailable");
    else
        metrics_webhook(rq->source_id, webhook_status(result));
    pending_done(rq, result, id);
}

static enum MHD_Result reply_stopping(struct MHD_Connection *conn)
{
    return http_reply_retry_later(conn, "stopping, retry later");
}

static enum MHD_Result reply_unavailable(struct MHD_Connection *conn)
{
    return http_reply_retry_later(conn, "store unavailable, retry later");
}

/* Answers a webhook the source did not turn into a conversion. */
static enum MHD_Result webhook_refused(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                       const char *source, enum source_result r, const char *why)
{
    char q[300];
    log_quote(why, q, sizeof q);
    switch (r) {
    case SOURCE_IGNORED:
    case SOURCE_PING: {
        const char *reason = r == SOURCE_PING ? "ping" : why;
        ingest_log_delivery(ctx, conn, source, 200, "ignored", reason, NULL, 0);
        json_t *o = json_pack("{s:s,s:s}", "status", "ignored", "reason", reason);
        char *t = json_dumps(o, JSON_COMPACT);
        log_info("webhook ignored", "source=%s reason=%s", source, r == SOURCE_PING ? "ping" : q);
        metrics_webhook(source, r == SOURCE_PING ? "ping" : "ignored");
        enum MHD_Result ret =
            http_reply_json(conn, MHD_HTTP_OK, t ? t : "{\"status\":\"ignored\"}");
        free(t);
        json_decref(o);
        return ret;
    }
    case SOURCE_UNAUTHORIZED:
        log_limited(LOG_LVL_WARN, source, "webhook refused: bad signature",
                    "source=%s status=401 reason=%s", source, q);
        ingest_log_delivery(ctx, conn, source, 401, "unauthorized", why, NULL, 0);
        metrics_webhook(source, "unauthorized");
        return http_reply_error(conn, MHD_HTTP_UNAUTHORIZED, "bad or missing signature");
    case SOURCE_BAD_MEDIA:
        log_limited(LOG_LVL_WARN, source, "webhook refused: content type",
                    "source=%s status=415 reason=%s", source, q);
        ingest_log_delivery(ctx, conn, source, 415, "unsupported_media", why, NULL, 0);
        metrics_webhook(source, "unsupported_media");
        return http_reply_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported content type");
    case SOURCE_OK:
    case SOURCE_BAD_REQUEST:
    default:
        log_limited(LOG_LVL_WARN, source, "webhook refused: malformed body",
                    "source=%s status=400 reason=%s", source, q);
        ingest_log_delivery(ctx, conn, source, 400, "bad_request", why, NULL, 0);
        metrics_webhook(source, "bad_request");
        return http_reply_error(conn, MHD_HTTP_BAD_REQUEST, why[0] ? why : "malformed body");
    }
}

enum MHD_Result ingest_webhook(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *source_id, struct request *rq)
{
    struct config *cfg = daemon_config(ctx);
    const struct source_cfg *src = config_find_source(cfg, source_id);
    struct conversion c;
    char why[200] = "";
    enum MHD_Result ret;

    memset(&c, 0, sizeof c);
    if (!src) {
        char q[200];
        log_limited(LOG_LVL_WARN, source_id,
                    "webhook for unknown source: no sources entry has this id",
                    "source=%s status=404", log_quote(source_id, q, sizeof q));
        ingest_log_delivery(ctx, conn, source_id, 404, "not_found",
                            "no source with this id in the configuration", NULL, 0);
        metrics_webhook("unknown", "not_found");
        ret = http_reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown source");
        goto out;
    }
    struct webhook_request req = {.body = rq->body ? rq->body : "",
                                  .len = rq->len,
                                  .content_type = MHD_lookup_connection_value(
                                      conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                                  .header = request_header,
                                  .ctx = conn,
                                  .now = time(NULL)};
    enum source_result r = source_handle(src, &req, &c, why, sizeof why);
    if (r != SOURCE_OK) {
        ret = webhook_refused(ctx, conn, src->id, r, why);
        goto out;
    }
    /* TikTok needs an event_time and does not take one from the future. */
    long long now_s = (long long)time(NULL);
    if (c.event_time <= 0 || c.event_time > now_s + 600)
        c.event_time = now_s;
    STR_SET(rq->source_id, src->id);
    STR_SET(rq->kind, conversion_kind_name(c.kind));
    STR_SET(rq->delivery, c.delivery_id[0] ? c.delivery_id : "-");
    rq->wake_forwarder = cfg->hold_s == 0;
    if (pending_add(rq) < 0) {
        ret = reply_stopping(conn);
        goto out;
    }
    if (store_submit_conversion(ctx->st, &c, src->pixel, c.test,
                                clock_wall_ms() + cfg->hold_s * 1000, on_committed, rq) < 0)
        pending_done(rq, STORE_ERROR, 0);
    ret = MHD_YES;
out:
    conversion_clear(&c);
    config_drop(cfg);
    return ret;
}

static enum MHD_Result webhook_finish(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                      struct request *rq)
{
    char text[128];
    if (rq->abandoned) {
        log_warn("webhook not stored: stopping", "source=%s status=503", rq->source_id);
        return reply_stopping(conn);
    }
    if (rq->result == STORE_ERROR) {
        log_error("webhook not stored: store unavailable", "source=%s status=503", rq->source_id);
        ingest_log_delivery(ctx, conn, rq->source_id, 503, "unavailable", "store unavailable",
                            rq->delivery, 0);
        return reply_unavailable(conn);
    }
    char q[200];
    log_info(rq->result == STORE_OK ? "webhook accepted" : "webhook duplicate",
             "source=%s kind=%s id=%lld delivery=%s", rq->source_id, rq->kind, rq->id,
             log_quote(rq->delivery, q, sizeof q));
    ingest_log_delivery(ctx, conn, rq->source_id, 200, webhook_status(rq->result), "", rq->delivery,
                        rq->id);
    if (rq->result == STORE_OK && rq->wake_forwarder)
        forwarder_wake(ctx->fw);
    snprintf(text, sizeof text, "{\"status\":\"%s\",\"id\":%lld}", webhook_status(rq->result),
             rq->id);
    return http_reply_json(conn, MHD_HTTP_OK, text);
}

/* result: the metrics label, or NULL when already counted at the commit. */
static enum MHD_Result reply_collect(struct MHD_Connection *conn, unsigned int status,
                                     const char *origin, const char *result)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (result)
        metrics_collect(result);
    if (r && origin && origin[0]) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    return http_reply(conn, status, r);
}

static enum MHD_Result reply_preflight(struct MHD_Connection *conn, const char *origin)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r && origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type");
        MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    }
    return http_reply(conn, MHD_HTTP_NO_CONTENT, r);
}

/* Region of the first Accept-Language tag ("en-US,en;q=0.9" -> "US"), for national phones. */
static void language_country(struct MHD_Connection *conn, char out[3])
{
    const char *al = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language");
    out[0] = '\0';
    if (!al)
        return;
    const char *dash = strpbrk(al, "-_");
    const char *stop = strpbrk(al, ",;");
    if (dash && (!stop || dash < stop) && dash[1] && dash[2] &&
        (!dash[3] || strchr(",;", dash[3]))) {
        out[0] = dash[1];
        out[1] = dash[2];
        out[2] = '\0';
    }
}

static int collect_type_ok(const char *ct)
{
    return !ct || strncasecmp(ct, "application/json", 16) == 0 ||
           strncasecmp(ct, "text/plain", 10) == 0;
}

enum MHD_Result ingest_collect(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *method, struct request *rq)
{
    struct config *cfg = daemon_config(ctx);
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *allowed = origin && config_origin_allowed(cfg, origin) ? origin : NULL;
    enum MHD_Result ret;
    char ip[64], key[64], country[3], why[160], q[200];
    struct touch t;

    if (origin && !allowed) {
        char qo[300];
        log_limited(LOG_LVL_WARN, origin,
                    "collect refused: origin not allowed; add it to collect.allowed_origins "
                    "and reload if it is your site",
                    "status=403 origin=%s key=collect.allowed_origins",
                    log_quote(origin, qo, sizeof qo));
        ret = reply_collect(conn, MHD_HTTP_FORBIDDEN, NULL, "forbidden");
        goto out;
    }
    if (strcmp(method, "OPTIONS") == 0) {
        ret = reply_preflight(conn, allowed);
        goto out;
    }
    request_client_ip(cfg, conn, ip, sizeof ip);
    header_rate_key(ip, key, sizeof key);
    if (!ratelimit_allow(ctx->rl, key, cfg->collect_rate_per_s, cfg->collect_burst,
                         clock_mono_ms())) {
        /* One client address for every browser means the proxy is not trusted. */
        log_limited(LOG_LVL_WARN, ip,
                    "collect refused: rate limited (collect.rate_per_s, collect.burst; behind a "
                    "proxy, list it in collect.trusted_proxies)",
                    "status=429 ip=%s", ip);
        ret = reply_collect(conn, MHD_HTTP_TOO_MANY_REQUESTS, allowed, "rate_limited");
        goto out;
    }
    if (!collect_type_ok(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        ret = reply_collect(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, allowed, "unsupported_media");
        goto out;
    }
    language_country(conn, country);
    if (collect_parse(rq->body ? rq->body : "", rq->len, country, cfg->collect_phone_country, &t,
                      why, sizeof why) < 0) {
        log_limited(LOG_LVL_WARN, ip, "collect refused: malformed body", "status=400 reason=%s",
                    log_quote(why, q, sizeof q));
        ret = reply_collect(conn, MHD_HTTP_BAD_REQUEST, allowed, "bad_request");
        goto out;
    }
    STR_SET(t.ip, ip);
    /* Stored and later put into TikTok's JSON: what jansson would refuse is dropped here,
     * or one beacon could make every conversion of its visitor unsendable. */
    if (header_copy_text(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT),
            t.user_agent, sizeof t.user_agent) < 0)
        log_info("collect: user agent dropped, not clean text", "vid=%s", t.vid);
    t.ts = time(NULL);
    rq->is_collect = 1;
    rq->wake_forwarder = t.order_id[0] != '\0';
    STR_SET(rq->origin, allowed);
    if (pending_add(rq) < 0) {
        ret = reply_stopping(conn);
        goto out;
    }
    if (store_submit_touch(ctx->st, &t, on_committed, rq) < 0)
        pending_done(rq, STORE_ERROR, 0);
    ret = MHD_YES;
out:
    config_drop(cfg);
    return ret;
}

enum MHD_Result ingest_finish(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                              struct request *rq)
{
    rq->waiting = 0;
    if (!rq->is_collect)
        return webhook_finish(ctx, conn, rq);
    if (rq->result != STORE_OK)
        return reply_collect(conn, MHD_HTTP_SERVICE_UNAVAILABLE, rq->origin, NULL);
    if (rq->wake_forwarder)
        forwarder_wake(ctx->fw);
    return reply_collect(conn, MHD_HTTP_NO_CONTENT, rq->origin, NULL);
}
