/* match_bench: times match_conversion against a store holding many touches and visitors.
 * It creates the store with store_open (so the schema is the daemon's), bulk-fills touches,
 * visitors and visitor keys through SQLite directly, reopens the store as the daemon
 * would, then matches conversions built to hit each rule in turn and prints one line
 *   MATCH {"touches":…,"visitors":…,"median_us":…,"p99_us":…,"rules":{…},…}
 * Every conversion's matched_by is checked against the rule it was built for. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conversion.h"
#include "hash.h"
#include "log.h"
#include "match.h"
#include "store.h"

#define TOUCHES_PER_VISIT 10
#define NRULES 7
#define NUAS 8

static const char *const rule_names[NRULES] = {"event_id", "order_ref", "vid", "email",
                                               "phone",    "ip_ua",     "none"};

static const char *const uas[NUAS] = {
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
};

struct opts {
    long touches;
    long visitors;
    long queries;
    const char *dir;
    unsigned int seed;
};

struct fill {
    sqlite3 *db;
    sqlite3_stmt *touch, *visitor, *vkey;
    long long now, window;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void visitor_vid(long v, char out[33])
{
    char in[32];
    int n = snprintf(in, sizeof in, "visitor-%ld", v);
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(in, (size_t)n, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

static void visitor_hash(char kind, long v, char out[HASH_HEX_LEN + 1])
{
    char in[64];
    int n = kind == 'e' ? snprintf(in, sizeof in, "visitor%ld@example.com", v)
                        : snprintf(in, sizeof in, "+1404%07ld", v % 10000000);
    hash_sha256_hex(in, (size_t)n, out);
}

static void visitor_ip(long v, char *out, size_t size)
{
    snprintf(out, size, "10.%ld.%ld.%ld", (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

/* Touch j of a store of n touches: its visitor is j % visitors and its place in the
 * visit j / visitors (n = TOUCHES_PER_VISIT * visitors). Timestamps rise with j across
 * the match window. */
static long long touch_ts(const struct fill *f, long j, long n)
{
    return f->now - f->window + 60 + (long long)j * (f->window - 120) / n;
}

/* A visit: an identify (email and phone typed into a form), browsing, a purchase. */
static const char *touch_event(long seq)
{
    static const char *const events[TOUCHES_PER_VISIT] = {
        "",         "PageView",    "ViewContent", "PageView",        "ViewContent",
        "PageView", "ViewContent", "AddToCart",   "CompletePayment", "PageView"};
    return events[seq % TOUCHES_PER_VISIT];
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "match_bench: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int step_reset(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int fill_touch(struct fill *f, long j, const struct opts *o)
{
    long v = j % o->visitors, seq = j / o->visitors;
    const char *event = touch_event(seq);
    char vid[33], ip[32], eid[40], oid[40], ttclid[64], ttp[64], url[160], eh[65] = "", ph[65] = "";
    sqlite3_stmt *s = f->touch;

    visitor_vid(v, vid);
    visitor_ip(v, ip, sizeof ip);
    eid[0] = oid[0] = '\0';
    if (event[0])
        snprintf(eid, sizeof eid, "ev-%ld", j);
    /* Even visitors' shops report the order id on the thank-you event; such a touch belongs
     * to that order only, so the other rules are tried on odd visitors. */
    if (strcmp(event, "CompletePayment") == 0 && v % 2 == 0)
        snprintf(oid, sizeof oid, "%ld", 4820982911946154508L + v);
    snprintf(ttclid, sizeof ttclid, "E.C.P.v%ld.%ld", v, seq);
    snprintf(ttp, sizeof ttp, "ttp-%ld", v);
    snprintf(url, sizeof url,
             "https://shop.example/products/p%ld?utm_source=tiktok&ttclid=E.C.P.v%ld", j % 500, v);
    if (!event[0]) {
        visitor_hash('e', v, eh);
        visitor_hash('p', v, ph);
    }
    const char *vals[] = {vid,
                          event,
                          eid,
                          oid,
                          ttclid,
                          ttp,
                          ip,
                          uas[v % NUAS],
                          url,
                          "https://www.tiktok.com/",
                          eh,
                          ph,
                          event[0] ? "19.99" : "",
                          event[0] ? "USD" : ""};
    for (int i = 0; i < 14; i++)
        sqlite3_bind_text(s, i + 1, vals[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 15, touch_ts(f, j, o->touches));
    if (step_reset(s) < 0)
        return -1;
    if (!event[0]) {
        char key[80];
        for (int k = 0; k < 2; k++) {
            snprintf(key, sizeof key, "%c:%s", k ? 'p' : 'e', k ? ph : eh);
            sqlite3_bind_text(f->vkey, 1, key, -1, SQLITE_STATIC);
            sqlite3_bind_text(f->vkey, 2, vid, -1, SQLITE_STATIC);
            sqlite3_bind_int64(f->vkey, 3, touch_ts(f, j, o->touches));
            if (step_reset(f->vkey) < 0)
                return -1;
        }
    }
    return 0;
}

static int fill_visitor(struct fill *f, long v, const struct opts *o)
{
    char vid[33], ip[32], ttclid[64], ttp[64];
    long last = v + (TOUCHES_PER_VISIT - 1) * o->visitors;

    visitor_vid(v, vid);
    visitor_ip(v, ip, sizeof ip);
    snprintf(ttclid, sizeof ttclid, "E.C.P.v%ld.9", v);
    snprintf(ttp, sizeof ttp, "ttp-%ld", v);
    const char *vals[] = {vid,
                          ttclid,
                          ttp,
                          ip,
                          uas[v % NUAS],
                          "https://shop.example/checkout",
                          "https://www.tiktok.com/"};
    for (int i = 0; i < 7; i++)
        sqlite3_bind_text(f->visitor, i + 1, vals[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(f->visitor, 8, touch_ts(f, last, o->touches));
    return step_reset(f->visitor);
}

/* Bulk insert in one transaction without fsync: the fill is set-up, not what is timed. */
static int fill_store(const char *path, const struct opts *o, long long now, long long window)
{
    struct fill f = {.now = now, .window = window};
    int rc = -1;

    if (sqlite3_open(path, &f.db) != SQLITE_OK)
        goto out;
    if (exec_sql(f.db, "PRAGMA synchronous=OFF") < 0 || exec_sql(f.db, "BEGIN") < 0)
        goto out;
    if (sqlite3_prepare_v2(
            f.db,
            "INSERT INTO touches(vid,event,event_id,order_id,ttclid,ttp,ip,user_agent,"
            "url,referrer,email_hash,phone_hash,value,currency,ts) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &f.touch, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            f.db,
            "INSERT INTO visitors(vid,ttclid,ttp,ip,user_agent,url,referrer,last_seen) "
            "VALUES(?,?,?,?,?,?,?,?)",
            -1, &f.visitor, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(f.db, "INSERT OR REPLACE INTO visitor_keys(key,vid,seen) VALUES(?,?,?)",
                           -1, &f.vkey, NULL) != SQLITE_OK) {
        fprintf(stderr, "match_bench: prepare: %s\n", sqlite3_errmsg(f.db));
        goto out;
    }
    for (long j = 0; j < o->touches; j++)
        if (fill_touch(&f, j, o) < 0)
            goto fail;
    for (long v = 0; v < o->visitors; v++)
        if (fill_visitor(&f, v, o) < 0)
            goto fail;
    rc = exec_sql(f.db, "COMMIT");
    goto out;
fail:
    fprintf(stderr, "match_bench: insert: %s\n", sqlite3_errmsg(f.db));
out:
    sqlite3_finalize(f.touch);
    sqlite3_finalize(f.visitor);
    sqlite3_finalize(f.vkey);
    sqlite3_close(f.db);
    return rc;
}

/* A Shopify-like order carries several references; only order_ref's hits a touch. */
static void add_missing_refs(struct conversion *c, long q)
{
    char ref[64];
    snprintf(ref, sizeof ref, "%ld", 5820982911946154508L + q);
    STR_SET(c->object_id, ref);
    conversion_add_ref(c, ref);
    snprintf(ref, sizeof ref, "#9%07ld", q);
    conversion_add_ref(c, ref);
    conversion_add_ref(c, ref + 1);
    snprintf(ref, sizeof ref, "co%030ld", q);
    conversion_add_ref(c, ref);
    snprintf(ref, sizeof ref, "tk%030ld", q);
    conversion_add_ref(c, ref);
}

/* Conversion q, built so that rule (q % NRULES) is the first to hit (or none does). */
static void build_conversion(struct conversion *c, long q, long v, const struct opts *o,
                             const struct fill *f)
{
    int rule = (int)(q % NRULES);
    long purchase = v + 8 * o->visitors; /* the visitor's CompletePayment touch */
    char buf[64];

    memset(c, 0, sizeof *c);
    STR_SET(c->source_id, "shop");
    c->kind = KIND_ORDER;
    /* The order a minute before its thank-you touch, as a real one is. */
    c->event_time = touch_ts(f, purchase, o->touches) - 60;
    add_missing_refs(c, q);
    switch (rule) {
    case 0: snprintf(c->event_id, sizeof c->event_id, "ev-%ld", purchase); break;
    case 1:
        snprintf(buf, sizeof buf, "%ld", 4820982911946154508L + v);
        conversion_add_ref(c, buf);
        break;
    case 2: visitor_vid(v, c->vid); break;
    case 3: visitor_hash('e', v, c->email_hash); break;
    case 4: visitor_hash('p', v, c->phone_hash); break;
    case 5:
        visitor_ip(v, c->ip, sizeof c->ip);
        STR_SET(c->user_agent, uas[v % NUAS]);
        break;
    default:
        STR_SET(c->vid, "ffffffffffffffffffffffffffffffff");
        hash_sha256_hex("nobody@example.com", 18, c->email_hash);
        hash_sha256_hex("+19995550000", 12, c->phone_hash);
        STR_SET(c->ip, "192.0.2.1");
        STR_SET(c->user_agent, uas[0]);
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, long n, double p)
{
    if (n <= 0)
        return 0;
    long i = (long)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int write_config(const char *conf, const char *db)
{
    FILE *fp = fopen(conf, "w");
    if (!fp)
        return -1;
    fprintf(fp,
            "store = { path = \"%s\"; synchronous = \"normal\"; };\n"
            "log = { level = \"error\"; };\n"
            "admin = { token = \"match-bench-token\"; };\n"
            "tiktok = { default_pixel = \"CBENCHPIXEL000000001\"; dry_run = true;\n"
            "  pixels = ( { code = \"CBENCHPIXEL000000001\"; } ); };\n"
            "sources = ( { id = \"shop\"; type = \"shopify\"; secret = \"bench\"; } );\n",
            db);
    return fclose(fp);
}

struct timings {
    double *all;
    double *per[NRULES];
    long nper[NRULES];
    long mismatches;
    char first_mismatch[160];
};

static int run_queries(struct store *st, const struct config *cfg, const struct opts *o,
                       const struct fill *f, struct timings *t)
{
    unsigned int seed = o->seed;
    for (long q = 0; q < o->queries; q++) {
        struct conversion c;
        struct match_result m;
        long v = (long)(rand_r(&seed) % (unsigned int)o->visitors);
        int rule = (int)(q % NRULES);
        v = rule == 1 ? v & ~1L : (v | 1) < o->visitors ? v | 1 : v - 1;

        build_conversion(&c, q, v, o, f);
        double t0 = now_us();
        int rc = match_conversion(st, cfg, &c, f->now, &m);
        double dt = now_us() - t0;
        conversion_clear(&c);
        if (rc < 0) {
            fprintf(stderr, "match_bench: match_conversion failed at query %ld\n", q);
            return -1;
        }
        t->all[q] = dt;
        t->per[rule][t->nper[rule]++] = dt;
        if (strcmp(m.matched_by, rule_names[rule]) != 0 && t->mismatches++ == 0)
            snprintf(t->first_mismatch, sizeof t->first_mismatch, "query %ld: built for %s, got %s",
                     q, rule_names[rule], m.matched_by);
    }
    return 0;
}

static void print_result(const struct opts *o, const struct timings *t, double fill_s,
                         long long db_bytes)
{
    qsort(t->all, (size_t)o->queries, sizeof(double), cmp_double);
    printf("MATCH {\"touches\":%ld,\"visitors\":%ld,\"queries\":%ld,\"db_bytes\":%lld,"
           "\"fill_s\":%.2f,\"median_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
           "\"mismatches\":%ld,\"first_mismatch\":\"%s\",\"rules\":{",
           o->touches, o->visitors, o->queries, db_bytes, fill_s,
           percentile(t->all, o->queries, 50), percentile(t->all, o->queries, 99),
           t->all[o->queries - 1], t->mismatches, t->first_mismatch);
    for (int r = 0; r < NRULES; r++) {
        qsort(t->per[r], (size_t)t->nper[r], sizeof(double), cmp_double);
        printf("%s\"%s\":{\"n\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f}", r ? "," : "",
               rule_names[r], t->nper[r], percentile(t->per[r], t->nper[r], 50),
               percentile(t->per[r], t->nper[r], 99));
    }
    printf("}}\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    long seed = 42;
    *o = (struct opts){.touches = 1000000, .visitors = 100000, .queries = 20000, .seed = 42};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (strcmp(k, "--touches") == 0)
            bad = parse_long(v, TOUCHES_PER_VISIT, 100000000, &o->touches);
        else if (strcmp(k, "--queries") == 0)
            bad = parse_long(v, NRULES, 10000000, &o->queries);
        else if (strcmp(k, "--seed") == 0)
            bad = parse_long(v, 0, 1000000, &seed);
        else if (strcmp(k, "--dir") == 0)
            o->dir = v;
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "match_bench: bad option %s %s\n", k, v);
            return -1;
        }
    }
    o->seed = (unsigned int)seed;
    if (!o->dir || argc % 2 == 0) {
        fprintf(stderr,
                "usage: match_bench --dir DIR [--touches N] [--queries Q] [--seed S]\n"
                "  (N touches of N/%d visitors; DIR is created and keeps the store)\n",
                TOUCHES_PER_VISIT);
        return -1;
    }
    o->visitors = o->touches / TOUCHES_PER_VISIT;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct timings t = {0};
    struct store *st = NULL;
    struct config *cfg = NULL;
    char db[512], conf[512], err[600];
    struct stat sb;
    int rc = 1;

    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    if (mkdir(o.dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "match_bench: cannot create %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    snprintf(db, sizeof db, "%s/match-%ld.db", o.dir, o.touches);
    snprintf(conf, sizeof conf, "%s/match.conf", o.dir);
    unlink(db);
    if (write_config(conf, db) < 0 || !(cfg = config_load(conf, err, sizeof err))) {
        fprintf(stderr, "match_bench: config: %s\n", cfg ? "" : err);
        goto out;
    }
    log_set_level(LOG_LVL_ERROR);
    if (!(st = store_open(db, 0, err, sizeof err))) {
        fprintf(stderr, "match_bench: %s\n", err);
        goto out;
    }
    store_close(st);
    st = NULL;

    struct fill f = {.now = (long long)time(NULL), .window = cfg->window_s};
    double t0 = now_us();
    if (fill_store(db, &o, f.now, f.window) < 0)
        goto out;
    double fill_s = (now_us() - t0) / 1e6;
    if (!(st = store_open(db, 0, err, sizeof err))) {
        fprintf(stderr, "match_bench: %s\n", err);
        goto out;
    }
    t.all = calloc((size_t)o.queries, sizeof(double));
    for (int r = 0; r < NRULES; r++)
        t.per[r] = calloc((size_t)o.queries / NRULES + 1, sizeof(double));
    for (int r = 0; r < NRULES; r++)
        if (!t.per[r])
            goto out;
    if (!t.all || run_queries(st, cfg, &o, &f, &t) < 0)
        goto out;
    print_result(&o, &t, fill_s, stat(db, &sb) == 0 ? (long long)sb.st_size : -1);
    rc = t.mismatches ? 3 : 0;
out:
    store_close(st);
    config_drop(cfg);
    free(t.all);
    for (int r = 0; r < NRULES; r++)
        free(t.per[r]);
    return rc;
}
