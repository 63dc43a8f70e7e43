/* Counters and histograms behind one mutex, rendered in the Prometheus text format 0.0.4.
 * Label sets live in fixed tables: a label value that arrives when a table is full is
 * counted under "other", so a sender inventing source ids cannot grow memory. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procstat.h"

#ifndef TTR_VERSION
#define TTR_VERSION "0"
#endif

#define MET_LABEL_MAX 64 /* longer label values are cut; they are known short strings */
#define MET_SLOTS 128    /* label sets per counter family, the last kept for "other" */
#define MET_HIST_SLOTS 8 /* label sets per histogram family, likewise, unless it says more */
#define MET_HIST_SLOTS_MAX 32
#define MET_BUCKETS_MAX 12

struct met_counter {
    char labels[2][MET_LABEL_MAX];
    unsigned long long value;
};

struct met_counter_family {
    const char *name;
    const char *help;
    int nlabels;
    const char *label_names[2];
    int n;
    struct met_counter slots[MET_SLOTS];
};

struct met_hist {
    char label[MET_LABEL_MAX];
    unsigned long long buckets[MET_BUCKETS_MAX]; /* per bucket, not cumulative */
    unsigned long long count;
    double sum;
};

struct met_hist_family {
    const char *name;
    const char *help;
    const char *label_name; /* NULL: one unlabelled series */
    const double *bounds;
    const char *const *bound_text; /* the le="" strings, written exactly */
    int nbounds;
    int max; /* label sets kept (0: MET_HIST_SLOTS), at most MET_HIST_SLOTS_MAX */
    int n;
    struct met_hist slots[MET_HIST_SLOTS_MAX];
};

static const double met_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,    2.5};
static const char *const met_latency_text[] = {"0.0005", "0.001", "0.0025", "0.005",
                                               "0.01",   "0.025", "0.05",   "0.1",
                                               "0.25",   "0.5",   "1",      "2.5"};
/* Around TikTok's 5-minute merge window (300 s), then up to a day. */
static const double met_delay_bounds[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400};
static const char *const met_delay_text[] = {"1",   "5",   "15",   "30",   "60",    "120",
                                             "300", "600", "1800", "3600", "21600", "86400"};
static const double met_group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const char *const met_group_text[] = {"1",  "2",  "4",   "8",   "16",
                                             "32", "64", "128", "256", "512"};

/* In enum event_state order (store.h); kept here so metrics does not pull in the store. */
static const char *const met_state_names[8] = {"held", "ready",   "sent",    "retry",
                                               "dead", "ignored", "dry_run", "sending"};

static pthread_mutex_t met_lock = PTHREAD_MUTEX_INITIALIZER;
static int met_reload_ok = -1; /* -1: no configuration loaded yet */
static double met_reload_success_s;

#define MET_COUNTER(n_, h_, ...)                                                                   \
    {                                                                                              \
        .name = n_, .help = h_,                                                                    \
        .nlabels = (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),            \
        .label_names = {                                                                           \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static struct met_counter_family met_webhooks = MET_COUNTER(
    "ttrelay_webhooks_total", "Webhooks received, by source and result.", "source", "result");
static struct met_counter_family met_collect = MET_COUNTER(
    "ttrelay_collect_total", "Browser captures posted to /collect, by result.", "result");
static struct met_counter_family met_conversions =
    MET_COUNTER("ttrelay_conversions_total",
                "Conversions matched, by kind and the key that matched.", "kind", "matched_by");
static struct met_counter_family met_refusals =
    MET_COUNTER("ttrelay_match_refusals_total",
                "Conversions sent unmatched although candidate touches existed, by the reason "
                "(ambiguous, owned, consumed, guessable, shared_ip_ua, too_far, value, taken).",
                "reason");
static struct met_counter_family met_consent =
    MET_COUNTER("ttrelay_consent_events_total",
                "Conversions of opted-out visitors, by what the consent policy did "
                "(ldu: sent with limited_data_use, suppressed: not sent, ignored: sent as is).",
                "outcome");
static struct met_counter_family met_currency = MET_COUNTER(
    "ttrelay_currency_refused_total",
    "Conversions whose currency TikTok does not accept, sent without value and currency, by "
    "source.",
    "source");
static struct met_counter_family met_tiktok = MET_COUNTER(
    "ttrelay_tiktok_responses_total", "Responses from the TikTok Events API, by code.", "code");
static struct met_counter_family met_sent =
    MET_COUNTER("ttrelay_events_sent_total", "Events accepted by TikTok, by pixel.", "pixel");
static struct met_counter_family met_dead = MET_COUNTER(
    "ttrelay_events_dead_total", "Events given up on (dead letter), by pixel.", "pixel");

static struct met_hist_family met_latency = {
    .name = "ttrelay_request_duration_seconds",
    .help = "HTTP request handling time, by route.",
    .label_name = "route",
    .bounds = met_latency_bounds,
    .bound_text = met_latency_text,
    .nbounds = 12,
};
static struct met_hist_family met_delay = {
    .name = "ttrelay_delivery_delay_seconds",
    .help = "Delay from a conversion's start (the matched touch, else the webhook) to TikTok's "
            "acceptance, by pixel. TikTok merges a server event into its pixel event only within "
            "about 300 s.",
    .label_name = "pixel",
    .bounds = met_delay_bounds,
    .bound_text = met_delay_text,
    .nbounds = 12,
    .max = MET_HIST_SLOTS_MAX, /* one series per pixel */
};
static struct met_hist_family met_group = {
    .name = "ttrelay_commit_group_size",
    .help = "Rows per store commit (group commit).",
    .bounds = met_group_bounds,
    .bound_text = met_group_text,
    .nbounds = 10,
};

static struct met_counter_family *const met_counters[] = {
    &met_webhooks, &met_collect, &met_conversions, &met_refusals, &met_consent, &met_currency, &met_tiktok, &met_sent, &met_dead};

static void met_copy(char *dst, const char *src)
{
    snprintf(dst, MET_LABEL_MAX, "%s", src ? src : "");
}

static struct met_counter *met_counter_find(struct met_counter_family *f, const char *a,
                                            const char *b)
{
    for (int i = 0; i < f->n; i++) {
        struct met_counter *c = &f->slots[i];
        if (strcmp(c->labels[0], a) == 0 && strcmp(c->labels[1], b) == 0)
            return c;
    }
    return NULL;
}

/* Called with met_lock held. Returns the slot for the label values, creating it; once the
 * table is one short of full, unknown label sets share the last slot, labelled "other". */
static struct met_counter *met_counter_slot(struct met_counter_family *f, const char *a,
                                            const char *b)
{
    char la[MET_LABEL_MAX], lb[MET_LABEL_MAX];
    struct met_counter *c;

    met_copy(la, a);
    met_copy(lb, f->nlabels > 1 ? b : "");
    if ((c = met_counter_find(f, la, lb)))
        return c;
    if (f->n >= MET_SLOTS - 1) {
        met_copy(la, "other");
        met_copy(lb, f->nlabels > 1 ? "other" : "");
        if ((c = met_counter_find(f, la, lb)))
            return c;
    }
    c = &f->slots[f->n++];
    memcpy(c->labels[0], la, sizeof la);
    memcpy(c->labels[1], lb, sizeof lb);
    c->value = 0;
    return c;
}

static void met_count(struct met_counter_family *f, const char *a, const char *b,
                      unsigned long long n)
{
    pthread_mutex_lock(&met_lock);
    met_counter_slot(f, a, b)->value += n;
    pthread_mutex_unlock(&met_lock);
}

static struct met_hist *met_hist_find(struct met_hist_family *f, const char *label)
{
    for (int i = 0; i < f->n; i++) {
        if (strcmp(f->slots[i].label, label) == 0)
            return &f->slots[i];
    }
    return NULL;
}

static void met_observe(struct met_hist_family *f, const char *label, double v)
{
    char l[MET_LABEL_MAX];
    struct met_hist *h;

    if (isnan(v))
        return;
    if (v < 0)
        v = 0;
    met_copy(l, f->label_name ? label : "");
    pthread_mutex_lock(&met_lock);
    h = met_hist_find(f, l);
    if (!h && f->n >= (f->max ? f->max : MET_HIST_SLOTS) - 1) {
        met_copy(l, "other");
        h = met_hist_find(f, l);
    }
    if (!h) {
        h = &f->slots[f->n++];
        memset(h, 0, sizeof *h);
        memcpy(h->label, l, sizeof l);
    }
    for (int i = 0; i < f->nbounds; i++) {
        if (v <= f->bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(&met_lock);
}

void metrics_webhook(const char *source, const char *result)
{
    met_count(&met_webhooks, source, result, 1);
}

void metrics_collect(const char *result)
{
    met_count(&met_collect, result, NULL, 1);
}

void metrics_conversion(const char *kind, const char *matched_by)
{
    met_count(&met_conversions, kind, matched_by, 1);
}

void metrics_match_refusal(const char *reason)
{
    met_count(&met_refusals, reason, NULL, 1);
}

void metrics_consent(const char *outcome)
{
    met_count(&met_consent, outcome, NULL, 1);
}

void metrics_currency_refused(const char *source)
{
    met_count(&met_currency, source, NULL, 1);
}

void metrics_tiktok_response(const char *code)
{
    met_count(&met_tiktok, code, NULL, 1);
}

void metrics_events_sent(const char *pixel, long n)
{
    if (n > 0)
        met_count(&met_sent, pixel, NULL, (unsigned long long)n);
}

void metrics_events_dead(const char *pixel, long n)
{
    if (n > 0)
        met_count(&met_dead, pixel, NULL, (unsigned long long)n);
}

void metrics_request_latency(const char *route, double seconds)
{
    met_observe(&met_latency, route, seconds);
}

void metrics_delivery_delay(const char *pixel, double seconds)
{
    met_observe(&met_delay, pixel, seconds);
}

void metrics_commit_group(int rows)
{
    if (rows > 0)
        met_observe(&met_group, NULL, (double)rows);
}

void metrics_declare_pixel(const char *pixel)
{
    met_count(&met_sent, pixel, NULL, 0);
    met_count(&met_dead, pixel, NULL, 0);
}

void metrics_declare_source(const char *source)
{
    met_count(&met_webhooks, source, "accepted", 0);
}

void metrics_config_reload(int ok, double unix_s)
{
    pthread_mutex_lock(&met_lock);
    met_reload_ok = ok ? 1 : 0;
    if (ok)
        met_reload_success_s = unix_s;
    pthread_mutex_unlock(&met_lock);
}

void metrics_reset(void)
{
    pthread_mutex_lock(&met_lock);
    met_reload_ok = -1;
    met_reload_success_s = 0;
    for (size_t i = 0; i < sizeof met_counters / sizeof met_counters[0]; i++)
        met_counters[i]->n = 0;
    met_latency.n = 0;
    met_delay.n = 0;
    met_group.n = 0;
    pthread_mutex_unlock(&met_lock);
}

/* ---- rendering ---- */

struct met_buf {
    char *data;
    size_t len, cap;
    int failed;
};

static void met_printf(struct met_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void met_printf(struct met_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

/* Writes value escaped as the exposition format asks: backslash, quote and newline. */
static void met_put_label(struct met_buf *b, const char *name, const char *value)
{
    char esc[2 * MET_LABEL_MAX + 1];
    size_t o = 0;

    for (const char *p = value; *p && o + 2 < sizeof esc; p++) {
        if (*p == '\\' || *p == '"') {
            esc[o++] = '\\';
            esc[o++] = *p;
        } else if (*p == '\n') {
            esc[o++] = '\\';
            esc[o++] = 'n';
        } else {
            esc[o++] = *p;
        }
    }
    esc[o] = '\0';
    met_printf(b, "%s=\"%s\"", name, esc);
}

static void met_header(struct met_buf *b, const char *name, const char *help, const char *type)
{
    met_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void met_render_counters(struct met_buf *b, const struct met_counter_family *f)
{
    met_header(b, f->name, f->help, "counter");
    for (int i = 0; i < f->n; i++) {
        const struct met_counter *c = &f->slots[i];
        met_printf(b, "%s{", f->name);
        for (int l = 0; l < f->nlabels; l++) {
            if (l)
                met_printf(b, ",");
            met_put_label(b, f->label_names[l], c->labels[l]);
        }
        met_printf(b, "} %llu\n", c->value);
    }
}

/* One bucket line; label is NULL for an unlabelled histogram. */
static void met_bucket_line(struct met_buf *b, const struct met_hist_family *f, const char *label,
                            const char *le, unsigned long long cumulative)
{
    met_printf(b, "%s_bucket{", f->name);
    if (label) {
        met_put_label(b, f->label_name, label);
        met_printf(b, ",");
    }
    met_printf(b, "le=\"%s\"} %llu\n", le, cumulative);
}

static void met_render_hist(struct met_buf *b, const struct met_hist_family *f)
{
    met_header(b, f->name, f->help, "histogram");
    /* An unlabelled histogram is always shown, so a scraper sees zeros before traffic. */
    int n = f->label_name ? f->n : 1;
    for (int i = 0; i < n; i++) {
        struct met_hist zero = {.count = 0};
        const struct met_hist *h = i < f->n ? &f->slots[i] : &zero;
        const char *label = f->label_name ? h->label : NULL;
        unsigned long long cumulative = 0;

        for (int k = 0; k < f->nbounds; k++) {
            cumulative += h->buckets[k];
            met_bucket_line(b, f, label, f->bound_text[k], cumulative);
        }
        met_bucket_line(b, f, label, "+Inf", h->count);
        const char *sfx[2] = {"_sum", "_count"};
        for (int s = 0; s < 2; s++) {
            met_printf(b, "%s%s", f->name, sfx[s]);
            if (label) {
                met_printf(b, "{");
                met_put_label(b, f->label_name, label);
                met_printf(b, "}");
            }
            if (s == 0)
                met_printf(b, " %.9g\n", h->sum);
            else
                met_printf(b, " %llu\n", h->count);
        }
    }
}

static void met_gauge(struct met_buf *b, const char *name, const char *help, const char *fmt,
                      double v)
{
    met_header(b, name, help, "gauge");
    met_printf(b, "%s ", name);
    met_printf(b, fmt, v);
    met_printf(b, "\n");
}

static void met_render_gauges(struct met_buf *b, const struct metrics_gauges *g)
{
    met_header(b, "ttrelay_events", "Events in the store, by state.", "gauge");
    for (int s = 0; s < 8; s++) {
        met_printf(b, "ttrelay_events{");
        met_put_label(b, "state", met_state_names[s]);
        met_printf(b, "} %lld\n", g->events_by_state[s]);
    }
    met_gauge(b, "ttrelay_queue_depth", "Events waiting to be sent (held, ready, retry).", "%.0f",
              (double)g->queue_depth);
    met_gauge(b, "ttrelay_oldest_queued_age_seconds", "Age of the oldest waiting event.", "%.3f",
              isfinite(g->oldest_queued_age_s) ? g->oldest_queued_age_s : 0);
    met_gauge(b, "ttrelay_oldest_due_event_age_seconds",
              "Age of the oldest event waiting to be sent (ready or retry), from its receipt; past "
              "300 s TikTok no longer merges it into its pixel event.",
              "%.3f", isfinite(g->oldest_due_age_s) ? g->oldest_due_age_s : 0);
    met_gauge(b, "ttrelay_touches", "Browser touches held for matching.", "%.0f",
              (double)g->touches);
    met_gauge(b, "ttrelay_pixels_paused", "Pixels paused (by TikTok's refusal of a token or permission, or by an operator).",
              "%.0f", (double)g->pixels_paused);
    met_gauge(b, "ttrelay_uptime_seconds", "Seconds since the daemon started.", "%.3f",
              isfinite(g->uptime_s) ? g->uptime_s : 0);
    if (g->instance) {
        met_printf(b, "# HELP ttrelay_instance_info This instance among those sharing the store "
                      "(ttrelayctl status lists them).\n# TYPE ttrelay_instance_info gauge\n"
                      "ttrelay_instance_info{");
        met_put_label(b, "instance", g->instance);
        met_printf(b, ",");
        met_put_label(b, "backend", g->backend ? g->backend : "");
        met_printf(b, ",");
        met_put_label(b, "version", TTR_VERSION);
        met_printf(b, "} 1\n");
    }
    if (!g->process)
        return;
    met_gauge(b, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", "%.2f",
              g->process->start_time_s);
    met_header(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               "counter");
    met_printf(b, "process_cpu_seconds_total %.2f\n", g->process->cpu_s);
    met_gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", "%.0f",
              g->process->resident_bytes);
    met_gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "%.0f",
              g->process->virtual_bytes);
    met_gauge(b, "process_open_fds", "Number of open file descriptors.", "%.0f",
              g->process->open_fds);
    met_gauge(b, "process_max_fds", "Maximum number of open file descriptors.", "%.0f",
              g->process->max_fds);
}

/* Called with met_lock held. */
static void met_render_state(struct met_buf *b)
{
    met_header(b, "ttrelay_build_info", "The running version; the value is always 1.", "gauge");
    met_printf(b, "ttrelay_build_info{");
    met_put_label(b, "version", TTR_VERSION);
    met_printf(b, "} 1\n");
    if (met_reload_ok < 0)
        return;
    met_header(b, "ttrelay_config_last_reload_successful",
               "Whether the last configuration load (start or SIGHUP) succeeded.", "gauge");
    met_printf(b, "ttrelay_config_last_reload_successful %d\n", met_reload_ok);
    met_header(b, "ttrelay_config_last_reload_success_timestamp_seconds",
               "When the configuration was last loaded successfully, unix seconds.", "gauge");
    met_printf(b, "ttrelay_config_last_reload_success_timestamp_seconds %.3f\n",
               met_reload_success_s);
}

/* Returns a new string (free it), or NULL when out of memory. g may be NULL to leave the
 * gauges out (tests of the counters alone). */
char *metrics_render(const struct metrics_gauges *g)
{
    struct met_buf b = {.data = malloc(8192), .cap = 8192};

    if (!b.data)
        return NULL;
    b.data[0] = '\0';
    pthread_mutex_lock(&met_lock);
    met_render_state(&b);
    for (size_t i = 0; i < sizeof met_counters / sizeof met_counters[0]; i++)
        met_render_counters(&b, met_counters[i]);
    met_render_hist(&b, &met_latency);
    met_render_hist(&b, &met_delay);
    met_render_hist(&b, &met_group);
    pthread_mutex_unlock(&met_lock);
    if (g)
        met_render_gauges(&b, g);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
