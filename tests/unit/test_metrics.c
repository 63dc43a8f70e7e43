/* Renders the metrics and parses the exposition text line by line, as a Prometheus
 * scraper would: every sample line must be `name{labels} value` under a # TYPE of its
 * family, histogram buckets must be cumulative and end with +Inf equal to _count. */
#include "metrics.h"
#include "procstat.h"
#include "tap.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FAMILIES 64

struct family {
    char name[96];
    char type[16];
};

struct scrape {
    struct family fam[MAX_FAMILIES];
    int nfam;
    int samples;
    char error[256];
};

static int name_char(int c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses `{k="v",...}` at *p; leaves *p after the closing brace. Returns 0 or -1. */
static int parse_labels(const char **p)
{
    const char *s = *p;

    if (*s != '{')
        return 0;
    s++;
    while (*s != '}') {
        if (!name_char((unsigned char)*s, 1))
            return -1;
        while (name_char((unsigned char)*s, 0))
            s++;
        if (s[0] != '=' || s[1] != '"')
            return -1;
        s += 2;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n')
                return -1;
            if (*s == '\\') {
                if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                    return -1;
                s++;
            }
            s++;
        }
        s++;
        if (*s == ',')
            s++;
        else if (*s != '}')
            return -1;
    }
    *p = s + 1;
    return 0;
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count name its base. */
static const struct family *family_of(const struct scrape *sc, const char *name, size_t len)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};

    for (int i = 0; i < sc->nfam; i++) {
        const struct family *f = &sc->fam[i];
        size_t fl = strlen(f->name);
        if (fl == len && strncmp(f->name, name, len) == 0)
            return f;
        if (strcmp(f->type, "histogram") != 0 || len <= fl || strncmp(f->name, name, fl) != 0)
            continue;
        for (int k = 0; k < 3; k++) {
            if (len - fl == strlen(sfx[k]) && strncmp(name + fl, sfx[k], len - fl) == 0)
                return f;
        }
    }
    return NULL;
}

static int parse_comment(struct scrape *sc, const char *line, size_t len)
{
    char name[96], type[16];

    if (strncmp(line, "# HELP ", 7) == 0)
        return 0;
    if (sscanf(line, "# TYPE %95s %15s", name, type) != 2 || sc->nfam == MAX_FAMILIES)
        return -1;
    if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
        return -1;
    snprintf(sc->fam[sc->nfam].name, sizeof sc->fam[0].name, "%s", name);
    snprintf(sc->fam[sc->nfam].type, sizeof sc->fam[0].type, "%s", type);
    sc->nfam++;
    (void)len;
    return 0;
}

static int parse_sample(struct scrape *sc, const char *line, const char *end)
{
    const char *p = line;
    char *vend;

    if (!name_char((unsigned char)*p, 1))
        return -1;
    while (name_char((unsigned char)*p, 0))
        p++;
    if (!family_of(sc, line, (size_t)(p - line)))
        return -1;
    if (parse_labels(&p) < 0 || *p != ' ')
        return -1;
    p++;
    double v = strtod(p, &vend);
    if (vend == p || vend != end || isnan(v))
        return -1;
    sc->samples++;
    return 0;
}

/* 0 when every line of text is well formed. */
static int scrape_parse(struct scrape *sc, const char *text)
{
    memset(sc, 0, sizeof *sc);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) {
            snprintf(sc->error, sizeof sc->error, "last line lacks a newline");
            return -1;
        }
        int rc = line[0] == '#' ? parse_comment(sc, line, (size_t)(end - line))
                                : parse_sample(sc, line, end);
        if (rc < 0) {
            snprintf(sc->error, sizeof sc->error, "bad line: %.*s", (int)(end - line), line);
            return -1;
        }
        line = end + 1;
    }
    return 0;
}

/* The value of the sample whose `name{labels}` is exactly series, or NAN when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NAN;
}

static int count_lines_with(const char *text, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);

    for (const char *line = text; line && *line;) {
        if (strncmp(line, prefix, pl) == 0)
            n++;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return n;
}

/* Checks one histogram series: buckets in order, cumulative, +Inf == _count. The buckets
 * are the lines starting with prefix (e.g. `x_bucket{route="webhook",`). */
static int histogram_consistent(const char *text, const char *prefix, const char *count_series)
{
    size_t pl = strlen(prefix);
    double last = -1, inf = NAN;

    for (const char *line = text; line && *line;) {
        if (strncmp(line, prefix, pl) == 0) {
            const char *sp = strchr(line, ' ');
            double v = strtod(sp + 1, NULL);
            if (v < last)
                return 0;
            last = v;
            if (strncmp(line + pl, "le=\"+Inf\"}", 10) == 0)
                inf = v;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return !isnan(inf) && inf == sample(text, count_series);
}

static void test_empty(void)
{
    metrics_reset();
    char *t = metrics_render(NULL);
    struct scrape sc;

    ok(t != NULL, "render without gauges returns text");
    ok(scrape_parse(&sc, t) == 0, "empty exposition parses (%s)", sc.error);
    is_int(sc.nfam, 13, "build info and twelve counter/histogram families declared");
    ok(sample(t, "ttrelay_build_info{version=\"" TTR_VERSION "\"}") == 1,
       "ttrelay_build_info names the version, value 1");
    ok(strstr(t, "ttrelay_config_last_reload") == NULL, "no reload gauge before a load");
    ok(strstr(t, "# HELP ttrelay_webhooks_total ") != NULL, "HELP line for webhooks");
    ok(strstr(t, "# TYPE ttrelay_request_duration_seconds histogram\n") != NULL,
       "latency declared as a histogram");
    is_int(count_lines_with(t, "ttrelay_commit_group_size_bucket{"), 11,
           "commit group histogram shows 10 bounds + Inf before any commit");
    ok(sample(t, "ttrelay_commit_group_size_count") == 0, "commit group count starts at 0");
    is_int(count_lines_with(t, "ttrelay_webhooks_total{"), 0, "no webhook series yet");
    free(t);
}

static void test_counters(void)
{
    metrics_reset();
    for (int i = 0; i < 3; i++)
        metrics_webhook("shop", "accepted");
    metrics_webhook("shop", "duplicate");
    metrics_webhook("crm", "unauthorized");
    metrics_collect("stored");
    metrics_collect("rate_limited");
    metrics_collect("stored");
    metrics_conversion("order", "email");
    metrics_tiktok_response("0");
    metrics_tiktok_response("http_503");
    metrics_events_sent("CPIXEL1", 5);
    metrics_events_sent("CPIXEL1", 2);
    metrics_events_sent("CPIXEL1", 0);
    metrics_events_sent("CPIXEL1", -4);
    metrics_events_dead("CPIXEL2", 1);

    char *t = metrics_render(NULL);
    struct scrape sc;
    ok(scrape_parse(&sc, t) == 0, "counter exposition parses (%s)", sc.error);
    ok(sample(t, "ttrelay_webhooks_total{source=\"shop\",result=\"accepted\"}") == 3,
       "webhooks accepted counted 3 times");
    ok(sample(t, "ttrelay_webhooks_total{source=\"shop\",result=\"duplicate\"}") == 1,
       "duplicate counted apart");
    ok(sample(t, "ttrelay_webhooks_total{source=\"crm\",result=\"unauthorized\"}") == 1,
       "second source has its own series");
    ok(sample(t, "ttrelay_collect_total{result=\"stored\"}") == 2, "collect stored = 2");
    ok(sample(t, "ttrelay_collect_total{result=\"rate_limited\"}") == 1, "collect limited = 1");
    ok(sample(t, "ttrelay_conversions_total{kind=\"order\",matched_by=\"email\"}") == 1,
       "conversion by kind and key");
    ok(sample(t, "ttrelay_tiktok_responses_total{code=\"http_503\"}") == 1, "tiktok http code");
    ok(sample(t, "ttrelay_events_sent_total{pixel=\"CPIXEL1\"}") == 7,
       "sent adds n, ignores zero and negative");
    ok(sample(t, "ttrelay_events_dead_total{pixel=\"CPIXEL2\"}") == 1, "dead per pixel");
    free(t);
}

static void test_histograms(void)
{
    metrics_reset();
    metrics_request_latency("webhook", 0.0003);
    metrics_request_latency("webhook", 0.003);
    metrics_request_latency("webhook", 0.2);
    metrics_request_latency("webhook", 5.0);
    metrics_request_latency("webhook", NAN);
    metrics_request_latency("admin", 0.001);
    metrics_commit_group(1);
    metrics_commit_group(3);
    metrics_commit_group(64);
    metrics_commit_group(1000);
    metrics_commit_group(0);

    char *t = metrics_render(NULL);
    struct scrape sc;
    const char *w = "ttrelay_request_duration_seconds_bucket{route=\"webhook\",";
    ok(scrape_parse(&sc, t) == 0, "histogram exposition parses (%s)", sc.error);
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"webhook\",le=\"0.0005\"}") == 1,
       "0.3 ms lands in le=0.0005");
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"webhook\",le=\"0.005\"}") == 2,
       "le=0.005 is cumulative (2)");
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"webhook\",le=\"0.25\"}") == 3,
       "le=0.25 holds 3");
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"webhook\",le=\"2.5\"}") == 3,
       "5 s is above the last bound");
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"webhook\",le=\"+Inf\"}") == 4,
       "+Inf counts every observation, NaN ignored");
    ok(fabs(sample(t, "ttrelay_request_duration_seconds_sum{route=\"webhook\"}") - 5.2033) < 1e-9,
       "sum of observations");
    is_int(count_lines_with(t, w), 13, "12 latency bounds + Inf");
    ok(histogram_consistent(t, w, "ttrelay_request_duration_seconds_count{route=\"webhook\"}"),
       "webhook latency buckets cumulative, +Inf == count");
    ok(sample(t, "ttrelay_request_duration_seconds_bucket{route=\"admin\",le=\"0.001\"}") == 1,
       "exactly 1 ms counts in le=0.001 (bounds are inclusive)");
    ok(sample(t, "ttrelay_commit_group_size_bucket{le=\"1\"}") == 1, "group of 1 in le=1");
    ok(sample(t, "ttrelay_commit_group_size_bucket{le=\"4\"}") == 2, "group of 3 in le=4");
    ok(sample(t, "ttrelay_commit_group_size_bucket{le=\"64\"}") == 3, "group of 64 in le=64");
    ok(sample(t, "ttrelay_commit_group_size_bucket{le=\"512\"}") == 3, "1000 above 512");
    ok(sample(t, "ttrelay_commit_group_size_count") == 4, "empty commit not counted");
    ok(histogram_consistent(t, "ttrelay_commit_group_size_bucket{",
                            "ttrelay_commit_group_size_count"),
       "commit group buckets cumulative, +Inf == count");
    free(t);
}

static void test_escaping(void)
{
    metrics_reset();
    metrics_webhook("a\"b\\c\nd", "accepted");
    char *t = metrics_render(NULL);
    struct scrape sc;
    ok(scrape_parse(&sc, t) == 0, "escaped label still parses (%s)", sc.error);
    ok(sample(t, "ttrelay_webhooks_total{source=\"a\\\"b\\\\c\\nd\",result=\"accepted\"}") == 1,
       "quote, backslash and newline escaped");
    free(t);
}

static void test_bounded(void)
{
    char id[32];
    double total = 0;

    metrics_reset();
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "src%d", i);
        metrics_webhook(id, "not_found");
    }
    metrics_webhook("src0", "not_found");
    char *t = metrics_render(NULL);
    struct scrape sc;
    int series = count_lines_with(t, "ttrelay_webhooks_total{");
    ok(scrape_parse(&sc, t) == 0, "overflowing table parses (%s)", sc.error);
    ok(series > 1 && series <= 128, "series bounded (%d)", series);
    double other = sample(t, "ttrelay_webhooks_total{source=\"other\",result=\"other\"}");
    ok(other == 500 - (series - 1), "unknown label sets counted under other (%g)", other);
    ok(sample(t, "ttrelay_webhooks_total{source=\"src0\",result=\"not_found\"}") == 2,
       "known series keeps counting after the table fills");
    for (const char *line = t; line && *line;) {
        if (strncmp(line, "ttrelay_webhooks_total{", 23) == 0)
            total += strtod(strchr(line, ' ') + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    ok(total == 501, "nothing lost: series sum to 501 (%g)", total);
    free(t);

    metrics_reset();
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "route%d", i);
        metrics_request_latency(id, 0.01);
    }
    t = metrics_render(NULL);
    ok(count_lines_with(t, "ttrelay_request_duration_seconds_count{") <= 8,
       "histogram label sets bounded");
    ok(sample(t, "ttrelay_request_duration_seconds_count{route=\"other\"}") == 13,
       "13 extra routes share other");
    free(t);
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        metrics_collect("stored");
        metrics_request_latency("collect", 0.002);
        if (i % 100 == 0)
            metrics_commit_group(8);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[8];

    metrics_reset();
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    char *t = metrics_render(NULL);
    ok(sample(t, "ttrelay_collect_total{result=\"stored\"}") == 160000,
       "8 threads x 20000 increments, none lost");
    ok(sample(t, "ttrelay_request_duration_seconds_count{route=\"collect\"}") == 160000,
       "latency observations from threads all counted");
    ok(sample(t, "ttrelay_commit_group_size_bucket{le=\"8\"}") == 1600, "group sizes counted");
    free(t);
}

static void test_gauges(void)
{
    struct metrics_gauges g = {
        .events_by_state = {1, 2, 30, 4, 5, 6, 9},
        .queue_depth = 7,
        .oldest_queued_age_s = 12.5,
        .oldest_due_age_s = 310.5,
        .touches = 42,
        .pixels_paused = 1,
        .uptime_s = 3600.25,
    };
    metrics_reset();
    char *t = metrics_render(&g);
    struct scrape sc;
    ok(scrape_parse(&sc, t) == 0, "exposition with gauges parses (%s)", sc.error);
    is_int(sc.nfam, 20, "20 families with gauges");
    ok(strstr(t, "# TYPE ttrelay_events gauge\n") != NULL, "events declared a gauge");
    ok(sample(t, "ttrelay_events{state=\"held\"}") == 1, "held");
    ok(sample(t, "ttrelay_events{state=\"sent\"}") == 30, "sent");
    ok(sample(t, "ttrelay_events{state=\"ignored\"}") == 6, "ignored");
    ok(sample(t, "ttrelay_events{state=\"dry_run\"}") == 9, "dry_run (last state)");
    ok(sample(t, "ttrelay_queue_depth") == 7, "queue depth");
    ok(sample(t, "ttrelay_oldest_queued_age_seconds") == 12.5, "oldest age");
    ok(sample(t, "ttrelay_oldest_due_event_age_seconds") == 310.5, "oldest due event's age");
    ok(sample(t, "ttrelay_touches") == 42, "touches");
    ok(sample(t, "ttrelay_pixels_paused") == 1, "paused pixels");
    ok(sample(t, "ttrelay_uptime_seconds") == 3600.25, "uptime");
    is_int(sc.samples, 1 + 8 + 6 + 11 + 2,
           "build info, gauge samples plus the commit group histogram");
    ok(strstr(t, "process_") == NULL, "no process family without its figures");
    free(t);
}

/* The delay from touch (or webhook) to TikTok's acceptance: one series per pixel, buckets
 * around the 5-minute merge window. */
static void test_delivery_delay(void)
{
    metrics_reset();
    metrics_delivery_delay("CPIXELA", 2.0);
    metrics_delivery_delay("CPIXELA", 299.0);
    metrics_delivery_delay("CPIXELA", 301.0);
    metrics_delivery_delay("CPIXELB", 0.5);
    for (int i = 0; i < 12; i++) {
        char px[32];
        snprintf(px, sizeof px, "CPIXEL%02d", i);
        metrics_delivery_delay(px, 1.0);
    }
    char *t = metrics_render(NULL);
    struct scrape sc;
    ok(scrape_parse(&sc, t) == 0, "exposition with delays parses (%s)", sc.error);
    ok(strstr(t, "# TYPE ttrelay_delivery_delay_seconds histogram\n") != NULL,
       "delay declared as a histogram");
    ok(sample(t, "ttrelay_delivery_delay_seconds_bucket{pixel=\"CPIXELA\",le=\"5\"}") == 1,
       "2 s falls under 5 s");
    ok(sample(t, "ttrelay_delivery_delay_seconds_bucket{pixel=\"CPIXELA\",le=\"300\"}") == 2,
       "two of pixel A's three within the 5-minute merge window");
    ok(sample(t, "ttrelay_delivery_delay_seconds_count{pixel=\"CPIXELA\"}") == 3, "A counted 3");
    ok(sample(t, "ttrelay_delivery_delay_seconds_sum{pixel=\"CPIXELA\"}") == 602, "A's sum");
    ok(sample(t, "ttrelay_delivery_delay_seconds_bucket{pixel=\"CPIXELB\",le=\"1\"}") == 1,
       "B's half second under 1 s");
    ok(sample(t, "ttrelay_delivery_delay_seconds_count{pixel=\"CPIXEL11\"}") == 1,
       "14 pixels each keep their own series");
    ok(strstr(t, "pixel=\"other\"") == NULL, "no pixel lumped into other");
    free(t);
}

static void test_reset(void)
{
    metrics_webhook("shop", "accepted");
    metrics_reset();
    char *t = metrics_render(NULL);
    ok(isnan(sample(t, "ttrelay_webhooks_total{source=\"shop\",result=\"accepted\"}")),
       "reset removes series");
    free(t);
}

static void test_declared_at_zero(void)
{
    metrics_reset();
    metrics_declare_pixel("CPIXEL1");
    metrics_declare_source("shop");
    metrics_declare_pixel("CPIXEL1");
    char *t = metrics_render(NULL);
    ok(sample(t, "ttrelay_events_sent_total{pixel=\"CPIXEL1\"}") == 0 &&
           sample(t, "ttrelay_events_dead_total{pixel=\"CPIXEL1\"}") == 0,
       "a declared pixel's sent and dead counters are present at 0");
    ok(sample(t, "ttrelay_webhooks_total{source=\"shop\",result=\"accepted\"}") == 0,
       "a declared source's accepted counter is present at 0");
    is_int(count_lines_with(t, "ttrelay_events_sent_total{"), 1, "declaring twice adds nothing");
    free(t);
    metrics_events_sent("CPIXEL1", 3);
    t = metrics_render(NULL);
    ok(sample(t, "ttrelay_events_sent_total{pixel=\"CPIXEL1\"}") == 3, "then it counts");
    free(t);
}

static void test_config_reload(void)
{
    metrics_reset();
    metrics_config_reload(1, 1700000000.5);
    char *t = metrics_render(NULL);
    ok(sample(t, "ttrelay_config_last_reload_successful") == 1 &&
           sample(t, "ttrelay_config_last_reload_success_timestamp_seconds") == 1700000000.5,
       "a successful load: 1 and its time");
    free(t);
    metrics_config_reload(0, 1700000100);
    t = metrics_render(NULL);
    ok(sample(t, "ttrelay_config_last_reload_successful") == 0 &&
           sample(t, "ttrelay_config_last_reload_success_timestamp_seconds") == 1700000000.5,
       "a refused reload: 0, the last success's time kept");
    ok(strstr(t, "# TYPE ttrelay_config_last_reload_successful gauge\n") != NULL, "a gauge");
    free(t);
}

static void test_process(void)
{
    struct procstat ps;
    struct metrics_gauges g = {.uptime_s = 1};
    struct scrape sc;
    double now = (double)time(NULL);

    ok(procstat_read(&ps) == 0, "/proc/self is read");
    ok(ps.start_time_s > now - 120 && ps.start_time_s <= now + 1,
       "the start time is this test's (%.0f, now %.0f)", ps.start_time_s, now);
    ok(ps.resident_bytes > 100000 && ps.virtual_bytes >= ps.resident_bytes, "memory figures");
    ok(ps.open_fds >= 3 && ps.max_fds >= ps.open_fds, "descriptors: %.0f of %.0f", ps.open_fds,
       ps.max_fds);
    ok(ps.cpu_s >= 0 && ps.cpu_s < 60, "cpu seconds");
    metrics_reset();
    g.process = &ps;
    char *t = metrics_render(&g);
    ok(scrape_parse(&sc, t) == 0, "exposition with the process family parses (%s)", sc.error);
    ok(strstr(t, "# TYPE process_cpu_seconds_total counter\n") &&
           strstr(t, "# TYPE process_start_time_seconds gauge\n"),
       "cpu seconds a counter, start time a gauge");
    ok(sample(t, "process_open_fds") == ps.open_fds && sample(t, "process_max_fds") == ps.max_fds &&
           sample(t, "process_resident_memory_bytes") == ps.resident_bytes &&
           fabs(sample(t, "process_start_time_seconds") - ps.start_time_s) < 0.01,
       "the figures as read");
    free(t);
}

int main(void)
{
    test_empty();
    test_counters();
    test_histograms();
    test_escaping();
    test_bounded();
    test_threads();
    test_gauges();
    test_delivery_delay();
    test_reset();
    test_declared_at_zero();
    test_config_reload();
    test_process();
    return tap_done();
}
