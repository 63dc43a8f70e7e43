/* Configuration loading: one table of scalar settings (name, type, bounds, default)
 * plus hand-written loaders for the lists (pixels, sources, origins). */
#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"
#include "netaddr.h"
#include "phone.h"
#include "sources/source.h"

enum setting_type { SET_INT, SET_LONG, SET_BOOL, SET_DOUBLE, SET_STR, SET_SIZE };

struct setting {
    const char *path;
    enum setting_type type;
    size_t offset;
    size_t size; /* SET_STR: buffer size */
    double min, max;
    const char *def_str;
    double def_num;
};

#define OFF(f) offsetof(struct config, f)
#define STR(p, f, d)                                                                               \
    {                                                                                              \
        p, SET_STR, OFF(f), sizeof(((struct config *)0)->f), 0, 0, d, 0                            \
    }
#define NUM(p, t, f, lo, hi, d)                                                                    \
    {                                                                                              \
        p, t, OFF(f), 0, lo, hi, NULL, d                                                           \
    }

static const struct setting settings[] = {
    STR("listen.address", listen_address, "127.0.0.1"),
    NUM("listen.port", SET_INT, listen_port, 0, 65535, 8080),
    NUM("listen.max_body", SET_SIZE, max_body, 1024, 64 << 20, 1 << 20),
    NUM("listen.max_connections", SET_INT, max_connections, 1, 100000, 1024),
    NUM("listen.max_body_memory", SET_SIZE, max_body_memory, 64 << 10, 1e12, 64 << 20),
    NUM("listen.timeout_s", SET_INT, connection_timeout_s, 1, 3600, 15),
    STR("admin.address", admin_address, "127.0.0.1"),
    NUM("admin.port", SET_INT, admin_port, 0, 65535, 8081),
    STR("store.path", store_path, "/var/lib/ttrelay/ttrelay.db"),
    STR("store.backend", store_backend, "sqlite"),
    STR("tiktok.api_base", api_base, "https://business-api.tiktok.com"),
    STR("tiktok.default_pixel", default_pixel, ""),
    NUM("tiktok.dry_run", SET_BOOL, dry_run, 0, 1, 0),
    NUM("tiktok.batch_size", SET_INT, batch_size, 1, 1000, 1000),
    NUM("tiktok.request_timeout_ms", SET_LONG, request_timeout_ms, 100, 600000, 10000),
    NUM("tiktok.claim_lease_s", SET_LONG, claim_lease_s, 1, 3600, 60),
    NUM("tiktok.retry_base_ms", SET_LONG, retry_base_ms, 10, 3600000, 1000),
    NUM("tiktok.retry_cap_ms", SET_LONG, retry_cap_ms, 10, 86400000, 300000),
    NUM("tiktok.max_age_s", SET_LONG, max_age_s, 60, 90 * 86400, 7 * 86400),
    NUM("tiktok.rate_per_s", SET_DOUBLE, rate_per_s, 0.1, 1e6, 100),
    STR("events.order", event_names[KIND_ORDER], "CompletePayment"),
    STR("events.call", event_names[KIND_CALL], "Contact"),
    STR("events.lead", event_names[KIND_LEAD], "Lead"),
    NUM("match.hold_s", SET_LONG, hold_s, 0, 86400, 30),
    NUM("match.window_s", SET_LONG, window_s, 60, 30 * 86400, 172800),
    NUM("match.ip_ua_window_s", SET_LONG, ip_ua_window_s, 0, 86400, 1800),
    NUM("match.max_gap_s", SET_LONG, max_gap_s, 60, 30 * 86400, 3600),
    NUM("match.click_window_s", SET_LONG, click_window_s, 3600, 365 * 86400, 28 * 86400),
    NUM("match.retention_s", SET_LONG, retention_s, 3600, 3650 * 86400, 30 * 86400),
    NUM("collect.rate_per_s", SET_DOUBLE, collect_rate_per_s, 0.1, 1e6, 20),
    NUM("collect.burst", SET_INT, collect_burst, 1, 1000000, 60),
    NUM("collect.max_body", SET_SIZE, max_collect_body, 256, 1 << 20, 8192),
    STR("collect.phone_country", collect_phone_country, ""),
};

/* Keys read by the hand-written loaders below (the table above names the rest). */
static const char *const loader_keys[] = {
    "admin.token",
    "admin.token_file",
    "store.synchronous",
    "store.conninfo",
    "store.conninfo_file",
    "log.level",
    "tiktok.pixels.[].code",
    "tiktok.pixels.[].access_token",
    "tiktok.pixels.[].access_token_file",
    "tiktok.pixels.[].test_event_code",
    "tiktok.pixels.[].rate_per_s",
    "collect.allowed_origins",
    "collect.trusted_proxies",
    "sources.[].id",
    "sources.[].type",
    "sources.[].secret",
    "sources.[].secret_file",
    "sources.[].kind",
    "sources.[].pixel",
    "sources.[].send_tests",
    "sources.[].renewals",
    "sources.[].consent",
    "consent",
};

#define NSETTINGS (sizeof settings / sizeof settings[0])
#define NLOADER_KEYS (sizeof loader_keys / sizeof loader_keys[0])

static void set_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", file, line, reason);
    else
        snprintf(err, errlen, "%s: %s", file, reason);
}

static int setting_line(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

static int load_setting(const config_t *lc, const struct setting *d, struct config *cfg,
                        const char *file, char *err, size_t errlen)
{
    char *base = (char *)cfg + d->offset;
    config_setting_t *s = config_lookup(lc, d->path);
    double v = d->def_num;

    if (d->type == SET_STR) {
        const char *val = d->def_str;
        if (s) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                set_err(err, errlen, file, setting_line(s), "%s must be a string", d->path);
                return -1;
            }
            val = config_setting_get_string(s);
            if (strlen(val) >= d->size) {
                set_err(err, errlen, file, setting_line(s), "%s is too long", d->path);
                return -1;
            }
        }
        str_copy(base, d->size, val);
        return 0;
    }
    if (s) {
        int t = config_setting_type(s);
        if (d->type == SET_BOOL) {
            if (t != CONFIG_TYPE_BOOL) {
                set_err(err, errlen, file, setting_line(s), "%s must be true or false", d->path);
                return -1;
            }
            v = config_setting_get_bool(s);
        } else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
            v = (double)config_setting_get_int64(s);
        } else if (t == CONFIG_TYPE_FLOAT && d->type == SET_DOUBLE) {
            v = config_setting_get_float(s);
        } else {
            set_err(err, errlen, file, setting_line(s), "%s must be a number", d->path);
            return -1;
        }
        if (v < d->min || v > d->max) {
            set_err(err, errlen, file, setting_line(s), "%s must be between %g and %g", d->path,
                    d->min, d->max);
            return -1;
        }
    }
    switch (d->type) {
    case SET_INT:
    case SET_BOOL: *(int *)base = (int)v; break;
    case SET_LONG: *(long *)base = (long)v; break;
    case SET_SIZE: *(size_t *)base = (size_t)v; break;
    case SET_DOUBLE: *(double *)base = v; break;
    case SET_STR: break;
    }
    return 0;
}

/* The file a *_file key names: "${CREDENTIALS_DIRECTORY}/x" is systemd's copy under
 * LoadCredential=; outside the service (ttrelayd -t by hand, ttrelayctl) the variable is
 * unset and the shipped unit takes each credential from the configuration's directory,
 * so that is where it is looked for. */
static void secret_path(const char *fpath, const char *file, char *path, size_t size)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char copy[1024];

    if (strncmp(fpath, "${CREDENTIALS_DIRECTORY}", 24) != 0) {
        str_copy(path, size, fpath);
        return;
    }
    if (!dir) {
        str_copy(copy, sizeof copy, file);
        dir = dirname(copy);
    }
    snprintf(path, size, "%s%s", dir, fpath + 24);
}

/* Reads a secret from "<key>" or "<key>_file" (a ${CREDENTIALS_DIRECTORY} prefix is
 * expanded, so systemd's LoadCredential= works). *out is new. Missing both: *out = NULL. */
static int load_secret(const config_setting_t *grp, const char *key, char **out, const char *file,
                       char *err, size_t errlen)
{
    char fkey[64], path[1024];
    const char *val = NULL, *fpath = NULL;
    config_setting_t *s;
    int has_val;

    *out = NULL;
    snprintf(fkey, sizeof fkey, "%s_file", key);
    has_val = config_setting_lookup_string(grp, key, &val) == CONFIG_TRUE;
    if (config_setting_lookup_string(grp, fkey, &fpath) != CONFIG_TRUE) {
        if (has_val)
            *out = strdup(val);
        return has_val && !*out ? -1 : 0;
    }
    s = config_setting_lookup((config_setting_t *)grp, fkey);
    if (has_val) {
        set_err(err, errlen, file, setting_line(s),
                "%s and %s are both set; keep one (%s is the one for LoadCredential=)", key, fkey,
                fkey);
        return -1;
    }
    secret_path(fpath, file, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, file, setting_line(s), "%s: cannot read %s: %s%s", fkey, path,
                strerror(errno),
                strncmp(fpath, "${CREDENTIALS_DIRECTORY}", 24) || getenv("CREDENTIALS_DIRECTORY")
                    ? ""
                    : " (${CREDENTIALS_DIRECTORY} is not set: looked in the configuration's "
                      "directory, where the unit's LoadCredential= reads it)");
        return -1;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n == 0) {
        set_err(err, errlen, file, setting_line(s), "%s: %s is empty", fkey, path);
        return -1;
    }
    *out = strdup(buf);
    explicit_bzero(buf, sizeof buf);
    return *out ? 0 : -1;
}

/* Values published in etc/ttrelay.conf and the README: with them a live relay would take
 * orders from anyone who read the example. */
static int secret_is_example(const char *s)
{
    static const char *const marks[] = {"example", "change-me", "changeme", "replace-with"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strcasestr(s, marks[i]))
            return 1;
    return 0;
}

static int load_strings(const config_t *lc, const char *path, char ***out, int *n, const char *file,
                        char *err, size_t errlen)
{
    config_setting_t *s = config_lookup(lc, path);
    *out = NULL;
    *n = 0;
    if (!s)
        return 0;
    if (!config_setting_is_aggregate(s)) {
        set_err(err, errlen, file, setting_line(s), "%s must be a list of strings", path);
        return -1;
    }
    int count = config_setting_length(s);
    *out = calloc((size_t)count + 1, sizeof(char *));
    if (!*out)
        return -1;
    for (int i = 0; i < count; i++) {
        const char *v = config_setting_get_string_elem(s, i);
        if (!v) {
            set_err(err, errlen, file, setting_line(s), "%s[%d] must be a string", path, i);
            return -1;
        }
        (*out)[i] = strdup(v);
        (*n)++;
    }
    return 0;
}

static int element_line(const config_t *lc, const char *path, int i)
{
    config_setting_t *list = config_lookup(lc, path);
    config_setting_t *e = list ? config_setting_get_elem(list, (unsigned)i) : NULL;
    return e && config_setting_source_line(e) ? (int)config_setting_source_line(e)
                                              : setting_line(list);
}

/* Origins are compared as browsers send them, so they are stored in that form; proxies
 * are ranges (a CDN's published list), a bare address being a range of one. */
static int load_collect(const config_t *lc, struct config *cfg, const char *file, char *err,
                        size_t errlen)
{
    char reason[300], norm[256];

    if (load_strings(lc, "collect.allowed_origins", &cfg->allowed_origins, &cfg->norigins, file,
                     err, errlen) < 0 ||
        load_strings(lc, "collect.trusted_proxies", &cfg->trusted_proxies, &cfg->nproxies, file,
                     err, errlen) < 0)
        return -1;
    for (int i = 0; i < cfg->norigins; i++) {
        if (netaddr_normalize_origin(cfg->allowed_origins[i], norm, sizeof norm, reason,
                                     sizeof reason) < 0) {
            set_err(err, errlen, file, element_line(lc, "collect.allowed_origins", i),
                    "collect.allowed_origins[%d]: %s", i, reason);
            return -1;
        }
        free(cfg->allowed_origins[i]);
        cfg->allowed_origins[i] = strdup(norm);
        if (!cfg->allowed_origins[i])
            return -1;
    }
    cfg->proxy_ranges = calloc((size_t)cfg->nproxies + 1, sizeof *cfg->proxy_ranges);
    if (!cfg->proxy_ranges)
        return -1;
    for (int i = 0; i < cfg->nproxies; i++)
        if (netaddr_parse_cidr(cfg->trusted_proxies[i], &cfg->proxy_ranges[i], reason,
                               sizeof reason) < 0) {
            set_err(err, errlen, file, element_line(lc, "collect.trusted_proxies", i),
                    "collect.trusted_proxies[%d]: %s", i, reason);
            return -1;
        }
    return 0;
}

static int valid_id(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int load_pixels(const config_t *lc, struct config *cfg, const char *file, char *err,
                       size_t errlen)
{
    config_setting_t *list = config_lookup(lc, "tiktok.pixels");
    int n = list ? config_setting_length(list) : 0;

    if (list && !config_setting_is_list(list) && !config_setting_is_array(list)) {
        set_err(err, errlen, file, setting_line(list), "tiktok.pixels must be a list ( { … }, … )");
        return -1;
    }
    cfg->pixels = calloc((size_t)n + 1, sizeof *cfg->pixels);
    if (!cfg->pixels)
        return -1;
    for (int i = 0; i < n; i++) {
        config_setting_t *p = config_setting_get_elem(list, (unsigned)i);
        struct pixel_cfg *px = &cfg->pixels[i];
        const char *code = NULL, *tec = NULL;
        double rate = cfg->rate_per_s;
        int line = setting_line(p);

        if (!config_setting_is_group(p) ||
            config_setting_lookup_string(p, "code", &code) != CONFIG_TRUE || !valid_id(code) ||
            strlen(code) >= sizeof px->code) {
            set_err(err, errlen, file, line, "tiktok.pixels[%d] needs a code", i);
            return -1;
        }
        STR_SET(px->code, code);
        cfg->npixels++;
        if (config_setting_lookup_string(p, "test_event_code", &tec) == CONFIG_TRUE)
            STR_SET(px->test_event_code, tec);
        if (config_setting_lookup_float(p, "rate_per_s", &rate) != CONFIG_TRUE) {
            long long r;
            if (config_setting_lookup_int64(p, "rate_per_s", &r) == CONFIG_TRUE)
                rate = (double)r;
        }
        if (rate <= 0) {
            set_err(err, errlen, file, line, "tiktok.pixels[%d].rate_per_s must be positive", i);
            return -1;
        }
        px->rate_per_s = rate;
        if (load_secret(p, "access_token", &px->access_token, file, err, errlen) < 0)
            return -1;
        if (!px->access_token && !cfg->dry_run) {
            set_err(err, errlen, file, line, "pixel %s has no access_token (or access_token_file)",
                    code);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->pixels[j].code, code) == 0) {
                set_err(err, errlen, file, line, "pixel %s is listed twice", code);
                return -1;
            }
    }
    if (!cfg->default_pixel[0] && cfg->npixels > 0)
        STR_SET(cfg->default_pixel, cfg->pixels[0].code);
    if (!cfg->default_pixel[0]) {
        set_err(err, errlen, file, 0, "tiktok.default_pixel is required");
        return -1;
    }
    if (!config_find_pixel(cfg, cfg->default_pixel)) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "tiktok.default_pixel")),
                "tiktok.default_pixel %s is not in tiktok.pixels", cfg->default_pixel);
        return -1;
    }
    return 0;
}

static const char *const consent_names[] = {"default", "ldu", "suppress", "ignore"};

const char *config_consent_name(enum consent_policy p)
{
    return (p >= CONSENT_DEFAULT && p <= CONSENT_IGNORE) ? consent_names[p] : "?";
}

static int consent_parse(const char *name, enum consent_policy *out)
{
    for (int i = CONSENT_LDU; i <= CONSENT_IGNORE; i++)
        if (strcmp(name, consent_names[i]) == 0) {
            *out = (enum consent_policy)i;
            return 0;
        }
    return -1;
}

enum consent_policy config_consent_policy(const struct config *cfg, const struct source_cfg *src)
{
    return src && src->consent != CONSENT_DEFAULT ? src->consent : cfg->consent;
}

/* Optional `consent` and `renewals` of one source. */
static int load_source_policies(config_setting_t *s, struct source_cfg *src, const char *file,
                                char *err, size_t errlen)
{
    const char *v = NULL;
    config_setting_t *set;

    if ((set = config_setting_lookup(s, "consent")) != NULL) {
        if (config_setting_type(set) != CONFIG_TYPE_STRING ||
            consent_parse(config_setting_get_string(set), &src->consent) < 0) {
            set_err(err, errlen, file, setting_line(set),
                    "source %s: consent must be \"ldu\", \"suppress\" or \"ignore\"", src->id);
            return -1;
        }
    }
    if ((set = config_setting_lookup(s, "renewals")) == NULL)
        return 0;
    if (config_setting_type(set) == CONFIG_TYPE_STRING)
        v = config_setting_get_string(set);
    if (!v || !v[0] || !valid_id(v) || strlen(v) >= sizeof src->renewal_event) {
        set_err(err, errlen, file, setting_line(set),
                "source %s: renewals must be \"ignore\", \"send\" or a TikTok event name "
                "(e.g. \"Subscribe\")",
                src->id);
        return -1;
    }
    if (strcmp(v, "ignore") == 0)
        src->renewals = RENEWALS_IGNORE;
    else if (strcmp(v, "send") == 0)
        src->renewals = RENEWALS_SEND;
    else {
        src->renewals = RENEWALS_EVENT;
        STR_SET(src->renewal_event, v);
    }
    return 0;
}

static int load_source(config_setting_t *s, int i, struct config *cfg, const char *file, char *err,
                       size_t errlen)
{
    struct source_cfg *src = &cfg->sources[i];
    const char *id = NULL, *type = NULL, *kind = NULL, *pixel = NULL;
    int line = setting_line(s), b;

    if (!config_setting_is_group(s) || config_setting_lookup_string(s, "id", &id) != CONFIG_TRUE ||
        !valid_id(id) || strlen(id) >= sizeof src->id) {
        set_err(err, errlen, file, line, "sources[%d] needs an id of letters, digits, - _ .", i);
        return -1;
    }
    STR_SET(src->id, id);
    if (config_setting_lookup_string(s, "type", &type) != CONFIG_TRUE ||
        !(src->ops = source_find(type))) {
        set_err(err, errlen, file, line,
                "source %s: type must be shopify, woocommerce, stripe, calendly, calcom or generic",
                id);
        return -1;
    }
    STR_SET(src->type, type);
    src->kind = (!strcmp(type, "calendly") || !strcmp(type, "calcom")) ? KIND_CALL : KIND_ORDER;
    if (config_setting_lookup_string(s, "kind", &kind) == CONFIG_TRUE &&
        conversion_kind_parse(kind, &src->kind) < 0) {
        set_err(err, errlen, file, line, "source %s: kind must be order, call or lead", id);
        return -1;
    }
    if (load_secret(s, "secret", &src->secret, file, err, errlen) < 0)
        return -1;
    if (!src->secret || !src->secret[0]) {
        set_err(err, errlen, file, line, "source %s needs a secret (or secret_file)", id);
        return -1;
    }
    if (config_setting_lookup_string(s, "pixel", &pixel) == CONFIG_TRUE) {
        if (!config_find_pixel(cfg, pixel)) {
            set_err(err, errlen, file, line, "source %s: pixel %s is not in tiktok.pixels", id,
                    pixel);
            return -1;
        }
        STR_SET(src->pixel, pixel);
    } else {
        STR_SET(src->pixel, cfg->default_pixel);
    }
    if (config_setting_lookup_bool(s, "send_tests", &b) == CONFIG_TRUE)
        src->send_tests = b;
    if (load_source_policies(s, src, file, err, errlen) < 0)
        return -1;
    /* A test order sent without a test_event_code would count as a real conversion. */
    if (src->send_tests && !config_find_pixel(cfg, src->pixel)->test_event_code[0]) {
        set_err(err, errlen, file, line,
                "source %s: send_tests needs a test_event_code on pixel %s", id, src->pixel);
        return -1;
    }
    for (int j = 0; j < i; j++)
        if (strcmp(cfg->sources[j].id, id) == 0) {
            set_err(err, errlen, file, line, "source id %s is used twice", id);
            return -1;
        }
    return 0;
}

static int load_sources(const config_t *lc, struct config *cfg, const char *file, char *err,
                        size_t errlen)
{
    config_setting_t *list = config_lookup(lc, "sources");
    int n = list ? config_setting_length(list) : 0;

    if (list && !config_setting_is_list(list)) {
        set_err(err, errlen, file, setting_line(list), "sources must be a list ( { … }, … )");
        return -1;
    }
    cfg->sources = calloc((size_t)n + 1, sizeof *cfg->sources);
    if (!cfg->sources)
        return -1;
    for (int i = 0; i < n; i++) {
        cfg->nsources++;
        if (load_source(config_setting_get_elem(list, (unsigned)i), i, cfg, file, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_misc(const config_t *lc, struct config *cfg, const char *file, char *err,
                     size_t errlen)
{
    const char *level = "info";
    config_setting_t *admin = config_lookup(lc, "admin");

    if (config_lookup_string(lc, "log.level", &level) == CONFIG_TRUE &&
        log_parse_level(level, &cfg->log_level) < 0) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "log.level")),
                "log.level must be debug, info, warn or error");
        return -1;
    }
    if (!config_lookup(lc, "log.level"))
        cfg->log_level = LOG_LVL_INFO;
    if (admin && load_secret(admin, "token", &cfg->admin_token, file, err, errlen) < 0)
        return -1;
    if (!cfg->admin_token || strlen(cfg->admin_token) < 8) {
        set_err(err, errlen, file, setting_line(admin),
                "admin.token (or admin.token_file) of at least 8 characters is required");
        return -1;
    }
    const char *sync = "full";
    config_lookup_string(lc, "store.synchronous", &sync);
    if (strcmp(sync, "full") && strcmp(sync, "normal")) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "store.synchronous")),
                "store.synchronous must be \"full\" or \"normal\"");
        return -1;
    }
    cfg->store_sync_full = strcmp(sync, "full") == 0;
    config_setting_t *store = config_lookup(lc, "store");
    if (strcmp(cfg->store_backend, "sqlite") && strcmp(cfg->store_backend, "postgresql")) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "store.backend")),
                "store.backend must be \"sqlite\" or \"postgresql\"");
        return -1;
    }
    if (store && load_secret(store, "conninfo", &cfg->store_conninfo, file, err, errlen) < 0)
        return -1;
    if (!strcmp(cfg->store_backend, "postgresql") && !cfg->store_conninfo) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "store.backend")),
                "store.backend = \"postgresql\" needs store.conninfo (or conninfo_file, for a "
                "password: \"host=db.internal dbname=ttrelay user=ttrelay password=…\")");
        return -1;
    }
    if (cfg->retry_cap_ms < cfg->retry_base_ms) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "tiktok.retry_cap_ms")),
                "tiktok.retry_cap_ms must not be below tiktok.retry_base_ms");
        return -1;
    }
    for (int k = 0; k < KIND_COUNT; k++)
        if (!cfg->event_names[k][0]) {
            set_err(err, errlen, file, 0, "events.%s must not be empty", conversion_kind_name(k));
            return -1;
        }
    config_setting_t *cs = config_lookup(lc, "consent");
    if (cs && (config_setting_type(cs) != CONFIG_TYPE_STRING ||
               consent_parse(config_setting_get_string(cs), &cfg->consent) < 0)) {
        set_err(err, errlen, file, setting_line(cs),
                "consent must be \"ldu\", \"suppress\" or \"ignore\"");
        return -1;
    }
    if (!cs)
        cfg->consent = CONSENT_LDU;
    if (cfg->collect_phone_country[0] && !phone_region_known(cfg->collect_phone_country)) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "collect.phone_country")),
                "collect.phone_country must be a two-letter country code such as \"GB\"");
        return -1;
    }
    return load_collect(lc, cfg, file, err, errlen);
}

/* Sections must be groups (sources a list): "listen = 8080;" would otherwise be ignored. */
static int check_keys(const config_t *lc, const char *file, char *err, size_t errlen)
{
    static const char *const groups[] = {"listen", "admin",  "store", "log",
                                         "tiktok", "events", "match", "collect"};
    const char *known[NSETTINGS + NLOADER_KEYS];
    config_setting_t *s;

    for (size_t i = 0; i < NSETTINGS; i++)
        known[i] = settings[i].path;
    for (size_t i = 0; i < NLOADER_KEYS; i++)
        known[NSETTINGS + i] = loader_keys[i];
    if (config_keys_check(lc, known, NSETTINGS + NLOADER_KEYS, file, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if ((s = config_lookup(lc, groups[i])) && !config_setting_is_group(s)) {
            set_err(err, errlen, file, setting_line(s), "%s must be a group: %s = { … };",
                    groups[i], groups[i]);
            return -1;
        }
    return 0;
}

/* The longest retry window of a sender ttrelay knows: Stripe retries a live webhook for up
 * to 3 days (../reference/webhook-sources.md; Calendly 24 h, Shopify 4 h, WooCommerce and
 * Cal.com not at all). */
#define SENDER_RETRY_WINDOW_S (3L * 86400)

/* Business keys live match.retention_s: a sender's redelivery, or an event TikTok would
 * still take, after its key was purged would be stored and sent again as a new conversion
 * (a new event_id when unmatched). */
static int check_retention(const config_t *lc, const struct config *cfg, const char *file,
                           char *err, size_t errlen)
{
    config_setting_t *r = config_lookup(lc, "match.retention_s");
    int line = setting_line(r ? r : config_lookup(lc, "match"));

    if (cfg->retention_s < SENDER_RETRY_WINDOW_S) {
        set_err(err, errlen, file, line,
                "match.retention_s = %ld is shorter than the longest sender retry window (Stripe "
                "retries for 3 days): a redelivery after the purge would be sent again; set it "
                "to at least %ld",
                cfg->retention_s, cfg->max_age_s > SENDER_RETRY_WINDOW_S ? cfg->max_age_s
                                                                         : SENDER_RETRY_WINDOW_S);
        return -1;
    }
    if (cfg->retention_s < cfg->max_age_s) {
        if (!r) /* the default retention: the line that raised max_age_s is the one to see */
            line = setting_line(config_lookup(lc, "tiktok.max_age_s"));
        set_err(err, errlen, file, line,
                "match.retention_s = %ld is shorter than tiktok.max_age_s = %ld: a conversion "
                "purged while TikTok would still take it could be sent twice; set "
                "match.retention_s to at least %ld (or lower tiktok.max_age_s)",
                cfg->retention_s, cfg->max_age_s, cfg->max_age_s);
        return -1;
    }
    return 0;
}

static int refuse_examples(const config_t *lc, const struct config *cfg, const char *file,
                           char *err, size_t errlen)
{
    if (cfg->dry_run)
        return 0;
    if (secret_is_example(cfg->admin_token)) {
        set_err(err, errlen, file, setting_line(config_lookup(lc, "admin")),
                "admin.token is the example's; with tiktok.dry_run = false it needs a real one "
                "(openssl rand -hex 32)");
        return -1;
    }
    for (int i = 0; i < cfg->npixels; i++)
        if (cfg->pixels[i].access_token && secret_is_example(cfg->pixels[i].access_token)) {
            set_err(err, errlen, file, element_line(lc, "tiktok.pixels", i),
                    "pixel %s: access_token is the example's placeholder; put the pixel's Events "
                    "API token there (TikTok Events Manager > Settings) or set tiktok.dry_run = "
                    "true",
                    cfg->pixels[i].code);
            return -1;
        }
    for (int i = 0; i < cfg->nsources; i++)
        if (secret_is_example(cfg->sources[i].secret)) {
            set_err(err, errlen, file, element_line(lc, "sources", i),
                    "source %s: secret is an example value, refused with tiktok.dry_run = false "
                    "(anyone could post conversions); use the secret %s shows, or one from "
                    "openssl rand -hex 32 where you choose it",
                    cfg->sources[i].id, cfg->sources[i].type);
            return -1;
        }
    return 0;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    config_t lc;
    struct config *cfg = calloc(1, sizeof *cfg);
    int ok = 0;

    config_init(&lc);
    if (!cfg) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    cfg->refs = 1;
    cfg->path = strdup(path);
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            set_err(err, errlen, path, 0, "cannot read: %s", strerror(errno));
        else
            set_err(err, errlen, config_error_file(&lc) ? config_error_file(&lc) : path,
                    config_error_line(&lc), "%s", config_error_text(&lc));
        goto out;
    }
    if (check_keys(&lc, path, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < NSETTINGS; i++)
        if (load_setting(&lc, &settings[i], cfg, path, err, errlen) < 0)
            goto out;
    cfg->store_path_line = setting_line(config_lookup(&lc, "store.path"));
    if (load_misc(&lc, cfg, path, err, errlen) < 0 ||
        load_pixels(&lc, cfg, path, err, errlen) < 0 ||
        load_sources(&lc, cfg, path, err, errlen) < 0 ||
        check_retention(&lc, cfg, path, err, errlen) < 0 ||
        refuse_examples(&lc, cfg, path, err, errlen) < 0)
        goto out;
    ok = 1;
out:
    config_destroy(&lc);
    if (!ok && cfg) {
        config_drop(cfg);
        cfg = NULL;
    }
    return cfg;
}

struct config *config_hold(struct config *cfg)
{
    if (cfg)
        __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL);
    return cfg;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void config_drop(struct config *cfg)
{
    if (!cfg || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free_secret(cfg->store_conninfo);
    for (int i = 0; i < cfg->npixels; i++)
        free_secret(cfg->pixels[i].access_token);
    for (int i = 0; i < cfg->nsources; i++)
        free_secret(cfg->sources[i].secret);
    for (int i = 0; i < cfg->norigins; i++)
        free(cfg->allowed_origins[i]);
    for (int i = 0; i < cfg->nproxies; i++)
        free(cfg->trusted_proxies[i]);
    free(cfg->allowed_origins);
    free(cfg->trusted_proxies);
    free(cfg->proxy_ranges);
    free(cfg->pixels);
    free(cfg->sources);
    free_secret(cfg->admin_token);
    free(cfg->path);
    free(cfg);
}

const struct source_cfg *config_find_source(const struct config *cfg, const char *id)
{
    for (int i = 0; i < cfg->nsources; i++)
        if (strcmp(cfg->sources[i].id, id) == 0)
            return &cfg->sources[i];
    return NULL;
}

const struct pixel_cfg *config_find_pixel(const struct config *cfg, const char *code)
{
    for (int i = 0; i < cfg->npixels; i++)
        if (strcmp(cfg->pixels[i].code, code) == 0)
            return &cfg->pixels[i];
    return NULL;
}

int config_origin_allowed(const struct config *cfg, const char *origin)
{
    char norm[256], reason[300];

    if (!origin || netaddr_normalize_origin(origin, norm, sizeof norm, reason, sizeof reason) < 0)
        return 0;
    for (int i = 0; i < cfg->norigins; i++)
        if (strcmp(cfg->allowed_origins[i], norm) == 0 || strcmp(cfg->allowed_origins[i], "*") == 0)
            return 1;
    return 0;
}

int config_proxy_trusted(const struct config *cfg, const char *ip)
{
    for (int i = 0; ip && i < cfg->nproxies; i++)
        if (netaddr_cidr_contains(&cfg->proxy_ranges[i], ip))
            return 1;
    return 0;
}

int config_check_store(const struct config *cfg, char *err, size_t errlen)
{
    char copy[sizeof cfg->store_path], cwd[512], where[600] = "";
    const char *dir;
    struct stat st;

    if (strcmp(cfg->store_backend, "sqlite") != 0)
        return 0; /* a server: reached (or not) when the store opens */
    str_copy(copy, sizeof copy, cfg->store_path);
    dir = dirname(copy);
    if (cfg->store_path[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(where, sizeof where,
                 " (a relative store.path starts from the working directory %s)", cwd);
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, errlen, cfg->path, cfg->store_path_line,
                "store.path %s: directory %s does not exist%s", cfg->store_path, dir, where);
        return -1;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        set_err(err, errlen, cfg->path, cfg->store_path_line,
                "store.path %s: directory %s is not writable by uid %u: %s%s", cfg->store_path, dir,
                (unsigned)geteuid(), strerror(errno), where);
        return -1;
    }
    if (access(cfg->store_path, F_OK) == 0 && access(cfg->store_path, R_OK | W_OK) < 0) {
        set_err(err, errlen, cfg->path, cfg->store_path_line,
                "store.path %s is not writable by uid %u: %s", cfg->store_path, (unsigned)geteuid(),
                strerror(errno));
        return -1;
    }
    return 0;
}
