/* ttrelayctl: the admin command line. It speaks only the daemon's admin HTTP API and reads
 * the admin address and token from the daemon's own configuration file (flags override). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "sample.h"
#include "setup.h"

#ifndef TTR_VERSION
#define TTR_VERSION "0"
#endif

#define CTL_DEFAULT_CONFIG "/etc/ttrelay/ttrelay.conf"
#define CTL_MAX_RESPONSE (64u << 20)

enum ctl_exit {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_UNREACHABLE = 2,
    EXIT_DAEMON = 3,
    EXIT_NOT_FOUND = 4
};

struct ctl {
    char base[512]; /* http://host:port, no trailing slash */
    char *token;    /* owned; never printed */
    int json;
    /* command options */
    const char *state, *pixel, *source;
    long status; /* deliveries --status: 0 any */
    long limit;  /* 0: the daemon's default */
    long long since_s;
    int dead; /* bulk replay: BULK_DEAD (--dead) or BULK_DRY_RUN (--dry-run-events) */
    const char *arg;        /* send-test: the source id; pause, resume: the pixel */
    const char *reason;     /* pause --reason */
    const char *public_url; /* send-test --public-url */
    long long wait_s;       /* send-test --wait */
    struct config *cfg;     /* held for send-test (the source's secret) */
};

enum { BULK_NONE, BULK_DEAD, BULK_DRY_RUN };

struct ctl_response {
    long status;
    char *body; /* owned, NUL-terminated */
    size_t len;
};

static void ctl_usage(FILE *out)
{
    fputs(
        "usage: ttrelayctl [-c FILE] [--url URL] [--token TOKEN | --token-file FILE] [--json]\n"
        "                  <command> [options]\n"
        "\n"
        "commands:\n"
        "  init --pixel CODE ... SOURCE...     write a production configuration (init --help)\n"
        "  status                              daemon, queue, pixel and instance state\n"
        "  pause PIXEL [--reason TEXT]         stop sending for PIXEL on every instance\n"
        "                                      (its events are kept)\n"
        "  resume PIXEL                        send for PIXEL again (an operator's pause,\n"
        "                                      or one TikTok's answer caused)\n"
        "  events [--state S] [--limit N]      recent events, newest first\n"
        "  show ID                             one event with its TikTok payload\n"
        "  replay ID                           send a dead or retrying event again\n"
        "  replay --dead [--pixel P] [--since D]  replay every dead event (of P, within D)\n"
        "  replay --dry-run-events [--pixel P] [--since D]\n"
        "                                      send what was recorded in dry run (once live)\n"
        "  test-event [--pixel P]              queue a test event (pixel's test_event_code)\n"
        "  deliveries [--source S] [--status CODE] [--limit N]\n"
        "                                      every request to /webhooks/*, newest first\n"
        "  report [--since D]                  matching and delivery per source (default 7d)\n"
        "  send-test SOURCE [--wait D] [--public-url URL]\n"
        "                                      post a signed test delivery of SOURCE's type to\n"
        "                                      the daemon and show the conversion it made\n"
        "\n"
        "  -c, --config FILE   daemon configuration (default " CTL_DEFAULT_CONFIG ")\n"
        "      --url URL       admin API base URL (default from admin.address/port)\n"
        "      --token TOKEN   admin token (default admin.token); --token-file reads it\n"
        "      --json          print the daemon's JSON answer\n"
        "  -h, --help, -V, --version\n"
        "durations D: seconds, or a number with s, m, h, d or w (90m, 24h, 7d)\n"
        "exit: 0 ok, 1 usage or configuration, 2 daemon unreachable, 3 daemon error, 4 not found\n",
        out);
}

static int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ctl_fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("ttrelayctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* "90m", "24h", "7d", "2w", "30s" or plain seconds; > 0 and at most ten years. */
static int ctl_parse_duration(const char *s, long long *out)
{
    char *end;
    long long n, mult = 1;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || end == s || n <= 0 || *s == '+')
        return -1;
    switch (*end) {
    case '\0':
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    if (n > 3650LL * 86400 / mult)
        return -1;
    *out = n * mult;
    return 0;
}

static int ctl_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ---- tables ---- */

struct table {
    int ncols, nrows, cap;
    const char *align; /* per column: 'l' or 'r' */
    char **cells;      /* row-major, header row first */
};

/* Control characters from webhook data must not reach the terminal. */
static char *table_clean(const char *s)
{
    char *c = strdup(s ? s : "");

    for (char *p = c; p && *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    return c;
}

static void table_row(struct table *t, ...)
{
    va_list ap;

    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *p);
        if (!p)
            return;
        t->cells = p;
        t->cap = cap;
    }
    va_start(ap, t);
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = table_clean(va_arg(ap, const char *));
    va_end(ap);
    t->nrows++;
}

static int table_width(const char *s)
{
    int w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80; /* count UTF-8 characters, not bytes */
    return w;
}

static void table_print(struct table *t)
{
    int *w = calloc((size_t)t->ncols, sizeof *w);

    if (!w)
        return;
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            int cw = table_width(t->cells[r * t->ncols + c]);
            w[c] = cw > w[c] ? cw : w[c];
        }
    for (int r = 0; r < t->nrows; r++) {
        int end = t->ncols - 1; /* no trailing blanks after the last non-empty cell */
        while (end > 0 && !*t->cells[r * t->ncols + end])
            end--;
        for (int c = 0; c <= end; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            int pad = w[c] - table_width(cell);
            int last = c == end;
            if (t->align[c] == 'r')
                printf("%*s%s", pad, "", cell);
            else
                printf("%s%*s", cell, last ? 0 : pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
    free(w);
}

static void table_free(struct table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- JSON field access: absent or mistyped fields read as empty/zero ---- */

static const char *ctl_jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static double ctl_jnum(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *fmt_ll(char *buf, size_t n, long long v)
{
    snprintf(buf, n, "%lld", v);
    return buf;
}

static const char *fmt_time(char *buf, size_t n, const json_t *v)
{
    time_t t = (time_t)json_number_value(v);
    struct tm tm;

    if (!json_is_number(v) || t <= 0 || !gmtime_r(&t, &tm))
        snprintf(buf, n, "-");
    else
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* "42.0s", "5m 3s", "2h", "1d 4h": two units at most, a zero second unit left out. */
static const char *fmt_duration(char *buf, size_t n, double s)
{
    static const struct {
        long long secs;
        char name;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    long long v = (long long)s;

    if (s < 60) {
        snprintf(buf, n, "%.1fs", s < 0 ? 0.0 : s);
        return buf;
    }
    for (int i = 0; i < 3; i++) {
        if (v < units[i].secs)
            continue;
        long long hi = v / units[i].secs, lo = v % units[i].secs / units[i + 1].secs;
        if (lo)
            snprintf(buf, n, "%lld%c %lld%c", hi, units[i].name, lo, units[i + 1].name);
        else
            snprintf(buf, n, "%lld%c", hi, units[i].name);
        break;
    }
    return buf;
}

static const char *fmt_pct(char *buf, size_t n, double part, double whole)
{
    if (whole <= 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.0f%%", 100.0 * part / whole);
    return buf;
}

/* ---- HTTP ---- */

static size_t ctl_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct ctl_response *r = userp;
    size_t n = size * nmemb;

    if (r->len + n + 1 > CTL_MAX_RESPONSE)
        return 0;
    char *p = realloc(r->body, r->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, n);
    r->body = p;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Sends one request; fills resp (body new). Returns EXIT_OK or EXIT_UNREACHABLE. */
static int ctl_request(const struct ctl *ctl, const char *method, const char *path,
                       const char *body, struct ctl_response *resp)
{
    char url[2048], auth[1024];
    struct curl_slist *hdr = NULL;
    CURL *curl = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;

    memset(resp, 0, sizeof *resp);
    snprintf(url, sizeof url, "%s%s", ctl->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", ctl->token);
    if (!curl)
        goto out;
    hdr = curl_slist_append(hdr, auth);
    if (body)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    /* The bearer token must go to the daemon only: no proxy, no redirect, http(s) only. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ttrelayctl/" TTR_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    explicit_bzero(auth, sizeof auth);
    curl_slist_free_all(hdr);
    if (curl)
        curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return ctl_fail(EXIT_UNREACHABLE, "cannot reach ttrelayd at %s: %s", ctl->base,
                        curl_easy_strerror(rc));
    return EXIT_OK;
}

/* Maps a non-2xx answer to an exit code with a message naming the daemon's error. */
static int ctl_check(const struct ctl_response *r)
{
    json_t *j;
    char msg[256] = "";

    if (r->status >= 200 && r->status < 300)
        return EXIT_OK;
    j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    snprintf(msg, sizeof msg, "%s", ctl_jstr(j, "error"));
    json_decref(j);
    if (r->status == 401)
        return ctl_fail(EXIT_DAEMON, "the daemon refused the admin token (401): check admin.token "
                                     "in the configuration, or --token");
    if (r->status == 404)
        return ctl_fail(EXIT_NOT_FOUND, "not found%s%s", msg[0] ? ": " : "", msg);
    return ctl_fail(EXIT_DAEMON, "daemon answered HTTP %ld%s%s", r->status, msg[0] ? ": " : "",
                    msg);
}

/* Performs the request and, unless --json printed the raw answer, parses it (*out new).
 * Returns an exit code; *out is NULL when nothing is left to render. */
static int ctl_call(const struct ctl *ctl, const char *method, const char *path, const char *body,
                    json_t **out)
{
    struct ctl_response r;
    json_error_t jerr;
    int rc = ctl_request(ctl, method, path, body, &r);

    *out = NULL;
    if (rc)
        goto out;
    if ((rc = ctl_check(&r)))
        goto out;
    if (ctl->json) {
        fputs(r.body ? r.body : "", stdout);
        if (!r.len || r.body[r.len - 1] != '\n')
            fputc('\n', stdout);
        goto out;
    }
    *out = r.body ? json_loadb(r.body, r.len, 0, &jerr) : NULL;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = ctl_fail(EXIT_DAEMON, "the daemon's answer is not a JSON object");
    }
out:
    free(r.body);
    return rc;
}

/* ---- commands ---- */

static int cmd_status(const struct ctl *ctl)
{
    static const char *const states[] = {"held", "ready",   "sent",   "retry",
                                         "dead", "ignored", "dry_run"};
    char a[64];
    json_t *j, *counts, *px;
    size_t i;
    int rc = ctl_call(ctl, "GET", "/admin/status", NULL, &j);

    if (rc || !j)
        return rc;
    counts = json_object_get(j, "counts");
    printf("version         %s\n", ctl_jstr(j, "version"));
    printf("uptime          %s\n", fmt_duration(a, sizeof a, ctl_jnum(j, "uptime_s")));
    printf("dry run         %s\n", json_is_true(json_object_get(j, "dry_run")) ? "yes" : "no");
    printf("queue depth     %s\n", fmt_ll(a, sizeof a, (long long)ctl_jnum(j, "queue_depth")));
    printf("oldest queued   %s\n", fmt_duration(a, sizeof a, ctl_jnum(j, "oldest_queued_age_s")));
    printf("touches         %s\n", fmt_ll(a, sizeof a, (long long)ctl_jnum(j, "touches")));
    printf("forwarder idle  %s ms\n",
           fmt_ll(a, sizeof a, (long long)ctl_jnum(j, "forwarder_idle_ms")));
    printf("events         ");
    for (i = 0; i < sizeof states / sizeof states[0]; i++)
        printf(" %s %s", states[i], fmt_ll(a, sizeof a, (long long)ctl_jnum(counts, states[i])));
    printf("\n\n");

    struct table t = {.ncols = 4, .align = "llll"};
    table_row(&t, "PIXEL", "STATE", "SINCE", "REASON");
    json_array_foreach(json_object_get(j, "pixels"), i, px)
    {
        int paused = json_is_true(json_object_get(px, "paused"));
        table_row(&t, ctl_jstr(px, "pixel"), paused ? "paused" : "active",
                  paused ? fmt_time(a, sizeof a, json_object_get(px, "since")) : "-",
                  ctl_jstr(px, "reason"));
    }
    table_print(&t);
    table_free(&t);

    json_t *in;
    struct table it = {.ncols = 5, .align = "lllll"};
    printf("\ninstances seen in the last 10 minutes (this one: %s)\n", ctl_jstr(j, "instance"));
    table_row(&it, "INSTANCE", "VERSION", "STARTED", "LAST SEEN", "STATE");
    json_array_foreach(json_object_get(j, "instances"), i, in)
    {
        char started[64], seen[64];
        table_row(&it, ctl_jstr(in, "id"), ctl_jstr(in, "version"),
                  fmt_time(started, sizeof started, json_object_get(in, "started")),
                  fmt_time(seen, sizeof seen, json_object_get(in, "seen")), ctl_jstr(in, "state"));
    }
    table_print(&it);
    table_free(&it);
    json_decref(j);
    return EXIT_OK;
}

static int cmd_events(const struct ctl *ctl)
{
    char path[256], id[32], att[32], when[40];
    json_t *j, *ev;
    size_t i;
    int n, rc;

    n = snprintf(path, sizeof path, "/admin/events?limit=%ld", ctl->limit ? ctl->limit : 50);
    if (ctl->state)
        snprintf(path + n, sizeof path - (size_t)n, "&state=%s", ctl->state);
    if ((rc = ctl_call(ctl, "GET", path, NULL, &j)) || !j)
        return rc;
    struct table t = {.ncols = 10, .align = "rlllllllrl"};
    table_row(&t, "ID", "STATE", "SOURCE", "KIND", "OBJECT", "PIXEL", "EVENT", "MATCHED", "TRIES",
              "RECEIVED");
    json_array_foreach(json_object_get(j, "events"), i, ev)
    {
        table_row(&t, fmt_ll(id, sizeof id, (long long)ctl_jnum(ev, "id")), ctl_jstr(ev, "state"),
                  ctl_jstr(ev, "source"), ctl_jstr(ev, "kind"), ctl_jstr(ev, "object_id"),
                  ctl_jstr(ev, "pixel"), ctl_jstr(ev, "event_name"),
                  ctl_jstr(ev, "matched_by")[0] ? ctl_jstr(ev, "matched_by") : "-",
                  fmt_ll(att, sizeof att, (long long)ctl_jnum(ev, "attempts")),
                  fmt_time(when, sizeof when, json_object_get(ev, "received_at")));
    }
    if (t.nrows == 1)
        printf("no events\n");
    else
        table_print(&t);
    table_free(&t);
    json_decref(j);
    return EXIT_OK;
}

static int cmd_deliveries(const struct ctl *ctl)
{
    char path[512], status[16], conv[32], when[40];
    json_t *j, *d;
    size_t i;
    int n, rc;

    n = snprintf(path, sizeof path, "/admin/deliveries?limit=%ld", ctl->limit ? ctl->limit : 50);
    if (ctl->status)
        n += snprintf(path + n, sizeof path - (size_t)n, "&status=%ld", ctl->status);
    if (ctl->source && (size_t)n < sizeof path) {
        char *s = curl_easy_escape(NULL, ctl->source, 0);
        if (!s)
            return ctl_fail(EXIT_USAGE, "out of memory");
        snprintf(path + n, sizeof path - (size_t)n, "&source=%s", s);
        curl_free(s);
    }
    if ((rc = ctl_call(ctl, "GET", path, NULL, &j)) || !j)
        return rc;
    struct table t = {.ncols = 7, .align = "llrlrll"};
    table_row(&t, "TIME", "SOURCE", "STATUS", "RESULT", "CONVERSION", "DELIVERY", "REASON");
    json_array_foreach(json_object_get(j, "deliveries"), i, d)
    {
        json_t *ts = json_integer((json_int_t)(ctl_jnum(d, "time_ms") / 1000));
        long long cid = (long long)ctl_jnum(d, "conversion_id");
        table_row(&t, fmt_time(when, sizeof when, ts), ctl_jstr(d, "source"),
                  fmt_ll(status, sizeof status, (long long)ctl_jnum(d, "status")),
                  ctl_jstr(d, "result"), cid ? fmt_ll(conv, sizeof conv, cid) : "-",
                  ctl_jstr(d, "delivery_id")[0] ? ctl_jstr(d, "delivery_id") : "-",
                  ctl_jstr(d, "reason")[0] ? ctl_jstr(d, "reason") : "-");
        json_decref(ts);
    }
    if (t.nrows == 1)
        printf("no deliveries\n");
    else
        table_print(&t);
    table_free(&t);
    json_decref(j);
    return EXIT_OK;
}

static void show_field(const char *name, const char *value)
{
    char *clean = table_clean(value);

    printf("%-16s %s\n", name, clean && *clean ? clean : "-");
    free(clean);
}

/* The matching engine's decision and every candidate with the reason it lost. */
static void show_match(const json_t *m)
{
    const json_t *k;
    size_t i;

    if (!json_is_object(m))
        return;
    printf("\nmatch: %s", ctl_jstr(m, "decision"));
    if (*ctl_jstr(m, "refusal"))
        printf(" (refused: %s)", ctl_jstr(m, "refusal"));
    printf("\n");
    json_array_foreach(json_object_get(m, "candidates"), i, k)
    {
        char *eid = table_clean(ctl_jstr(k, "event_id")), *vid = table_clean(ctl_jstr(k, "vid"));
        printf("  touch %lld %s %s, visitor %s, by %s: %s\n", (long long)ctl_jnum(k, "touch_id"),
               ctl_jstr(k, "event"), eid ? eid : "-", vid ? vid : "-", ctl_jstr(k, "key"),
               ctl_jstr(k, "why"));
        free(eid);
        free(vid);
    }
}

static int cmd_show(const struct ctl *ctl, long long id)
{
    char path[64], buf[64];
    json_t *j;
    int rc;

    snprintf(path, sizeof path, "/admin/events/%lld", id);
    if ((rc = ctl_call(ctl, "GET", path, NULL, &j)) || !j)
        return rc;
    show_field("id", fmt_ll(buf, sizeof buf, (long long)ctl_jnum(j, "id")));
    show_field("state", ctl_jstr(j, "state"));
    show_field("source", ctl_jstr(j, "source"));
    show_field("kind", ctl_jstr(j, "kind"));
    show_field("object", ctl_jstr(j, "object_id"));
    show_field("pixel", ctl_jstr(j, "pixel"));
    show_field("test", json_is_true(json_object_get(j, "test")) ? "yes" : "no");
    show_field("event", ctl_jstr(j, "event_name"));
    show_field("event_id", ctl_jstr(j, "event_id"));
    show_field("matched_by", ctl_jstr(j, "matched_by"));
    show_field("touch", fmt_ll(buf, sizeof buf, (long long)ctl_jnum(j, "touch_id")));
    show_field("received", fmt_time(buf, sizeof buf, json_object_get(j, "received_at")));
    show_field("due", fmt_time(buf, sizeof buf, json_object_get(j, "due_at")));
    show_field("sent", fmt_time(buf, sizeof buf, json_object_get(j, "sent_at")));
    show_field("event_time", fmt_time(buf, sizeof buf, json_object_get(j, "event_time")));
    show_field("attempts", fmt_ll(buf, sizeof buf, (long long)ctl_jnum(j, "attempts")));
    show_field("last_error", ctl_jstr(j, "last_error"));
    show_field("request_id", ctl_jstr(j, "request_id"));
    show_match(json_object_get(j, "match"));
    const char *keys[] = {"payload", "conversion"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(j, keys[k]);
        char *text = json_is_null(v) || !v ? NULL : json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n%s:\n%s\n", keys[k], text ? text : "(none)");
        free(text);
    }
    json_decref(j);
    return EXIT_OK;
}

static int cmd_replay_one(const struct ctl *ctl, long long id)
{
    char path[80];
    json_t *j;
    int rc;

    snprintf(path, sizeof path, "/admin/events/%lld/replay", id);
    if ((rc = ctl_call(ctl, "POST", path, NULL, &j)) || !j)
        return rc;
    printf("event %lld queued for sending again\n", id);
    json_decref(j);
    return EXIT_OK;
}

static int cmd_replay_dead(const struct ctl *ctl, long long unused)
{
    char path[512];
    json_t *j;
    int n, rc;

    n = snprintf(path, sizeof path, "/admin/replay?state=%s",
                 ctl->dead == BULK_DRY_RUN ? "dry_run" : "dead");
    if (ctl->pixel) {
        char *p = curl_easy_escape(NULL, ctl->pixel, 0);
        if (!p)
            return ctl_fail(EXIT_USAGE, "out of memory");
        n += snprintf(path + n, sizeof path - (size_t)n, "&pixel=%s", p);
        curl_free(p);
    }
    if (ctl->since_s && (size_t)n < sizeof path)
        snprintf(path + n, sizeof path - (size_t)n, "&since=%lld",
                 (long long)time(NULL) - ctl->since_s);
    if ((rc = ctl_call(ctl, "POST", path, NULL, &j)) || !j)
        return rc;
    printf("%lld %s events queued for sending%s\n", (long long)ctl_jnum(j, "replayed"),
           ctl->dead == BULK_DRY_RUN ? "dry-run" : "dead",
           ctl->dead == BULK_DRY_RUN ? " (those older than tiktok.max_age_s stay dry_run)"
                                     : " again");
    json_decref(j);
    return EXIT_OK;
}

/* POST /admin/pixels/<pixel>/<action>, with {"reason": ...} for a pause. */
static int ctl_pixel_action(const struct ctl *ctl, const char *action, json_t **j)
{
    char path[400];
    char *pixel = curl_easy_escape(NULL, ctl->arg, 0);
    char *body = NULL;
    int rc;

    if (!pixel)
        return ctl_fail(EXIT_USAGE, "out of memory");
    snprintf(path, sizeof path, "/admin/pixels/%s/%s", pixel, action);
    curl_free(pixel);
    if (ctl->reason) {
        json_t *o = json_pack("{s:s}", "reason", ctl->reason);
        body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!body)
            return ctl_fail(EXIT_USAGE, "--reason must be UTF-8 text");
    }
    rc = ctl_call(ctl, "POST", path, body, j);
    free(body);
    return rc;
}

static int cmd_pause(const struct ctl *ctl, long long unused)
{
    json_t *j;
    int rc;

    (void)unused;
    if ((rc = ctl_pixel_action(ctl, "pause", &j)) || !j)
        return rc;
    printf("pixel %s paused on every instance; its events are kept until `ttrelayctl resume %s`\n",
           ctl->arg, ctl->arg);
    json_decref(j);
    return EXIT_OK;
}

static int cmd_resume(const struct ctl *ctl, long long unused)
{
    json_t *j;
    int rc;

    (void)unused;
    if ((rc = ctl_pixel_action(ctl, "resume", &j)) || !j)
        return rc;
    printf(json_is_true(json_object_get(j, "was_paused")) ? "pixel %s resumed\n"
                                                           : "pixel %s was not paused\n",
           ctl->arg);
    json_decref(j);
    return EXIT_OK;
}

static int cmd_test_event(const struct ctl *ctl)
{
    json_t *req = json_object(), *j = NULL;
    char *body, id[32];
    int rc;

    if (ctl->pixel)
        json_object_set_new(req, "pixel", json_string(ctl->pixel));
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return ctl_fail(EXIT_USAGE, "out of memory");
    rc = ctl_call(ctl, "POST", "/admin/test-event", body, &j);
    free(body);
    if (rc || !j)
        return rc;
    show_field("queued", fmt_ll(id, sizeof id, (long long)ctl_jnum(j, "id")));
    show_field("event_id", ctl_jstr(j, "event_id"));
    show_field("test_event_code", ctl_jstr(j, "test_event_code"));
    json_decref(j);
    return EXIT_OK;
}

/* One report row into the two tables: how conversions matched, and how they were sent. */
static const char *const refusal_keys[] = {"ambiguous", "shared_ip_ua", "owned", "guessable",
                                           "consumed",  "too_far",      "value", "taken",
                                           "early"};
#define NREFUSALS (sizeof refusal_keys / sizeof refusal_keys[0])

/* Conversions sent unmatched although candidates existed, by the reason. */
static void report_refusals(struct table *r, const json_t *row)
{
    char c[NREFUSALS + 1][16];
    const json_t *rf = json_object_get(row, "refusals");
    long long total = 0;

    for (size_t i = 0; i < NREFUSALS; i++) {
        long long v = (long long)ctl_jnum(rf, refusal_keys[i]);
        fmt_ll(c[i + 1], sizeof c[i + 1], v);
        total += v;
    }
    fmt_ll(c[0], sizeof c[0], total);
    table_row(r, ctl_jstr(row, "source"), ctl_jstr(row, "kind"), c[0], c[1], c[2], c[3], c[4],
              c[5], c[6], c[7], c[8], c[9]);
}

/* Conversions of opted-out visitors: sent with limited_data_use, and suppressed. */
static void report_consent(struct table *t, const json_t *row)
{
    const json_t *cs = json_object_get(row, "consent");
    double n = ctl_jnum(row, "conversions"), ldu = ctl_jnum(cs, "ldu");
    double sup = ctl_jnum(cs, "suppressed");
    char c[4][16];

    fmt_ll(c[0], sizeof c[0], (long long)ldu);
    fmt_pct(c[1], sizeof c[1], ldu, n);
    fmt_ll(c[2], sizeof c[2], (long long)sup);
    fmt_pct(c[3], sizeof c[3], sup, n);
    table_row(t, ctl_jstr(row, "source"), ctl_jstr(row, "kind"), c[0], c[1], c[2], c[3]);
}

static void report_row(struct table *m, struct table *d, const json_t *row)
{
    char c[9][16], s[3][24], p[2][24];
    const json_t *mb = json_object_get(row, "matched"), *w = json_object_get(row, "with");
    const json_t *st = json_object_get(row, "states");
    double n = ctl_jnum(row, "conversions");
    static const char *const mkeys[] = {"event_id", "order_ref", "vid", "email",
                                        "phone",    "ip_ua",     "none"};
    static const char *const wkeys[] = {"ttclid", "ttp", "email", "phone", "ip_ua"};

    fmt_ll(c[0], sizeof c[0], (long long)n);
    for (int i = 0; i < 7; i++)
        fmt_pct(c[i + 1], sizeof c[i + 1], ctl_jnum(mb, mkeys[i]), n);
    table_row(m, ctl_jstr(row, "source"), ctl_jstr(row, "kind"), c[0], c[1], c[2], c[3], c[4], c[5],
              c[6], c[7]);
    for (int i = 0; i < 5; i++)
        fmt_pct(c[i + 1], sizeof c[i + 1], ctl_jnum(w, wkeys[i]), n);
    fmt_ll(s[0], sizeof s[0], (long long)ctl_jnum(st, "sent"));
    fmt_ll(s[1], sizeof s[1], (long long)ctl_jnum(st, "retry"));
    fmt_ll(s[2], sizeof s[2], (long long)ctl_jnum(st, "dead"));
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(row, i ? "delay_p95_s" : "delay_p50_s");
        if (json_is_number(v))
            fmt_duration(p[i], sizeof p[i], json_number_value(v));
        else
            snprintf(p[i], sizeof p[i], "-");
    }
    table_row(d, ctl_jstr(row, "source"), ctl_jstr(row, "kind"), c[1], c[2], c[3], c[4], c[5], s[0],
              s[1], s[2], p[0], p[1]);
}

/* Per pixel: delay from the touch (or webhook) to TikTok's acceptance. TikTok merges a
 * server event into its pixel event only within about 5 minutes of it. */
static void report_pixels(const json_t *pixels)
{
    struct table t = {.ncols = 5, .align = "lrrrr"};
    const json_t *px;
    size_t i;

    table_row(&t, "PIXEL", "SENT", "DELAY_P50", "DELAY_P95", "WITHIN_5MIN");
    json_array_foreach(pixels, i, px)
    {
        char c[4][24];
        double sent = ctl_jnum(px, "sent");
        fmt_ll(c[0], sizeof c[0], (long long)sent);
        fmt_duration(c[1], sizeof c[1], ctl_jnum(px, "delay_p50_s"));
        fmt_duration(c[2], sizeof c[2], ctl_jnum(px, "delay_p95_s"));
        fmt_pct(c[3], sizeof c[3], ctl_jnum(px, "within_merge_window"), sent);
        table_row(&t, ctl_jstr(px, "pixel"), c[0], c[1], c[2], c[3]);
    }
    printf("\ndelay from touch (or webhook) to TikTok, per pixel (merged with the pixel event "
           "within 5 min):\n");
    table_print(&t);
    table_free(&t);
}

static int cmd_report(const struct ctl *ctl)
{
    char path[64], span[32];
    json_t *j, *row;
    size_t i;
    int rc;

    snprintf(path, sizeof path, "/admin/report?since=%lld", ctl->since_s ? ctl->since_s : 604800);
    if ((rc = ctl_call(ctl, "GET", path, NULL, &j)) || !j)
        return rc;
    struct table m = {.ncols = 10, .align = "llrrrrrrrr"};
    struct table d = {.ncols = 12, .align = "llrrrrrrrrrr"};
    table_row(&m, "SOURCE", "KIND", "CONVERSIONS", "EVENT_ID", "ORDER_REF", "VID", "EMAIL", "PHONE",
              "IP_UA", "NONE");
    table_row(&d, "SOURCE", "KIND", "TTCLID", "TTP", "EMAIL", "PHONE", "IP+UA", "SENT", "RETRY",
              "DEAD", "DELAY_P50", "DELAY_P95");
    struct table r = {.ncols = 12, .align = "llrrrrrrrrrr"};
    table_row(&r, "SOURCE", "KIND", "REFUSED", "AMBIGUOUS", "SHARED_IP_UA", "OWNED", "GUESSABLE",
              "CONSUMED", "TOO_FAR", "VALUE", "TAKEN", "EARLY");
    struct table cs = {.ncols = 6, .align = "llrrrr"};
    table_row(&cs, "SOURCE", "KIND", "LIMITED_DATA_USE", "LDU_SHARE", "SUPPRESSED",
              "SUPPRESSED_SHARE");
    json_array_foreach(json_object_get(j, "rows"), i, row)
    {
        report_row(&m, &d, row);
        report_refusals(&r, row);
        report_consent(&cs, row);
    }
    printf("conversions in the last %s\n\n",
           fmt_duration(span, sizeof span, ctl_jnum(j, "since_s")));
    if (m.nrows == 1) {
        printf("no conversions\n");
    } else {
        printf("matched by (share of conversions):\n");
        table_print(&m);
        printf("\ncarrying (share of conversions) and delivery:\n");
        table_print(&d);
        printf("\nrefused matches (unmatched although candidate touches existed):\n");
        table_print(&r);
        printf("\nopted-out visitors (consent policy):\n");
        table_print(&cs);
        report_pixels(json_object_get(j, "pixels"));
    }
    table_free(&m);
    table_free(&d);
    table_free(&r);
    table_free(&cs);
    json_decref(j);
    return EXIT_OK;
}

/* ---- set-up ---- */

static int ctl_read_token_file(const char *path, char **out)
{
    char buf[1024];
    size_t n;
    FILE *f = fopen(path, "r");

    if (!f)
        return ctl_fail(EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    *out = n ? strdup(buf) : NULL;
    explicit_bzero(buf, sizeof buf);
    return *out ? EXIT_OK : ctl_fail(EXIT_USAGE, "%s holds no token", path);
}

/* A listen address as a URL host: a wildcard is reached through loopback, IPv6 in brackets. */
static void ctl_url_host(const char *a, char *host, size_t n)
{
    if (!strcmp(a, "0.0.0.0") || !*a)
        a = "127.0.0.1";
    else if (!strcmp(a, "::"))
        a = "::1";
    snprintf(host, n, strchr(a, ':') ? "[%s]" : "%s", a);
}

/* Fills ctl->base and ctl->token from flags, falling back to the configuration file;
 * keep_cfg: the command needs the configuration itself (held in ctl->cfg). */
static int ctl_resolve(struct ctl *ctl, const char *cfgpath, int cfg_given, const char *url,
                       int keep_cfg)
{
    char err[1024], host[80];
    struct config *cfg;

    if (url) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        if (n >= sizeof ctl->base)
            return ctl_fail(EXIT_USAGE, "--url is too long");
        memcpy(ctl->base, url, n);
        ctl->base[n] = '\0';
    }
    if (url && ctl->token && !cfg_given && !keep_cfg)
        return EXIT_OK;
    /* Outside the service there is no $CREDENTIALS_DIRECTORY; the unit file loads each
     * credential from the configuration directory under the same name, so look there. */
    if (!getenv("CREDENTIALS_DIRECTORY")) {
        char *copy = strdup(cfgpath);
        if (copy)
            setenv("CREDENTIALS_DIRECTORY", dirname(copy), 1);
        free(copy);
    }
    if (!(cfg = config_load(cfgpath, err, sizeof err)))
        return ctl_fail(EXIT_USAGE, "%s (or give --url and --token)", err);
    if (!url) {
        ctl_url_host(cfg->admin_address, host, sizeof host);
        snprintf(ctl->base, sizeof ctl->base, "http://%s:%d", host, cfg->admin_port);
    }
    if (!ctl->token && cfg->admin_token)
        ctl->token = strdup(cfg->admin_token);
    if (keep_cfg)
        ctl->cfg = cfg;
    else
        config_drop(cfg);
    return ctl->token ? EXIT_OK : ctl_fail(EXIT_USAGE, "no admin token");
}

/* ---- send-test ---- */

/* Where the daemon receives webhooks: --public-url, else what it says it listens on (the
 * bound port when listen.port is 0), else the configuration's listen section. */
static int sendtest_url(const struct ctl *ctl, const json_t *status, char *out, size_t n)
{
    const json_t *l = json_object_get(status, "listen");
    const char *addr = ctl_jstr(l, "address");
    long port = (long)ctl_jnum(l, "port");
    char host[80];

    if (ctl->public_url) {
        size_t len = strlen(ctl->public_url);
        while (len > 0 && ctl->public_url[len - 1] == '/')
            len--;
        snprintf(out, n, "%.*s/webhooks/%s", (int)len, ctl->public_url, ctl->arg);
        return EXIT_OK;
    }
    if (port <= 0) {
        addr = ctl->cfg->listen_address;
        port = ctl->cfg->listen_port;
    }
    if (port <= 0)
        return ctl_fail(EXIT_USAGE, "send-test: listen.port is 0 and the daemon did not say which "
                                    "port it took; give --public-url");
    ctl_url_host(addr, host, sizeof host);
    snprintf(out, n, "http://%s:%ld/webhooks/%s", host, port, ctl->arg);
    return EXIT_OK;
}

/* POSTs the sample as its sender would: its headers only, never the admin token. */
static int sendtest_post(const char *url, const struct sample_delivery *d, struct ctl_response *r)
{
    struct curl_slist *hdr = NULL;
    CURL *curl = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;

    memset(r, 0, sizeof *r);
    if (!curl)
        goto out;
    for (int i = 0; i < d->nheaders; i++)
        hdr = curl_slist_append(hdr, d->headers[i]);
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ttrelayctl/" TTR_VERSION " send-test");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
out:
    curl_slist_free_all(hdr);
    if (curl)
        curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return ctl_fail(EXIT_UNREACHABLE, "send-test: cannot post to %s: %s", url,
                        curl_easy_strerror(rc));
    return EXIT_OK;
}

static int sendtest_final(const char *state)
{
    return !strcmp(state, "sent") || !strcmp(state, "dead") || !strcmp(state, "ignored") ||
           !strcmp(state, "dry_run");
}

/* The event the delivery made, followed for up to --wait. *out new (NULL when not found). */
static int sendtest_event(const struct ctl *ctl, long long id, json_t **out)
{
    struct ctl c = *ctl;
    char path[64];
    struct timespec pause = {0, 250 * 1000 * 1000};
    time_t until = time(NULL) + (time_t)ctl->wait_s;
    int rc;

    c.json = 0;
    snprintf(path, sizeof path, "/admin/events/%lld", id);
    for (;;) {
        if ((rc = ctl_call(&c, "GET", path, NULL, out)) || !*out)
            return rc;
        if (sendtest_final(ctl_jstr(*out, "state")) || time(NULL) >= until)
            return EXIT_OK;
        json_decref(*out);
        *out = NULL;
        nanosleep(&pause, NULL);
    }
}

/* What the event's state means for a test, in words. */
static const char *sendtest_state_text(const json_t *ev, char *buf, size_t n)
{
    const char *state = ctl_jstr(ev, "state");
    int test = json_is_true(json_object_get(ev, "test"));

    if (!strcmp(state, "held") || !strcmp(state, "ready"))
        snprintf(buf, n, "%s: not sent yet (match.hold_s first; --wait 60 follows it to the end)",
                 state);
    else if (!strcmp(state, "retry"))
        snprintf(buf, n, "retry: %s (sent again after a backoff)", ctl_jstr(ev, "last_error"));
    else if (!strcmp(state, "sent"))
        snprintf(buf, n,
                 test ? "sent: to TikTok with the pixel's test_event_code (Events Manager "
                        "> Test Events), not counted as a conversion"
                      : "sent");
    else if (!strcmp(state, "dry_run"))
        snprintf(buf, n, "dry_run: built, not sent (tiktok.dry_run = true)");
    else if (!strcmp(state, "ignored"))
        snprintf(buf, n, "ignored: %s%s", ctl_jstr(ev, "last_error"),
                 test ? " (give the pixel a test_event_code to see test events in TikTok)" : "");
    else
        snprintf(buf, n, "%s: %s", state, ctl_jstr(ev, "last_error"));
    return buf;
}

/* Says what a refusal means when the request was signed with the configuration's secret. */
static void sendtest_hint(const struct ctl *ctl, long status, const json_t *reply)
{
    const char *cfg = ctl->cfg->path, *why = ctl_jstr(reply, "reason");

    if (status == 401)
        printf("hint        signed with source %s's secret from %s, and refused: the daemon runs "
               "with another secret. Reload it after editing the file (systemctl reload "
               "ttrelayd); ttrelayctl deliveries --source %s shows the reason\n",
               ctl->arg, cfg, ctl->arg);
    else if (status == 404)
        printf("hint        the daemon has no source %s although %s has: reload it "
               "(systemctl reload ttrelayd)\n",
               ctl->arg, cfg);
    else if (status == 200 && !strcmp(ctl_jstr(reply, "status"), "ignored") &&
             (strstr(why, "test order") || strstr(why, "test mode")))
        printf("hint        verified, then ignored: %s's test deliveries are not sent unless the "
               "source has send_tests = true (and its pixel a test_event_code). The URL and "
               "the secret work.\n",
               config_find_source(ctl->cfg, ctl->arg)->type);
}

static void sendtest_print(const struct ctl *ctl, const char *url, const struct sample_delivery *d,
                           const struct ctl_response *r, const json_t *reply, const json_t *ev)
{
    const struct source_cfg *src = config_find_source(ctl->cfg, ctl->arg);
    char buf[512], signed_by[80] = "";

    for (int i = 0; i < d->nheaders; i++)
        if (strcasestr(d->headers[i], "signature") || strcasestr(d->headers[i], "hmac"))
            snprintf(signed_by, sizeof signed_by, "%.*s", (int)strcspn(d->headers[i], ":"),
                     d->headers[i]);
    printf("source      %s (%s)\n", src->id, src->type);
    printf("posted      %s\n", d->what);
    printf("test mark   %s\n", d->test_mark);
    printf("to          %s, signed (%s)\n", url, signed_by);
    printf("answer      %ld %.*s\n", r->status, (int)strcspn(r->body ? r->body : "", "\n"),
           r->body ? r->body : "");
    if (ev) {
        char id[32];
        printf("conversion  %s: %s %s, pixel %s%s\n",
               fmt_ll(id, sizeof id, (long long)ctl_jnum(ev, "id")), ctl_jstr(ev, "kind"),
               ctl_jstr(ev, "object_id"), ctl_jstr(ev, "pixel"),
               json_is_true(json_object_get(ev, "test")) ? ", test" : "");
        if (*ctl_jstr(ev, "event_id"))
            printf("event       %s %s\n", ctl_jstr(ev, "event_name"), ctl_jstr(ev, "event_id"));
        else
            printf("event       - (named when the hold ends and matching has run)\n");
        printf("state       %s\n", sendtest_state_text(ev, buf, sizeof buf));
        printf("more        ttrelayctl show %s\n", id);
    }
    sendtest_hint(ctl, r->status, reply);
}

static int cmd_send_test(const struct ctl *ctl, long long unused)
{
    const struct source_cfg *src = config_find_source(ctl->cfg, ctl->arg);
    struct sample_delivery d;
    struct ctl_response r = {0};
    struct ctl quiet = *ctl;
    json_t *status = NULL, *reply = NULL, *ev = NULL;
    char url[1024], err[256];
    int rc;

    if (!src) {
        rc = ctl_fail(EXIT_USAGE, "send-test: %s has no source %s", ctl->cfg->path, ctl->arg);
        for (int i = 0; i < ctl->cfg->nsources; i++)
            fprintf(stderr, "%s %s", i ? "," : "  sources:", ctl->cfg->sources[i].id);
        fputc('\n', stderr);
        return rc;
    }
    if (sample_build(src, time(NULL), &d, err, sizeof err) < 0)
        return ctl_fail(EXIT_USAGE, "send-test: %s", err);
    quiet.json = 0;
    /* The admin API first: it says where the daemon listens, and a wrong token shows here. */
    if ((rc = ctl_call(&quiet, "GET", "/admin/status", NULL, &status)) ||
        (rc = sendtest_url(ctl, status, url, sizeof url)) || (rc = sendtest_post(url, &d, &r)))
        goto out;
    reply = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    if (r.status == 200 && json_is_integer(json_object_get(reply, "id")) &&
        (rc =
             sendtest_event(ctl, (long long)json_integer_value(json_object_get(reply, "id")), &ev)))
        goto out;
    if (ctl->json) {
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:i,s:O?,s:O?}", "source", src->id, "url", url, "object_id",
                      d.object_id, "http_status", (int)r.status, "reply", reply, "event", ev);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        puts(text ? text : "{}");
        free(text);
        json_decref(o);
    } else {
        sendtest_print(ctl, url, &d, &r, reply, ev);
    }
    rc = r.status == 200 ? EXIT_OK : EXIT_DAEMON;
out:
    json_decref(status);
    json_decref(reply);
    json_decref(ev);
    free(r.body);
    sample_clear(&d);
    return rc;
}

enum {
    OPT_URL = 256,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_JSON,
    OPT_STATE,
    OPT_LIMIT,
    OPT_DEAD,
    OPT_PIXEL,
    OPT_SINCE,
    OPT_DRY_RUN_EVENTS,
    OPT_SOURCE,
    OPT_STATUS,
    OPT_PUBLIC_URL,
    OPT_WAIT,
    OPT_REASON
};

static const struct option ctl_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"url", required_argument, NULL, OPT_URL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"state", required_argument, NULL, OPT_STATE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"dead", no_argument, NULL, OPT_DEAD},
    {"pixel", required_argument, NULL, OPT_PIXEL},
    {"since", required_argument, NULL, OPT_SINCE},
    {"dry-run-events", no_argument, NULL, OPT_DRY_RUN_EVENTS},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"status", required_argument, NULL, OPT_STATUS},
    {"public-url", required_argument, NULL, OPT_PUBLIC_URL},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"reason", required_argument, NULL, OPT_REASON},
    {NULL, 0, NULL, 0}};

#define OPTBIT(o) (1u << ((o)-OPT_STATE))

struct ctl_args {
    const char *cfgpath, *url, *token_file;
    int cfg_given;
    unsigned used; /* bit per command option, to refuse options a command does not take */
};

static int ctl_parse_options(int argc, char **argv, struct ctl *ctl, struct ctl_args *a)
{
    static const char *const states[] = {"held", "ready",   "sent",   "retry",
                                         "dead", "ignored", "dry_run"};
    int c;

    while ((c = getopt_long(argc, argv, "c:hV", ctl_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->cfgpath = optarg;
            a->cfg_given = 1;
            break;
        case OPT_URL: a->url = optarg; break;
        case OPT_TOKEN:
            free(ctl->token);
            ctl->token = strdup(optarg);
            /* Hide the token from ps(1); --token-file avoids the command line entirely. */
            explicit_bzero(optarg, strlen(optarg));
            break;
        case OPT_TOKEN_FILE: a->token_file = optarg; break;
        case OPT_JSON: ctl->json = 1; break;
        case 'h': ctl_usage(stdout); return -1;
        case 'V': printf("ttrelayctl %s\n", TTR_VERSION); return -1;
        case OPT_STATE:
            ctl->state = NULL;
            for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
                if (!strcmp(optarg, states[i]))
                    ctl->state = states[i];
            if (!ctl->state)
                return ctl_fail(
                    EXIT_USAGE,
                    "--state must be held, ready, sent, retry, dead, ignored or dry_run");
            break;
        case OPT_LIMIT:
            if (ctl_parse_long(optarg, 1, 1000, &ctl->limit) < 0)
                return ctl_fail(EXIT_USAGE, "--limit must be a number from 1 to 1000");
            break;
        case OPT_DEAD:
        case OPT_DRY_RUN_EVENTS:
            if (ctl->dead)
                return ctl_fail(EXIT_USAGE, "replay takes --dead or --dry-run-events, not both");
            ctl->dead = c == OPT_DEAD ? BULK_DEAD : BULK_DRY_RUN;
            break;
        case OPT_PIXEL: ctl->pixel = optarg; break;
        case OPT_SOURCE: ctl->source = optarg; break;
        case OPT_STATUS:
            if (ctl_parse_long(optarg, 100, 599, &ctl->status) < 0)
                return ctl_fail(EXIT_USAGE, "--status must be an HTTP status such as 401");
            break;
        case OPT_SINCE:
            if (ctl_parse_duration(optarg, &ctl->since_s) < 0)
                return ctl_fail(EXIT_USAGE,
                                "--since takes a duration such as 3600, 90m, 24h or 7d");
            break;
        case OPT_PUBLIC_URL: ctl->public_url = optarg; break;
        case OPT_REASON: ctl->reason = optarg; break;
        case OPT_WAIT:
            if (ctl_parse_duration(optarg, &ctl->wait_s) < 0 || ctl->wait_s > 3600)
                return ctl_fail(EXIT_USAGE, "--wait takes a duration up to 1h, such as 60 or 2m");
            break;
        default: ctl_usage(stderr); return EXIT_USAGE;
        }
        if (c >= OPT_STATE)
            a->used |= OPTBIT(c);
    }
    return EXIT_OK;
}

/* EXIT_USAGE when a command option was given that the command does not take. */
static int ctl_allow(unsigned used, const char *cmd, unsigned allowed)
{
    if (used & ~allowed)
        return ctl_fail(EXIT_USAGE, "%s: option not valid for this command (see --help)", cmd);
    return EXIT_OK;
}

static int ctl_parse_id(const char *s, long long *id)
{
    char *end;

    errno = 0;
    *id = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || *id <= 0)
        return ctl_fail(EXIT_USAGE, "expected an event id (a positive number)");
    return EXIT_OK;
}

static int run_status(const struct ctl *ctl, long long id)
{
    return cmd_status(ctl);
}
static int run_events(const struct ctl *ctl, long long id)
{
    return cmd_events(ctl);
}
static int run_test_event(const struct ctl *ctl, long long id)
{
    return cmd_test_event(ctl);
}
static int run_report(const struct ctl *ctl, long long id)
{
    return cmd_report(ctl);
}
static int run_deliveries(const struct ctl *ctl, long long id)
{
    return cmd_deliveries(ctl);
}

enum { TAKES_NONE, TAKES_ID, TAKES_NAME };

struct ctl_command {
    const char *name;
    int takes_id;     /* TAKES_ID: an event id; TAKES_NAME: a name (ctl->arg) */
    int dead;         /* replay: --dead selects the bulk form */
    unsigned allowed; /* OPTBIT()s of the command options it takes */
    int (*run)(const struct ctl *ctl, long long id);
};

static const struct ctl_command ctl_commands[] = {
    {"status", 0, 0, 0, run_status},
    {"events", 0, 0, OPTBIT(OPT_STATE) | OPTBIT(OPT_LIMIT), run_events},
    {"show", TAKES_ID, 0, 0, cmd_show},
    {"replay", TAKES_ID, 0, 0, cmd_replay_one},
    {"replay", 0, BULK_DEAD, OPTBIT(OPT_DEAD) | OPTBIT(OPT_PIXEL) | OPTBIT(OPT_SINCE),
     cmd_replay_dead},
    {"replay", 0, BULK_DRY_RUN, OPTBIT(OPT_DRY_RUN_EVENTS) | OPTBIT(OPT_PIXEL) | OPTBIT(OPT_SINCE),
     cmd_replay_dead},
    {"test-event", 0, 0, OPTBIT(OPT_PIXEL), run_test_event},
    {"report", 0, 0, OPTBIT(OPT_SINCE), run_report},
    {"deliveries", 0, 0, OPTBIT(OPT_SOURCE) | OPTBIT(OPT_STATUS) | OPTBIT(OPT_LIMIT),
     run_deliveries},
    {"send-test", TAKES_NAME, 0, OPTBIT(OPT_PUBLIC_URL) | OPTBIT(OPT_WAIT), cmd_send_test},
    {"pause", TAKES_NAME, 0, OPTBIT(OPT_REASON), cmd_pause},
    {"resume", TAKES_NAME, 0, 0, cmd_resume},
};

/* Checks the command line before anything is loaded or sent. Returns the command or NULL
 * (message printed); *id receives the event id of commands that take one. */
static const struct ctl_command *ctl_command_find(const struct ctl *ctl, const struct ctl_args *a,
                                                  int nargs, char **args, long long *id)
{
    int known = 0;

    if (nargs < 1) {
        ctl_usage(stderr);
        return NULL;
    }
    for (size_t i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
        const struct ctl_command *c = &ctl_commands[i];
        if (strcmp(c->name, args[0]) != 0)
            continue;
        known = 1;
        if (c->dead != ctl->dead || nargs != 1 + (c->takes_id != TAKES_NONE))
            continue;
        if (ctl_allow(a->used, c->name, c->allowed) ||
            (c->takes_id == TAKES_ID && ctl_parse_id(args[1], id)))
            return NULL;
        return c;
    }
    if (!known)
        fprintf(stderr, "ttrelayctl: unknown command '%s'\n", args[0]);
    ctl_usage(stderr);
    return NULL;
}

/* ---- init ---- */

static void init_usage(FILE *out)
{
    fputs("usage: ttrelayctl init --pixel CODE (--access-token-file FILE | --dry-run)\n"
          "                       [--public-url URL] [--origin URL]... [--secret ID=FILE]...\n"
          "                       [--dir DIR] [--state-dir DIR] [--unit-dir DIR] [--force]\n"
          "                       SOURCE...\n"
          "  SOURCE is TYPE[:ID[:KIND]], e.g. shopify, woocommerce:woo, generic:crm:call\n"
          "  --secret ID=FILE  the signing secret a sender makes itself (Shopify, Stripe)\n"
          "  defaults: --dir /etc/ttrelay --state-dir /var/lib/ttrelay\n"
          "            --unit-dir /etc/systemd/system\n",
          out);
}

static void init_print(const struct setup *s, const char *public_url)
{
    printf("wrote %s (0644), its credentials in %s (0600)\n"
           "wrote %s (the unit's LoadCredential= lines)\n\n",
           s->conf_path, s->dir, s->dropin_path);
    for (int i = 0; i < s->nsources; i++) {
        const struct setup_source *src = &s->sources[i];
        printf("source %s (%s)\n  URL:    %s/webhooks/%s\n", src->id, src->type, public_url,
               src->id);
        if (src->secret[0])
            printf("  secret: %s\n", src->secret);
        else
            printf("  secret: the one %s made (copied to %s)\n", src->type, src->secret_path);
        printf("  where:  %s\n\n", setup_source_hint(src->type));
    }
    if (s->dry_run)
        printf("Dry run: events are recorded and nothing is sent. To go live, write the Events "
               "API token to\n%s/tiktok_token (0600), uncomment its access_token_file line in %s "
               "and its\nLoadCredential= line in %s, set tiktok.dry_run = false, then\n"
               "systemctl daemon-reload && systemctl restart ttrelayd\n\n",
               s->dir, s->conf_path, s->dropin_path);
    printf("next:\n  systemctl daemon-reload && systemctl enable --now ttrelayd\n"
           "  ttrelayctl -c %s status\n",
           s->conf_path);
}

static int init_add_secret(struct setup *s, const char *arg)
{
    const char *eq = strchr(arg, '=');
    for (int i = 0; eq && i < s->nsources; i++)
        if (strlen(s->sources[i].id) == (size_t)(eq - arg) &&
            strncmp(s->sources[i].id, arg, (size_t)(eq - arg)) == 0) {
            s->sources[i].secret_file = eq + 1;
            return EXIT_OK;
        }
    return ctl_fail(EXIT_USAGE, "--secret %s: expected ID=FILE naming a source given", arg);
}

static int ctl_init(int argc, char **argv)
{
    enum {
        O_PIXEL = 300,
        O_TOKEN,
        O_DRY,
        O_URL,
        O_ORIGIN,
        O_SECRET,
        O_DIR,
        O_STATE,
        O_UNIT,
        O_FORCE
    };
    static const struct option opts[] = {{"pixel", required_argument, NULL, O_PIXEL},
                                         {"access-token-file", required_argument, NULL, O_TOKEN},
                                         {"dry-run", no_argument, NULL, O_DRY},
                                         {"public-url", required_argument, NULL, O_URL},
                                         {"origin", required_argument, NULL, O_ORIGIN},
                                         {"secret", required_argument, NULL, O_SECRET},
                                         {"dir", required_argument, NULL, O_DIR},
                                         {"state-dir", required_argument, NULL, O_STATE},
                                         {"unit-dir", required_argument, NULL, O_UNIT},
                                         {"force", no_argument, NULL, O_FORCE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct setup s = {
        .dir = "/etc/ttrelay", .state_dir = "/var/lib/ttrelay", .unit_dir = "/etc/systemd/system"};
    const char *public_url = "https://<this relay's public address>", *secrets[64];
    char err[1200];
    int c, nsecrets = 0, rc = EXIT_USAGE;

    s.origins = calloc((size_t)argc, sizeof *s.origins);
    s.sources = calloc((size_t)argc, sizeof *s.sources);
    if (!s.origins || !s.sources)
        goto out;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PIXEL: s.pixel = optarg; break;
        case O_TOKEN: s.token_file = optarg; break;
        case O_DRY: s.dry_run = 1; break;
        case O_URL: public_url = optarg; break;
        case O_ORIGIN: s.origins[s.norigins++] = optarg; break;
        case O_SECRET:
            if (nsecrets < 64)
                secrets[nsecrets++] = optarg;
            break;
        case O_DIR: s.dir = optarg; break;
        case O_STATE: s.state_dir = optarg; break;
        case O_UNIT: s.unit_dir = optarg; break;
        case O_FORCE: s.force = 1; break;
        case 'h':
            init_usage(stdout);
            rc = EXIT_OK;
            goto out;
        default: init_usage(stderr); goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        if (setup_parse_source(argv[i], &s.sources[s.nsources++], err, sizeof err) < 0) {
            rc = ctl_fail(EXIT_USAGE, "init: %s", err);
            goto out;
        }
    for (int i = 0; i < nsecrets; i++)
        if ((rc = init_add_secret(&s, secrets[i])))
            goto out;
    if (setup_write(&s, err, sizeof err) < 0) {
        rc = ctl_fail(EXIT_USAGE, "init: %s", err);
        goto out;
    }
    /* Read back the way ttrelayctl and ttrelayd -t outside the service read it. */
    unsetenv("CREDENTIALS_DIRECTORY");
    struct config *cfg = config_load(s.conf_path, err, sizeof err);
    if (!cfg) {
        rc = ctl_fail(EXIT_USAGE, "init wrote a configuration that does not load: %s", err);
        goto out;
    }
    config_drop(cfg);
    init_print(&s, public_url);
    rc = EXIT_OK;
out:
    for (int i = 0; s.sources && i < s.nsources; i++)
        explicit_bzero(s.sources[i].secret, sizeof s.sources[i].secret);
    free(s.origins);
    free(s.sources);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.token = NULL};
    struct ctl_args a = {.cfgpath = CTL_DEFAULT_CONFIG};
    const struct ctl_command *cmd;
    long long id = 0;
    int rc;

    /* init writes the configuration the other commands read, so it comes first. */
    if (argc > 1 && strcmp(argv[1], "init") == 0)
        return ctl_init(argc - 1, argv + 1);
    rc = ctl_parse_options(argc, argv, &ctl, &a);

    if (rc < 0) {
        rc = EXIT_OK; /* --help or --version */
        goto out;
    }
    if (rc)
        goto out;
    if (!(cmd = ctl_command_find(&ctl, &a, argc - optind, argv + optind, &id))) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (a.token_file) {
        free(ctl.token);
        ctl.token = NULL;
        if ((rc = ctl_read_token_file(a.token_file, &ctl.token)))
            goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = ctl_fail(EXIT_UNREACHABLE, "cannot initialise libcurl");
        goto out;
    }
    if (cmd->takes_id == TAKES_NAME)
        ctl.arg = argv[optind + 1];
    rc = ctl_resolve(&ctl, a.cfgpath, a.cfg_given, a.url, cmd->run == cmd_send_test);
    if (!rc)
        rc = cmd->run(&ctl, id);
    curl_global_cleanup();
out:
    if (ctl.cfg)
        config_drop(ctl.cfg);
    if (ctl.token) {
        explicit_bzero(ctl.token, strlen(ctl.token));
        free(ctl.token);
    }
    return rc;
}
