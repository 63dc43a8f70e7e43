/* The admin API (behind the admin token): status, metrics, events, replay, the
 * match-quality report, test events and touches. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "dashboard.h"
#include "forwarder.h"
#include "log.h"
#include "match.h"
#include "metrics.h"
#include "procstat.h"
#include "reply.h"
#include "store.h"
#include "tiktok.h"
#include "utf8.h"

#define MATCH_RULES 7
static const char *rules[MATCH_RULES] = {"event_id", "order_ref", "vid", "email",
                                         "phone",    "ip_ua",     "none"};

static double uptime_s(const struct daemon_ctx *ctx)
{
    return clock_mono_s() - ctx->started;
}

/* Steals o. */
static int respond(json_t *o, int status, struct MHD_Response **resp)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *resp = http_json_response(text ? text : "{}");
    free(text);
    return status;
}

static int error(int status, const char *msg, struct MHD_Response **resp)
{
    return respond(json_pack("{s:s}", "error", msg), status, resp);
}

/* Rows written before text was checked at ingest may hold bytes jansson refuses; such a
 * row must still be listed, with '?' for what cannot be shown. */
static void event_scrub(struct event_row *r)
{
    char *text[] = {r->source,   r->kind,       r->object_id,  r->pixel,     r->event_name,
                    r->event_id, r->matched_by, r->last_error, r->request_id};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        utf8_scrub(text[i]);
}

static json_t *event_json(struct event_row *r, int full)
{
    event_scrub(r);
    json_t *o = json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:I,s:i,s:s,s:s,s:s,s:I,s:s,s:s}", "id",
        (json_int_t)r->id, "source", r->source, "kind", r->kind, "object_id", r->object_id, "pixel",
        r->pixel, "state", store_state_name(r->state), "test", r->test, "received_at",
        (json_int_t)(r->received_ms / 1000), "due_at", (json_int_t)(r->due_ms / 1000), "sent_at",
        r->sent_ms ? json_integer(r->sent_ms / 1000) : json_null(), "event_time",
        (json_int_t)r->event_time, "attempts", r->attempts, "event_name", r->event_name, "event_id",
        r->event_id, "matched_by", r->matched_by, "touch_id", (json_int_t)r->touch_id, "last_error",
        r->last_error, "request_id", r->request_id);
    if (o && full) {
        json_object_set_new(o, "payload",
                            r->payload ? json_loads(r->payload, 0, NULL) : json_null());
        json_object_set_new(o, "conversion", r->data ? json_loads(r->data, 0, NULL) : json_null());
        json_object_set_new(o, "match",
                            r->match_info ? json_loads(r->match_info, 0, NULL) : json_null());
    }
    return o;
}

static long query_long(struct MHD_Connection *conn, const char *key, long def, long min, long max)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    char *end;
    if (!v || !*v)
        return def;
    long n = strtol(v, &end, 10);
    if (*end || n < min)
        return min;
    return n > max ? max : n;
}

/* Instances seen recently: running, silent (no heartbeat for INSTANCE_SILENT_MS: a dead
 * machine or a cut network) or stopped (a clean stop). */
#define INSTANCES_SINCE_MS (10 * 60 * 1000)
#define INSTANCE_SILENT_MS 30000

static json_t *instances_json(struct daemon_ctx *ctx)
{
    struct store_instance *in = NULL;
    long long now = clock_wall_ms();
    int n = store_instances(ctx->st, now - INSTANCES_SINCE_MS, &in);
    json_t *arr = json_array();

    for (int i = 0; arr && i < n; i++) {
        const char *state = in[i].stopped_ms                            ? "stopped"
                            : now - in[i].seen_ms > INSTANCE_SILENT_MS ? "silent"
                                                                        : "running";
        utf8_scrub(in[i].id);
        utf8_scrub(in[i].host);
        utf8_scrub(in[i].version);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:s,s:i,s:i}", "id", in[i].id, "host",
                           in[i].host, "pid", (json_int_t)in[i].pid, "version", in[i].version,
                           "started", (json_int_t)(in[i].started_ms / 1000), "seen",
                           (json_int_t)(in[i].seen_ms / 1000), "state", state, "public_port",
                           in[i].public_port, "admin_port", in[i].admin_port));
    }
    free(in);
    return arr;
}

static int get_status(struct daemon_ctx *ctx, struct MHD_Response **resp)
{
    long long counts[EV_STATE_COUNT], oldest;
    struct config *cfg = daemon_config(ctx);
    json_t *c = json_object();

    store_counts(ctx->st, counts, &oldest);
    for (int i = 0; i < EV_STATE_COUNT; i++)
        json_object_set_new(c, store_state_name((enum event_state)i), json_integer(counts[i]));
    char *pixels = forwarder_pixels_json(ctx->fw);
    json_t *o =
        json_pack("{s:s,s:f,s:b,s:o,s:I,s:f,s:I,s:o,s:I}", "version", TTR_VERSION, "uptime_s",
                  uptime_s(ctx), "dry_run", cfg->dry_run, "counts", c, "queue_depth",
                  (json_int_t)(counts[EV_HELD] + counts[EV_READY] + counts[EV_RETRY]),
                  "oldest_queued_age_s", oldest ? (double)(clock_wall_ms() - oldest) / 1000.0 : 0.0,
                  "touches", (json_int_t)store_touch_count(ctx->st), "pixels",
                  pixels ? json_loads(pixels, 0, NULL) : json_array(), "forwarder_idle_ms",
                  (json_int_t)forwarder_idle_ms(ctx->fw));
    free(pixels);
    /* Where webhooks are received (the bound port when listen.port is 0): send-test posts there. */
    json_object_set_new(
        o, "listen",
        json_pack("{s:s,s:i}", "address", cfg->listen_address, "port", ctx->public_port));
    json_object_set_new(o, "instance", json_string(forwarder_instance(ctx->fw)));
    json_object_set_new(o, "backend", json_string(store_backend_name(ctx->st)));
    json_object_set_new(o, "instances", instances_json(ctx));
    config_drop(cfg);
    return respond(o, MHD_HTTP_OK, resp);
}

static int get_metrics(struct daemon_ctx *ctx, struct MHD_Response **resp)
{
    struct metrics_gauges g = {0};
    long long oldest;
    store_counts(ctx->st, g.events_by_state, &oldest);
    g.queue_depth = g.events_by_state[EV_HELD] + g.events_by_state[EV_READY] +
                    g.events_by_state[EV_RETRY] + g.events_by_state[EV_SENDING];
    g.oldest_queued_age_s = oldest ? (double)(clock_wall_ms() - oldest) / 1000.0 : 0;
    long long due = store_oldest_due_ms(ctx->st);
    g.oldest_due_age_s = due > 0 ? (double)(clock_wall_ms() - due) / 1000.0 : 0;
    g.touches = store_touch_count(ctx->st);
    g.pixels_paused = forwarder_paused_count(ctx->fw);
    g.instance = forwarder_instance(ctx->fw);
    g.backend = store_backend_name(ctx->st);
    g.uptime_s = uptime_s(ctx);
    struct procstat ps;
    if (procstat_read(&ps) == 0)
        g.process = &ps;
    char *text = metrics_render(&g);
    *resp = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (void *)"",
                                            text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (*resp)
        MHD_add_response_header(*resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    return MHD_HTTP_OK;
}

static int get_events(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                      struct MHD_Response **resp)
{
    const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
    enum event_state s = EV_HELD;
    struct event_row *rows = NULL;

    if (state && *state && store_state_parse(state, &s) < 0)
        return error(MHD_HTTP_BAD_REQUEST,
                     "state must be held, ready, sent, retry, dead or ignored", resp);
    int n = store_list_events(ctx->st, state && *state ? (int)s : -1,
                              (int)query_long(conn, "limit", 50, 1, 1000), &rows);
    if (n < 0)
        return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, event_json(&rows[i], 0));
    store_row_free(rows, n);
    return respond(json_pack("{s:o}", "events", arr), MHD_HTTP_OK, resp);
}

static int event_by_id(struct daemon_ctx *ctx, const char *idtext, const char *method,
                       struct MHD_Response **resp)
{
    char *end;
    long long id = strtoll(idtext, &end, 10);
    struct event_row row;
    int replay = strcmp(end, "/replay") == 0;

    if (end == idtext || id <= 0 || (*end && !replay))
        return error(MHD_HTTP_NOT_FOUND, "not found", resp);
    if (replay != (strcmp(method, "POST") == 0))
        return error(MHD_HTTP_METHOD_NOT_ALLOWED, replay ? "use POST" : "use GET", resp);
    int found = store_get_event(ctx->st, id, &row);
    if (found <= 0)
        return error(found < 0 ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_NOT_FOUND, "no such event",
                     resp);
    if (!replay) {
        json_t *o = event_json(&row, 1);
        store_row_clear(&row);
        return respond(o, MHD_HTTP_OK, resp);
    }
    struct config *cfg = daemon_config(ctx);
    long long too_old = time(NULL) - cfg->max_age_s;
    config_drop(cfg);
    store_row_clear(&row);
    if (row.event_time < too_old)
        return error(MHD_HTTP_CONFLICT,
                     "event is older than tiktok.max_age_s: TikTok would not accept it", resp);
    int rc = store_replay(ctx->st, id, clock_wall_ms());
    if (rc != 0)
        return error(rc < 0 ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_CONFLICT,
                     "only dead or retrying events can be replayed", resp);
    char q[200];
    log_info("event replayed", "id=%lld event_id=%s", id, log_quote(row.event_id, q, sizeof q));
    forwarder_wake(ctx->fw);
    return respond(json_pack("{s:s,s:I}", "status", "replayed", "id", (json_int_t)id), MHD_HTTP_OK,
                   resp);
}

static int post_replay(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                       struct MHD_Response **resp)
{
    const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
    const char *pixel = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pixel");
    struct config *cfg = daemon_config(ctx);
    long long oldest_ok = (long long)time(NULL) - cfg->max_age_s;
    int dry_run = cfg->dry_run;
    config_drop(cfg);

    if (state && strcmp(state, "dead") != 0 && strcmp(state, "dry_run") != 0)
        return error(MHD_HTTP_BAD_REQUEST,
                     "only state=dead or state=dry_run can be replayed in bulk", resp);
    int from_dry_run = state && strcmp(state, "dry_run") == 0;
    if (from_dry_run && dry_run)
        return error(MHD_HTTP_CONFLICT,
                     "still in dry run: set tiktok.dry_run = false and reload, then replay", resp);
    long since = query_long(conn, "since", 0, 0, 4102444800L);
    long until = query_long(conn, "until", 4102444800L, 0, 4102444800L);
    /* Events TikTok would no longer accept stay dead. */
    if (since < oldest_ok)
        since = (long)oldest_ok;
    int n = from_dry_run ? store_replay_dry_run(ctx->st, pixel, (long long)since * 1000,
                                                (long long)until * 1000, clock_wall_ms())
                         : store_replay_dead(ctx->st, pixel, (long long)since * 1000,
                                             (long long)until * 1000, clock_wall_ms());
    if (n < 0)
        return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    char q[200];
    log_info(from_dry_run ? "dry-run events queued for sending" : "dead events replayed",
             "count=%d pixel=%s", n, log_quote(pixel ? pixel : "any", q, sizeof q));
    forwarder_wake(ctx->fw);
    return respond(json_pack("{s:i}", "replayed", n), MHD_HTTP_OK, resp);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static double percentile(long long *v, int n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    int i = (int)(p * (n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

struct report_row {
    char source[64], kind[8];
    long long conversions, matched[MATCH_RULES], with[5], states[EV_STATE_COUNT];
    long long ldu, suppressed; /* opted-out visitors: sent with limited_data_use, not sent */
    json_t *refusals; /* reason -> count of conversions left unmatched for it */
    long long *delays;
    int ndelays;
};

static void report_add(struct report_row *rr, const struct event_row *r)
{
    static const char *keys[5][2] = {
        {"ttclid", NULL}, {"ttp", NULL}, {"email", NULL}, {"phone", NULL}, {"ip", "user_agent"}};
    json_t *p = r->payload ? json_loads(r->payload, 0, NULL) : NULL;
    json_t *user = json_object_get(p, "user");

    rr->conversions++;
    rr->states[r->state]++;
    for (int i = 0; i < MATCH_RULES; i++)
        if (strcmp(r->matched_by, rules[i]) == 0)
            rr->matched[i]++;
    for (int i = 0; i < 5; i++)
        if (json_object_get(user, keys[i][0]) && (!keys[i][1] || json_object_get(user, keys[i][1])))
            rr->with[i]++;
    if (r->state == EV_SENT && r->sent_ms > r->received_ms)
        rr->delays[rr->ndelays++] = r->sent_ms - r->received_ms;
    if (json_is_true(json_object_get(p, "limited_data_use")))
        rr->ldu++;
    if (r->state == EV_IGNORED && strcmp(r->last_error, "consent") == 0)
        rr->suppressed++;
    json_decref(p);
    json_t *info = r->match_info ? json_loads(r->match_info, 0, NULL) : NULL;
    const char *why = json_string_value(json_object_get(info, "refusal"));
    if (why && rr->refusals) {
        json_int_t seen = json_integer_value(json_object_get(rr->refusals, why));
        json_object_set_new(rr->refusals, why, json_integer(seen + 1));
    }
    json_decref(info);
}

static json_t *report_json(struct report_row *rr)
{
    json_t *m = json_object(), *w = json_object(), *s = json_object();
    static const char *with[5] = {"ttclid", "ttp", "email", "phone", "ip_ua"};
    for (int i = 0; i < MATCH_RULES; i++)
        json_object_set_new(m, rules[i], json_integer(rr->matched[i]));
    for (int i = 0; i < 5; i++)
        json_object_set_new(w, with[i], json_integer(rr->with[i]));
    for (int i = 0; i < EV_STATE_COUNT; i++)
        json_object_set_new(s, store_state_name((enum event_state)i), json_integer(rr->states[i]));
    json_t *refused = rr->refusals ? rr->refusals : json_object();
    rr->refusals = NULL;
    json_t *consent = json_pack("{s:I,s:I}", "ldu", (json_int_t)rr->ldu, "suppressed",
                                (json_int_t)rr->suppressed);
    return json_pack("{s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:f,s:f}", "source", rr->source, "kind",
                     rr->kind, "conversions", (json_int_t)rr->conversions, "matched", m, "with", w,
                     "states", s, "refusals", refused, "consent", consent, "delay_p50_s", percentile(rr->delays, rr->ndelays, 0.5), "delay_p95_s",
                     percentile(rr->delays, rr->ndelays, 0.95));
}

/* TikTok merges a server event into its pixel event only within about 5 minutes. */
#define MERGE_WINDOW_MS (5 * 60 * 1000)

/* Per pixel, the delay from each sent event's start (the matched touch, else the webhook)
 * to TikTok's acceptance: p50, p95 and the share within the merge window. New array. */
static json_t *report_pixels(const struct event_row *rows, int n)
{
    json_t *out = json_array();
    long long *delays = calloc((size_t)n + 1, sizeof *delays);
    char *done = calloc((size_t)n + 1, 1);

    for (int i = 0; out && delays && done && i < n; i++) {
        if (done[i] || rows[i].test)
            continue;
        int nd = 0, within = 0;
        for (int k = i; k < n; k++) {
            if (done[k] || rows[k].test || strcmp(rows[k].pixel, rows[i].pixel) != 0)
                continue;
            done[k] = 1;
            long long from = rows[k].origin_ms ? rows[k].origin_ms : rows[k].received_ms;
            if (rows[k].state != EV_SENT || rows[k].sent_ms < from)
                continue;
            delays[nd] = rows[k].sent_ms - from;
            within += delays[nd] <= MERGE_WINDOW_MS;
            nd++;
        }
        json_array_append_new(
            out, json_pack("{s:s,s:i,s:f,s:f,s:i}", "pixel", rows[i].pixel, "sent", nd,
                           "delay_p50_s", percentile(delays, nd, 0.5), "delay_p95_s",
                           percentile(delays, nd, 0.95), "within_merge_window", within));
    }
    free(done);
    free(delays);
    return out;
}

static int get_report(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                      struct MHD_Response **resp)
{
    long since = query_long(conn, "since", 7 * 86400, 1, 3650L * 86400);
    struct event_row *rows = NULL;
    int n = store_report_rows(ctx->st, clock_wall_ms() - (long long)since * 1000, &rows);
    if (n < 0)
        return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    struct report_row *rr = calloc((size_t)n + 1, sizeof *rr);
    int nrr = 0;
    for (int i = 0; rr && i < n; i++) {
        int j = 0;
        if (rows[i].test)
            continue; /* test events prove the pipeline; they are not conversions */
        while (j < nrr &&
               (strcmp(rr[j].source, rows[i].source) || strcmp(rr[j].kind, rows[i].kind)))
            j++;
        if (j == nrr) {
            STR_SET(rr[j].source, rows[i].source);
            STR_SET(rr[j].kind, rows[i].kind);
            rr[j].delays = calloc((size_t)n, sizeof(long long));
            rr[j].refusals = json_object();
            nrr++;
        }
        if (rr[j].delays)
            report_add(&rr[j], &rows[i]);
    }
    json_t *arr = json_array();
    for (int j = 0; j < nrr; j++) {
        json_array_append_new(arr, report_json(&rr[j]));
        free(rr[j].delays);
        json_decref(rr[j].refusals);
    }
    free(rr);
    json_t *pixels = report_pixels(rows, n);
    store_row_free(rows, n);
    return respond(json_pack("{s:I,s:o,s:o}", "since_s", (json_int_t)since, "rows", arr, "pixels",
                             pixels ? pixels : json_array()),
                   MHD_HTTP_OK, resp);
}

/* A test event goes through the normal path (store, hold, match, forwarder) so it
 * proves the whole chain, sent with the pixel's test_event_code. */
static int post_test_event(struct daemon_ctx *ctx, const char *body, size_t len,
                           struct MHD_Response **resp)
{
    struct config *cfg = daemon_config(ctx);
    json_t *in = len ? json_loadb(body, len, 0, NULL) : json_object();
    const char *pixel = json_string_value(json_object_get(in, "pixel"));
    const struct pixel_cfg *px = config_find_pixel(cfg, pixel ? pixel : cfg->default_pixel);
    struct conversion c;
    long long id = 0;
    int status;

    memset(&c, 0, sizeof c);
    if (!in || !px) {
        status = error(in ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
                       in ? "unknown pixel" : "body must be JSON", resp);
        goto out;
    }
    if (!px->test_event_code[0]) {
        /* Without it TikTok would count the test as a real conversion. */
        status = error(MHD_HTTP_CONFLICT, "the pixel has no test_event_code", resp);
        goto out;
    }
    STR_SET(c.source_id, "ttrelayctl");
    c.kind = KIND_CALL;
    snprintf(c.object_id, sizeof c.object_id, "test-%lld", clock_wall_ms());
    c.event_time = time(NULL);
    c.test = 1;
    STR_SET(c.url, "https://ttrelay.test/test-event");
    if (store_add_conversion(ctx->st, &c, px->code, 1, clock_wall_ms(), &id) != STORE_OK) {
        status = error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
        goto out;
    }
    char eid[80];
    match_default_event_id(&c, eid, sizeof eid);
    forwarder_wake(ctx->fw);
    log_info("test event queued", "id=%lld pixel=%s", id, px->code);
    status = respond(json_pack("{s:s,s:I,s:s,s:s,s:s}", "status", "queued", "id", (json_int_t)id,
                               "event_id", eid, "pixel", px->code, "test_event_code",
                               px->test_event_code),
                     MHD_HTTP_OK, resp);
out:
    json_decref(in);
    config_drop(cfg);
    return status;
}

static int get_touches(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                       struct MHD_Response **resp)
{
    const char *vid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "vid");
    struct touch_row *rows = NULL;
    if (!vid || !*vid)
        return error(MHD_HTTP_BAD_REQUEST, "vid is required", resp);
    int n = store_list_touches(ctx->st, vid, (int)query_long(conn, "limit", 100, 1, 1000), &rows);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        struct touch *t = &rows[i].t;
        char *text[] = {t->vid, t->event,      t->event_id, t->order_id, t->ttclid,
                        t->ttp, t->user_agent, t->url,      t->referrer};
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
            utf8_scrub(text[k]);
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "id",
                           (json_int_t)rows[i].id, "vid", t->vid, "event", t->event, "event_id",
                           t->event_id, "order_id", t->order_id, "email_hash", t->email_hash,
                           "phone_hash", t->phone_hash, "ttclid", t->ttclid, "ttp", t->ttp, "ip",
                           t->ip, "user_agent", t->user_agent, "url", t->url, "ts",
                           (json_int_t)t->ts, "consumed_by",
                           rows[i].consumed_by ? json_integer(rows[i].consumed_by) : json_null()));
    }
    free(rows);
    return respond(json_pack("{s:o}", "touches", arr), MHD_HTTP_OK, resp);
}

static int get_deliveries(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                          struct MHD_Response **resp)
{
    const char *source = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "source");
    struct delivery *rows = NULL;
    int n = store_list_deliveries(ctx->st, source, (int)query_long(conn, "status", 0, 0, 999),
                                  (int)query_long(conn, "limit", 50, 1, 1000), &rows);
    if (n < 0)
        return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const struct delivery *d = &rows[i];
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:i,s:s,s:s,s:s,s:o}", "time_ms", (json_int_t)d->ts_ms,
                           "source", d->source, "status", d->status, "result", d->result, "reason",
                           d->reason, "delivery_id", d->delivery_id, "conversion_id",
                           d->conversion_id ? json_integer(d->conversion_id) : json_null()));
    }
    free(rows);
    return respond(json_pack("{s:o}", "deliveries", arr), MHD_HTTP_OK, resp);
}

/* POST /admin/pixels/<pixel>/pause (optional {"reason": text}) and .../resume: a pause
 * every instance sharing the store obeys. */
static int pixel_action(struct daemon_ctx *ctx, const char *rest, const char *method,
                        const char *body, size_t len, struct MHD_Response **resp)
{
    const char *slash = strchr(rest, '/');
    char pixel[64], reason[300] = "";
    int pause = slash && strcmp(slash, "/pause") == 0, resume = slash && !strcmp(slash, "/resume");

    if (!slash || (!pause && !resume) || slash == rest || (size_t)(slash - rest) >= sizeof pixel)
        return error(MHD_HTTP_NOT_FOUND, "not found: use /admin/pixels/<pixel>/pause or /resume",
                     resp);
    if (strcmp(method, "POST") != 0)
        return error(MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", resp);
    snprintf(pixel, sizeof pixel, "%.*s", (int)(slash - rest), rest);
    struct config *cfg = daemon_config(ctx);
    int known = config_find_pixel(cfg, pixel) != NULL;
    config_drop(cfg);
    if (!known)
        return error(MHD_HTTP_NOT_FOUND, "no such pixel in the configuration", resp);
    if (pause && len > 0) {
        json_error_t jerr;
        json_t *o = json_loadb(body, len, 0, &jerr);
        json_t *r = json_object_get(o, "reason");
        int bad = !json_is_object(o) || (r && !json_is_string(r) && !json_is_null(r)) ||
                  (json_is_string(r) && json_string_length(r) >= sizeof reason);
        if (!bad && json_is_string(r))
            STR_SET(reason, json_string_value(r));
        json_decref(o);
        if (bad)
            return error(MHD_HTTP_BAD_REQUEST,
                         "body must be {\"reason\": text of fewer than 300 bytes}", resp);
    }
    if (pause) {
        if (forwarder_pause(ctx->fw, pixel, reason) < 0)
            return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
        return respond(json_pack("{s:s,s:s,s:s}", "status", "paused", "pixel", pixel, "reason",
                                 reason[0] ? reason : "paused by an operator"),
                       MHD_HTTP_OK, resp);
    }
    int rc = forwarder_resume(ctx->fw, pixel);
    if (rc < 0)
        return error(MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable", resp);
    return respond(json_pack("{s:s,s:s,s:b}", "status", "active", "pixel", pixel, "was_paused",
                             rc == 0),
                   MHD_HTTP_OK, resp);
}

int admin_handle(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                 const char *url, const char *body, size_t len, struct MHD_Response **resp)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    int dashboard_status = dashboard_api(ctx, conn, method, url, body, len, resp);

    if (dashboard_status)
        return dashboard_status;

    if (strncmp(url, "/admin/events/", 14) == 0)
        return event_by_id(ctx, url + 14, method, resp);
    if (strncmp(url, "/admin/pixels/", 14) == 0)
        return pixel_action(ctx, url + 14, method, body, len, resp);
    struct {
        const char *path;
        int want_post;
    } routes[] = {{"/metrics", 0},          {"/admin/status", 0},     {"/admin/events", 0},
                  {"/admin/report", 0},     {"/admin/touches", 0},    {"/admin/replay", 1},
                  {"/admin/test-event", 1}, {"/admin/deliveries", 0}, {"/readyz", 0}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (routes[i].want_post ? !post : !get)
            return error(MHD_HTTP_METHOD_NOT_ALLOWED, routes[i].want_post ? "use POST" : "use GET",
                         resp);
        switch (i) {
        case 0: return get_metrics(ctx, resp);
        case 1: return get_status(ctx, resp);
        case 2: return get_events(ctx, conn, resp);
        case 3: return get_report(ctx, conn, resp);
        case 4: return get_touches(ctx, conn, resp);
        case 5: return post_replay(ctx, conn, resp);
        case 6: return post_test_event(ctx, body, len, resp);
        case 7: return get_deliveries(ctx, conn, resp);
        default: {
            char reasons[1024], warning[128];
            int ready = daemon_ready(ctx, reasons, sizeof reasons);
            json_t *o = json_pack("{s:s}", "status", ready ? "ready" : "not ready");
            if (!ready)
                json_object_set_new(o, "reasons", json_loads(reasons, 0, NULL));
            if (daemon_paused_warning(ctx, warning, sizeof warning))
                json_object_set_new(o, "warnings", json_pack("[s]", warning));
            return respond(o, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
        }
        }
    }
    return error(MHD_HTTP_NOT_FOUND, "not found", resp);
}
