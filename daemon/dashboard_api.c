/* The admin API endpoints the dashboard reads (ttrelayctl and scripts may too): health,
 * event search, attempts, match quality over time, reconciliation and sources. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "dashboard.h"
#include "forwarder.h"
#include "reply.h"
#include "store.h"

#define MERGE_WINDOW_S 300 /* TikTok merges browser and server copies within 5 minutes */
#define SILENT_AFTER_S 86400
#define KEYS 7
static const char *key_names[KEYS] = {"event_id", "order_ref", "vid", "email",
                                      "phone",    "ip_ua",     "none"};

/* Steals o. */
static int reply(json_t *o, int status, struct MHD_Response **resp)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    *resp = http_json_response(text ? text : "{}");
    free(text);
    return status;
}

static int reply_error(int status, const char *msg, struct MHD_Response **resp)
{
    return reply(json_pack("{s:s}", "error", msg), status, resp);
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    return v && *v ? v : NULL;
}

static long long arg_ll(struct MHD_Connection *conn, const char *key, long long def, long long min,
                        long long max)
{
    const char *v = arg(conn, key);
    char *end;
    if (!v)
        return def;
    long long n = strtoll(v, &end, 10);
    if (*end || n < min)
        return min;
    return n > max ? max : n;
}

static json_t *ms_s(long long ms)
{
    return ms ? json_integer(ms / 1000) : json_null();
}

static int get_health(struct daemon_ctx *ctx, struct MHD_Response **resp)
{
    long long counts[EV_STATE_COUNT], oldest = 0, now = clock_wall_ms();
    struct store_latest *sent = NULL, *recv = NULL;
    struct config *cfg = daemon_config(ctx);
    json_t *c = json_object(), *sources = json_array(), *reload;
    char *ptext = forwarder_pixels_json(ctx->fw), reason[256];
    json_t *pixels = ptext ? json_loads(ptext, 0, NULL) : NULL;
    int nsent = store_view_latest(ctx->st, "pixel", &sent);
    int nrecv = store_view_latest(ctx->st, "source", &recv);
    int refused;
    long long reload_ms = dashboard_last_reload(&refused, reason, sizeof reason);

    free(ptext);
    store_counts(ctx->st, counts, &oldest);
    for (int i = 0; i < EV_STATE_COUNT; i++)
        json_object_set_new(c, store_state_name((enum event_state)i), json_integer(counts[i]));
    size_t i;
    json_t *p;
    json_array_foreach(pixels, i, p)
    {
        long long last = 0;
        for (int j = 0; j < nsent; j++)
            if (strcmp(sent[j].name, json_string_value(json_object_get(p, "pixel"))) == 0)
                last = sent[j].ms;
        json_object_set_new(p, "last_success", ms_s(last));
    }
    for (int s = 0; s < cfg->nsources; s++) {
        long long last = 0;
        for (int j = 0; j < nrecv; j++)
            if (strcmp(recv[j].name, cfg->sources[s].id) == 0)
                last = recv[j].ms;
        json_array_append_new(sources,
                              json_pack("{s:s,s:s,s:s,s:o,s:b}", "id", cfg->sources[s].id, "type",
                                        cfg->sources[s].type, "pixel", cfg->sources[s].pixel,
                                        "last_accepted", ms_s(last), "silent",
                                        !last || now - last > SILENT_AFTER_S * 1000LL));
    }
    reload = reload_ms ? json_pack("{s:I,s:b,s:s}", "at", (json_int_t)(reload_ms / 1000), "refused",
                                   refused, "reason", reason)
                       : json_null();
    json_t *o = json_pack(
        "{s:I,s:s,s:b,s:f,s:o,s:o,s:I,s:f,s:i,s:{s:b},s:o,s:o}", "now", (json_int_t)(now / 1000),
        "version", TTR_VERSION, "dry_run", cfg->dry_run, "uptime_s", clock_mono_s() - ctx->started,
        "pixels", pixels ? pixels : json_array(), "counts", c, "queue_depth",
        (json_int_t)(counts[EV_HELD] + counts[EV_READY] + counts[EV_RETRY]), "oldest_queued_age_s",
        oldest ? (double)(now - oldest) / 1000.0 : 0.0, "merge_window_s", MERGE_WINDOW_S, "store",
        "writable", store_writable(ctx->st), "reload", reload, "sources", sources);
    free(sent);
    free(recv);
    config_drop(cfg);
    return reply(o, MHD_HTTP_OK, resp);
}

static json_t *list_json(const struct event_row *r)
{
    json_t *conv = r->data ? json_loads(r->data, 0, NULL) : NULL;
    const char *order = json_string_value(json_object_get(conv, "order_id"));
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:i,s:s,s:s,s:s,s:s}", "id",
                          (json_int_t)r->id, "source", r->source, "kind", r->kind, "object_id",
                          r->object_id, "order_id", order ? order : "", "pixel", r->pixel, "state",
                          store_state_name(r->state), "test", r->test, "received_at",
                          (json_int_t)(r->received_ms / 1000), "event_time",
                          (json_int_t)r->event_time, "sent_at", ms_s(r->sent_ms), "attempts",
                          r->attempts, "event_name", r->event_name, "event_id", r->event_id,
                          "matched_by", r->matched_by, "last_error", r->last_error);
    json_decref(conv);
    return o;
}

/* The list's filter from the query string: state, source, pixel, kind, since/until (unix
 * seconds), q, test=1. */
static int read_filter(struct MHD_Connection *conn, struct store_filter *f)
{
    enum event_state s;
    const char *state = arg(conn, "state");
    memset(f, 0, sizeof *f);
    f->state = -1;
    if (state) {
        if (store_state_parse(state, &s) < 0)
            return -1;
        f->state = (int)s;
    }
    f->source = arg(conn, "source");
    f->pixel = arg(conn, "pixel");
    f->kind = arg(conn, "kind");
    f->q = arg(conn, "q");
    f->since_ms = arg_ll(conn, "since", 0, 0, 1LL << 40) * 1000;
    f->until_ms = arg_ll(conn, "until", 0, 0, 1LL << 40) * 1000;
    f->include_test = arg_ll(conn, "test", 1, 0, 1) != 0;
    return 0;
}

static int get_find(struct daemon_ctx *ctx, struct MHD_Connection *conn, struct MHD_Response **resp)
{
    struct store_filter f;
    long long *ids = NULL, total = 0, dead = 0, too_old = 0;
    int offset = (int)arg_ll(conn, "offset", 0, 0, 1 << 30);
    int limit = (int)arg_ll(conn, "limit", 50, 1, 1000);

    if (read_filter(conn, &f) < 0)
        return reply_error(MHD_HTTP_BAD_REQUEST, "unknown state", resp);
    int n = store_view_find(ctx->st, &f, offset, limit, &ids, &total);
    struct config *cfg = daemon_config(ctx);
    long long oldest_ok = (long long)time(NULL) - cfg->max_age_s;
    config_drop(cfg);
    if (n < 0 || store_view_dead_count(ctx->st, &f, oldest_ok, &dead, &too_old) < 0) {
        free(ids);
        return reply_error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        struct event_row r;
        if (store_get_event(ctx->st, ids[i], &r) != 1)
            continue;
        json_t *o = list_json(&r);
        json_object_set_new(
            o, "replayable",
            json_boolean((r.state == EV_DEAD || r.state == EV_RETRY) && r.event_time >= oldest_ok));
        json_array_append_new(arr, o);
        free(r.data);
        free(r.payload);
        free(r.match_info);
    }
    free(ids);
    return reply(json_pack("{s:I,s:i,s:i,s:o,s:{s:I,s:I},s:I}", "total", (json_int_t)total,
                           "offset", offset, "limit", limit, "events", arr, "dead", "count",
                           (json_int_t)dead, "too_old", (json_int_t)too_old, "oldest_event_time",
                           (json_int_t)oldest_ok),
                 MHD_HTTP_OK, resp);
}

static int get_attempts(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                        struct MHD_Response **resp)
{
    struct store_attempt *a = NULL;
    long long id = arg_ll(conn, "id", 0, 0, 1LL << 62);
    if (!id)
        return reply_error(MHD_HTTP_BAD_REQUEST, "id is required", resp);
    int n = store_view_attempts(ctx->st, id, &a);
    if (n < 0)
        return reply_error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:f,s:I,s:o,s:s,s:s,s:I,s:s,s:i}", "at",
                                             (double)a[i].at_ms / 1000.0, "http_status",
                                             (json_int_t)a[i].http_status, "code",
                                             a[i].code >= 0 ? json_integer(a[i].code) : json_null(),
                                             "message", a[i].message, "request_id", a[i].request_id,
                                             "latency_ms", (json_int_t)a[i].latency_ms, "outcome",
                                             a[i].outcome, "batch", a[i].batch));
    free(a);
    return reply(json_pack("{s:I,s:o}", "id", (json_int_t)id, "attempts", arr), MHD_HTTP_OK, resp);
}

struct bucket {
    long long conversions, browser, matched[KEYS], with[5];
    long long *delays;
    int ndelays;
};

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static json_t *percentile_s(long long *v, int n, double p)
{
    if (n == 0)
        return json_null();
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    return json_real((double)v[(int)(p * (n - 1) + 0.5)] / 1000.0);
}

static json_t *share(long long part, long long whole)
{
    return whole ? json_real((double)part / (double)whole) : json_null();
}

static void bucket_add(struct bucket *b, const struct event_row *r)
{
    static const char *keys[5][2] = {
        {"ttclid", NULL}, {"ttp", NULL}, {"email", NULL}, {"phone", NULL}, {"ip", "user_agent"}};
    json_t *p = r->payload ? json_loads(r->payload, 0, NULL) : NULL;
    json_t *user = json_object_get(p, "user");

    b->conversions++;
    for (int i = 0; i < KEYS; i++)
        if (strcmp(r->matched_by[0] ? r->matched_by : "none", key_names[i]) == 0)
            b->matched[i]++;
    /* The server copy carries the browser's event_id whenever a touch or the webhook's own
     * event_id decided it. */
    if (r->matched_by[0] && strcmp(r->matched_by, "none") != 0)
        b->browser++;
    for (int i = 0; i < 5; i++)
        if (json_object_get(user, keys[i][0]) && (!keys[i][1] || json_object_get(user, keys[i][1])))
            b->with[i]++;
    if (r->state == EV_SENT && r->sent_ms > r->received_ms && b->delays)
        b->delays[b->ndelays++] = r->sent_ms - r->received_ms;
    json_decref(p);
}

static json_t *series_json(struct bucket *bk, int nb, long long start, long long step)
{
    static const char *with[5] = {"ttclid", "ttp", "email", "phone", "ip_ua"};
    json_t *t = json_array(), *conv = json_array(), *browser = json_array(), *p50 = json_array(),
           *p95 = json_array(), *matched = json_object(), *cover = json_object();
    json_t *m[KEYS], *w[5];
    for (int k = 0; k < KEYS; k++)
        json_object_set_new(matched, key_names[k], m[k] = json_array());
    for (int k = 0; k < 5; k++)
        json_object_set_new(cover, with[k], w[k] = json_array());
    for (int i = 0; i < nb; i++) {
        struct bucket *b = &bk[i];
        json_array_append_new(t, json_integer(start + i * step));
        json_array_append_new(conv, json_integer(b->conversions));
        json_array_append_new(browser, share(b->browser, b->conversions));
        for (int k = 0; k < KEYS; k++)
            json_array_append_new(m[k], share(b->matched[k], b->conversions));
        for (int k = 0; k < 5; k++)
            json_array_append_new(w[k], share(b->with[k], b->conversions));
        json_array_append_new(p50, percentile_s(b->delays, b->ndelays, 0.5));
        json_array_append_new(p95, percentile_s(b->delays, b->ndelays, 0.95));
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "t", t, "conversions", conv,
                     "browser_event_id", browser, "matched_by", matched, "with", cover,
                     "delay_p50_s", p50, "delay_p95_s", p95);
}

/* Match quality per hour or day, for one source or all: shares of conversions (0..1). */
static int get_timeseries(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                          struct MHD_Response **resp)
{
    const char *unit = arg(conn, "bucket");
    int hourly = unit && strcmp(unit, "hour") == 0;
    long long step = hourly ? 3600 : 86400;
    int nb = (int)arg_ll(conn, "buckets", hourly ? 48 : 30, 1, hourly ? 24 * 31 : 366);
    const char *source = arg(conn, "source");
    long long now = clock_wall_ms() / 1000, start = (now / step - (nb - 1)) * step;
    struct event_row *rows = NULL;
    int n = store_report_rows(ctx->st, start * 1000, &rows);
    struct bucket *bk = calloc((size_t)nb, sizeof *bk);

    if (n < 0 || !bk) {
        store_row_free(rows, n < 0 ? 0 : n);
        free(bk);
        return reply_error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    }
    for (int i = 0; i < n; i++) {
        long long at = rows[i].received_ms / 1000;
        int b = (int)((at - start) / step);
        if (rows[i].test || b < 0 || b >= nb || (source && strcmp(source, rows[i].source)))
            continue;
        if (!bk[b].delays)
            bk[b].delays = calloc((size_t)n, sizeof(long long));
        bucket_add(&bk[b], &rows[i]);
    }
    json_t *o = series_json(bk, nb, start, step);
    json_object_set_new(o, "bucket_s", json_integer(step));
    json_object_set_new(o, "source", json_string(source ? source : ""));
    for (int b = 0; b < nb; b++)
        free(bk[b].delays);
    free(bk);
    store_row_free(rows, n);
    return reply(o, MHD_HTTP_OK, resp);
}

static json_t *recon_row(json_t *days, const char *day, const char *source)
{
    char key[128];
    snprintf(key, sizeof key, "%s|%s", day, source);
    json_t *r = json_object_get(days, key);
    if (!r) {
        r = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:{}}", "day", day, "source", source,
                      "received", 0, "sent", 0, "accepted", 0, "dry_run", 0, "ignored", 0, "dead",
                      0, "pending", 0, "ignored_reasons");
        json_object_set_new(days, key, r);
    }
    return r;
}

static void bump(json_t *o, const char *key)
{
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + 1));
}

/* Per day (UTC) and source: received vs sent vs accepted by TikTok vs ignored vs dead. */
static int get_reconciliation(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                              struct MHD_Response **resp)
{
    long long days_n = arg_ll(conn, "days", 14, 1, 366);
    long long start = (clock_wall_ms() / 1000 / 86400 - (days_n - 1)) * 86400;
    struct event_row *rows = NULL;
    int n = store_report_rows(ctx->st, start * 1000, &rows);
    if (n < 0)
        return reply_error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    json_t *days = json_object();
    for (int i = 0; i < n; i++) {
        const struct event_row *r = &rows[i];
        time_t at = (time_t)(r->received_ms / 1000);
        struct tm tm;
        char day[16];
        if (r->test)
            continue; /* test events prove the pipeline; they are not orders */
        gmtime_r(&at, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        json_t *row = recon_row(days, day, r->source);
        bump(row, "received");
        if (r->state == EV_SENT || r->attempts > 0)
            bump(row, "sent");
        if (r->state == EV_SENT)
            bump(row, "accepted");
        if (r->state == EV_DRY_RUN)
            bump(row, "dry_run");
        if (r->state == EV_DEAD)
            bump(row, "dead");
        if (r->state == EV_HELD || r->state == EV_READY || r->state == EV_RETRY)
            bump(row, "pending");
        if (r->state == EV_IGNORED) {
            bump(row, "ignored");
            bump(json_object_get(row, "ignored_reasons"), r->last_error[0] ? r->last_error : "?");
        }
    }
    store_row_free(rows, n);
    json_t *arr = json_array(), *v;
    const char *k;
    json_object_foreach(days, k, v) json_array_append(arr, v);
    json_decref(days);
    return reply(json_pack("{s:I,s:o}", "days", (json_int_t)days_n, "rows", arr), MHD_HTTP_OK,
                 resp);
}

static json_t *recent_of(struct daemon_ctx *ctx, const char *source)
{
    struct store_filter f = {.state = -1, .source = source, .include_test = 1};
    long long *ids = NULL, total = 0;
    json_t *arr = json_array();
    int n = store_view_find(ctx->st, &f, 0, 10, &ids, &total);
    for (int i = 0; i < n; i++) {
        struct event_row r;
        if (store_get_event(ctx->st, ids[i], &r) != 1)
            continue;
        json_array_append_new(arr, list_json(&r));
        free(r.data);
        free(r.payload);
        free(r.match_info);
    }
    free(ids);
    return arr;
}

/* Each source with its webhook path, last accepted delivery and latest events (its
 * deliveries, refused ones included, are in GET /admin/deliveries). */
static int get_sources(struct daemon_ctx *ctx, struct MHD_Response **resp)
{
    struct config *cfg = daemon_config(ctx);
    struct store_latest *recv = NULL;
    int nrecv = store_view_latest(ctx->st, "source", &recv);
    json_t *arr = json_array(), *pixels = json_array();
    char path[128];

    for (int s = 0; s < cfg->nsources; s++) {
        const struct source_cfg *sc = &cfg->sources[s];
        long long last = 0;
        for (int j = 0; j < nrecv; j++)
            if (strcmp(recv[j].name, sc->id) == 0)
                last = recv[j].ms;
        snprintf(path, sizeof path, "/webhooks/%s", sc->id);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "id", sc->id, "type", sc->type, "kind",
                           conversion_kind_name(sc->kind), "pixel", sc->pixel, "webhook_path", path,
                           "last_accepted", ms_s(last), "recent", recent_of(ctx, sc->id)));
    }
    for (int p = 0; p < cfg->npixels; p++)
        json_array_append_new(pixels,
                              json_pack("{s:s,s:b}", "pixel", cfg->pixels[p].code,
                                        "test_event_code", cfg->pixels[p].test_event_code[0] != 0));
    free(recv);
    config_drop(cfg);
    return reply(json_pack("{s:o,s:o,s:b}", "sources", arr, "pixels", pixels, "delivery_log", 1),
                 MHD_HTTP_OK, resp);
}

int dashboard_api(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                  const char *url, const char *body, size_t len, struct MHD_Response **resp)
{
    static const char *routes[] = {"/admin/health",     "/admin/find",           "/admin/attempts",
                                   "/admin/timeseries", "/admin/reconciliation", "/admin/sources"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i]) != 0)
            continue;
        if (strcmp(method, "GET") != 0)
            return reply_error(MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", resp);
        switch (i) {
        case 0: return get_health(ctx, resp);
        case 1: return get_find(ctx, conn, resp);
        case 2: return get_attempts(ctx, conn, resp);
        case 3: return get_timeseries(ctx, conn, resp);
        case 4: return get_reconciliation(ctx, conn, resp);
        default: return get_sources(ctx, resp);
        }
    }
    return 0;
}
