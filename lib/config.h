/* The configuration (libconfig syntax): loading with defaults and validation that names
 * file, line and reason. A loaded config is immutable and reference counted so that a
 * SIGHUP reload can swap it while requests still hold the old one. */
#ifndef TTR_CONFIG_H
#define TTR_CONFIG_H
#include <stddef.h>
#include "conversion.h"
#include "log.h"

struct source_ops;
struct netaddr_cidr;

struct pixel_cfg {
    char code[64];
    char *access_token; /* owned; never logged */
    char test_event_code[64];
    double rate_per_s; /* token bucket refill: requests per second */
};

/* What a subscription renewal becomes (source `renewals`). */
enum renewal_policy { RENEWALS_IGNORE, RENEWALS_SEND, RENEWALS_EVENT };
/* What a conversion linked to an opted-out visitor becomes (`consent`, per source). */
enum consent_policy { CONSENT_DEFAULT, CONSENT_LDU, CONSENT_SUPPRESS, CONSENT_IGNORE };

struct source_cfg {
    char id[64];
    char type[16];
    const struct source_ops *ops;
    char *secret;              /* owned; never logged */
    enum conversion_kind kind; /* default kind (generic; others fixed by type) */
    char pixel[64];            /* resolved: the source's pixel or the default */
    int send_tests;            /* test orders go to the pixel's test_event_code */
    enum renewal_policy renewals;
    char renewal_event[64];     /* RENEWALS_EVENT: the event name renewals are sent as */
    enum consent_policy consent; /* CONSENT_DEFAULT: the global `consent` */
};

struct config {
    char *path;
    char listen_address[64];
    int listen_port;
    char admin_address[64];
    int admin_port;
    char *admin_token; /* owned; never logged */
    char store_path[512];
    int store_path_line; /* where store.path is set, 0 for the default */
    int store_sync_full; /* store.synchronous = "full" (default) */
    char store_backend[16]; /* store.backend: "sqlite" (default) or "postgresql" */
    char *store_conninfo;   /* store.conninfo or conninfo_file (postgresql); owned, never logged */
    enum log_level log_level;

    char api_base[256];
    char default_pixel[64];
    struct pixel_cfg *pixels;
    int npixels;
    int dry_run;
    int batch_size;
    long request_timeout_ms;
    long claim_lease_s; /* the fixed part of a claim's lease (forwarder.c claim_lease_ms) */
    long retry_base_ms;
    long retry_cap_ms;
    long max_age_s;
    double rate_per_s; /* default per-pixel rate limit, requests per second */

    char event_names[KIND_COUNT][64];
    enum consent_policy consent; /* global default: ldu, suppress or ignore (never DEFAULT) */

    long hold_s;
    long window_s;
    long ip_ua_window_s;
    long max_gap_s; /* a touch found by vid, email, phone or IP+UA is this close to the conversion */
    long click_window_s;
    long retention_s; /* sent events and business keys kept this long */

    char **allowed_origins;
    int norigins;
    char **trusted_proxies;
    struct netaddr_cidr *proxy_ranges; /* parsed trusted_proxies, same order */
    int nproxies;
    double collect_rate_per_s; /* per client IP */
    int collect_burst;
    char collect_phone_country[8]; /* "" or a region libphonenumber knows, e.g. "GB" */

    size_t max_body; /* webhooks */
    size_t max_collect_body;
    int max_connections;
    int connection_timeout_s;
    size_t max_body_memory; /* all request bodies being received, together */

    struct source_cfg *sources;
    int nsources;

    int refs; /* see config_hold/config_drop */
};

/* Loads and validates path. Returns a new config (refs = 1) or NULL with
 * "FILE:LINE: reason" in err. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* What only the running uid can tell (ttrelayd -t and start-up): the store's directory
 * exists and is writable. Returns 0, or -1 with "FILE:LINE: reason" in err. */
int config_check_store(const struct config *cfg, char *err, size_t errlen);
/* Takes and releases a reference (thread-safe). The last drop frees it. */
struct config *config_hold(struct config *cfg);
void config_drop(struct config *cfg);

/* Borrowed pointers into cfg, or NULL. */
const struct source_cfg *config_find_source(const struct config *cfg, const char *id);
const struct pixel_cfg *config_find_pixel(const struct config *cfg, const char *code);
int config_origin_allowed(const struct config *cfg, const char *origin);
int config_proxy_trusted(const struct config *cfg, const char *ip);
/* The consent policy that applies to source (NULL: the global one); never CONSENT_DEFAULT. */
enum consent_policy config_consent_policy(const struct config *cfg, const struct source_cfg *src);
const char *config_consent_name(enum consent_policy p);

#endif
