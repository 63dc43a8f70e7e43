/* Configuration: defaults, validation naming file, line and reason, secrets from files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tap.h"

static char dir[128];

static struct config *load(const char *text, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof path, "%s/t.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return config_load(path, err, errlen);
}

#define BASE                                                                                       \
    "admin = { token = \"0123456789abcdef\"; };\n"                                                 \
    "tiktok = { default_pixel = \"CPIX\"; pixels = ( { code = \"CPIX\"; access_token = \"tok\"; "  \
    "} ); };\n"

#define PIXEL_OK                                                                                   \
    "tiktok = { default_pixel = \"CPIX\"; pixels = ( { code = \"CPIX\"; access_token = \"tok\"; "  \
    "} ); };\n"

static char want[1200];

/* Loads text and checks that it is refused with exactly "<dir>/t.conf:" + expected. */
static void refused(const char *text, const char *expected, const char *what)
{
    char err[600];
    struct config *cfg = load(text, err, sizeof err);
    snprintf(want, sizeof want, "%s/t.conf:%s", dir, expected);
    ok(cfg == NULL, "%s is refused", what);
    is_str(err, want, "... with file, line and a hint: %s", what);
    config_drop(cfg);
}

/* A retention shorter than a sender's retries or than max_age would send a redelivery
 * again once its business key is purged. */
static void retention(void)
{
    char err[600];
    refused(BASE "match = { retention_s = 3600; };\n",
            "3: match.retention_s = 3600 is shorter than the longest sender retry window (Stripe "
            "retries for 3 days): a redelivery after the purge would be sent again; set it to at "
            "least 604800",
            "retention of an hour");
    refused(BASE "match = {\n  hold_s = 5;\n  retention_s = 300000;\n};\n",
            "5: match.retention_s = 300000 is shorter than tiktok.max_age_s = 604800: a conversion "
            "purged while TikTok would still take it could be sent twice; set match.retention_s "
            "to at least 604800 (or lower tiktok.max_age_s)",
            "retention under max_age");
    refused("admin = { token = \"0123456789abcdef\"; };\n"
            "tiktok = { default_pixel = \"CPIX\"; pixels = ( { code = \"CPIX\"; access_token = "
            "\"tok\"; } );\n  max_age_s = 5184000; };\n",
            "3: match.retention_s = 2592000 is shorter than tiktok.max_age_s = 5184000: a "
            "conversion purged while TikTok would still take it could be sent twice; set "
            "match.retention_s to at least 5184000 (or lower tiktok.max_age_s)",
            "the default retention under a raised max_age names max_age_s's line");
    struct config *cfg = load("admin = { token = \"0123456789abcdef\"; };\n"
               "tiktok = { default_pixel = \"CPIX\"; pixels = ( { code = \"CPIX\"; "
               "access_token = \"tok\"; } ); max_age_s = 259200; };\n"
               "match = { retention_s = 259200; };\n",
               err, sizeof err);
    ok(cfg != NULL, "3 days of retention with a 3-day max_age loads (%s)", err);
    config_drop(cfg);
}

static void refusals(char *path, size_t size)
{
    refused("admin = { token = \"0123456789abcdef\"; };\n"
            "tiktok = { dry_runn = true; pixels = ( { code = \"CPIX\"; } ); };\n",
            "2: unknown key tiktok.dry_runn (did you mean dry_run?)",
            "a typo inside a section (dry_runn)");
    refused(BASE "colect = { allowed_origins = ( \"https://a.example\" ); };\n",
            "3: unknown key colect (did you mean collect?)", "a typo of a section (colect)");
    refused(BASE "sources = ( { id = \"s\"; type = \"generic\"; secert = \"x\"; } );\n",
            "3: unknown key sources[0].secert (did you mean secret?)", "a typo in a source");
    refused(BASE "listen = { prot = 80; };\n", "3: unknown key listen.prot (did you mean port?)",
            "a swapped-letters typo (prot)");
    refused(BASE "frobnicate = 1;\n", "3: unknown key frobnicate", "a key nothing resembles");
    refused(BASE "listen = 8080;\n", "3: listen must be a group: listen = { … };",
            "a section given as a value");
    refused(BASE "collect = { allowed_origins = ( \"https://shop.example/\" ); };\n",
            "3: collect.allowed_origins[0]: \"https://shop.example/\" ends with a slash; write "
            "\"https://shop.example\" (an origin has no path)",
            "an origin with a trailing slash");
    refused(BASE "collect = { allowed_origins = ( \"https://shop.example/checkout\" ); };\n",
            "3: collect.allowed_origins[0]: \"https://shop.example/checkout\" has a path; an "
            "origin is scheme://host[:port]",
            "an origin with a path");
    refused(BASE "collect = { allowed_origins = ( \"shop.example\" ); };\n",
            "3: collect.allowed_origins[0]: \"shop.example\" is not an origin: write "
            "scheme://host[:port]",
            "an origin without a scheme");
    refused(BASE "collect = { trusted_proxies = ( \"10.0.0.0/33\" ); };\n",
            "3: collect.trusted_proxies[0]: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            "a CIDR prefix out of range");
    refused(BASE "collect = { trusted_proxies = ( \"127.0.0.1\", \"proxy.local\" ); };\n",
            "3: collect.trusted_proxies[1]: \"proxy.local\" is not an IP address or CIDR range "
            "(e.g. \"10.0.0.0/8\")",
            "a host name as a proxy");
    refused("admin = { token = \"example-admin-token-change-me\"; };\n" PIXEL_OK,
            "1: admin.token is the example's; with tiktok.dry_run = false it needs a real one "
            "(openssl rand -hex 32)",
            "the example admin token when live");
    refused("admin = { token = \"0123456789abcdef\"; };\n"
            "tiktok = { pixels = ( { code = \"CPIX\"; access_token = "
            "\"replace-with-your-events-api-token\"; } ); };\n",
            "2: pixel CPIX: access_token is the example's placeholder; put the pixel's Events API "
            "token there (TikTok Events Manager > Settings) or set tiktok.dry_run = true",
            "the example access token when live");
    refused(BASE "sources = ( { id = \"crm\"; type = \"generic\"; secret = "
                 "\"example-generic-bearer-secret\"; } );\n",
            "3: source crm: secret is an example value, refused with tiktok.dry_run = false "
            "(anyone could post conversions); use the secret generic shows, or one from openssl "
            "rand -hex 32 where you choose it",
            "an example source secret when live");
    snprintf(path, size, "%s/shop_secret", dir);
    FILE *f = fopen(path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    refused(BASE "sources = ( { id = \"shop\"; type = \"shopify\"; secret = \"x\";\n"
                 "  secret_file = \"shop_secret\"; } );\n",
            "4: secret and secret_file are both set; keep one (secret_file is the one for "
            "LoadCredential=)",
            "secret and secret_file together");

    char err[600];
    struct config *cfg =
        load("admin = { token = \"example-admin-token-change-me\"; };\n"
             "tiktok = { dry_run = true; pixels = ( { code = \"CPIX\"; } ); };\n"
             "sources = ( { id = \"crm\"; type = \"generic\"; secret = \"example-generic\"; } );\n",
             err, sizeof err);
    ok(cfg != NULL, "example secrets are accepted in a dry run (make run) (%s)", err);
    config_drop(cfg);

    cfg =
        load(BASE "collect = { allowed_origins = ( \"HTTPS://Shop.Example:443\", "
                  "\"http://localhost:3000\" );\n"
                  "  trusted_proxies = ( \"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\" ); };\n",
             err, sizeof err);
    ok(cfg != NULL, "origins and CIDR proxies load (%s)", err);
    if (cfg) {
        is_str(cfg->allowed_origins[0], "https://shop.example",
               "an origin is stored lower-cased without its default port");
        ok(config_origin_allowed(cfg, "https://shop.example"), "the browser's form is allowed");
        ok(config_origin_allowed(cfg, "http://localhost:3000"), "a non-default port is kept");
        ok(!config_origin_allowed(cfg, "http://localhost:3001"), "another port is not allowed");
        ok(!config_origin_allowed(cfg, "https://evil.example"), "another host is not allowed");
        ok(!config_origin_allowed(cfg, "null"),
           "the opaque origin null is not allowed unless listed");
        ok(config_proxy_trusted(cfg, "10.20.30.40"), "an address inside 10.0.0.0/8 is trusted");
        ok(!config_proxy_trusted(cfg, "11.0.0.1"), "an address outside it is not");
        ok(config_proxy_trusted(cfg, "2001:db8:1::5"), "IPv6 ranges work");
        ok(config_proxy_trusted(cfg, "::ffff:10.1.1.1"), "an IPv4-mapped peer counts as IPv4");
        ok(config_proxy_trusted(cfg, "127.0.0.1") && !config_proxy_trusted(cfg, "127.0.0.2"),
           "a bare address is a range of one");
        config_drop(cfg);
    }
}

static void check_null_origin(void)
{
    char err[600];
    struct config *cfg =
        load(BASE "collect = { allowed_origins = ( \"null\" ); };\n", err, sizeof err);
    ok(cfg && config_origin_allowed(cfg, "null"),
       "\"null\" (Shopify's sandboxed pixel) is allowed when listed (%s)", err);
    config_drop(cfg);
}

static void check_store(char *path, size_t size)
{
    char err[600];
    struct config *cfg;

    snprintf(path, size, BASE "store = { path = \"%s/nope/ttrelay.db\"; };\n", dir);
    cfg = load(path, err, sizeof err);
    ok(cfg != NULL, "a store in a missing directory loads (%s)", err);
    if (!cfg)
        return;
    snprintf(want, sizeof want,
             "%s/t.conf:3: store.path %s/nope/ttrelay.db: directory %s/nope does not exist", dir,
             dir, dir);
    ok(config_check_store(cfg, err, sizeof err) < 0,
       "the check refuses a store whose directory is missing");
    is_str(err, want, "... naming file, line and the directory");
    config_drop(cfg);

    cfg = load(BASE "store = { path = \"no-such-dir/ttrelay.db\"; };\n", err, sizeof err);
    ok(cfg && config_check_store(cfg, err, sizeof err) < 0 &&
           strstr(err, "a relative store.path starts from the working directory"),
       "a relative store.path is explained: %s", err);
    config_drop(cfg);

    snprintf(path, size, BASE "store = { path = \"%s/ttrelay.db\"; };\n", dir);
    cfg = load(path, err, sizeof err);
    ok(cfg && config_check_store(cfg, err, sizeof err) == 0, "a writable directory passes (%s)",
       err);
    config_drop(cfg);
}

int main(void)
{
    char err[600], path[300];
    struct config *cfg;

    if (tap_tempdir(dir, sizeof dir, "ttr-config") < 0)
        return 1;
    retention();
    cfg = load(BASE "sources = ( { id = \"shop\"; type = \"shopify\"; secret = \"s\"; } );\n", err,
               sizeof err);
    ok(cfg != NULL, "a minimal configuration loads (%s)", err);
    if (cfg) {
        is_int(cfg->listen_port, 8080, "listen.port defaults to 8080");
        is_int(cfg->hold_s, 30, "match.hold_s defaults to 30");
        is_int(cfg->window_s, 172800, "match.window_s defaults to 48 h");
        is_int(cfg->batch_size, 1000, "tiktok.batch_size defaults to 1000");
        is_str(cfg->event_names[KIND_ORDER], "CompletePayment",
               "events.order defaults to CompletePayment");
        is_str(cfg->event_names[KIND_CALL], "Contact", "events.call defaults to Contact");
        is_str(cfg->event_names[KIND_LEAD], "Lead", "events.lead defaults to Lead");
        is_str(cfg->sources[0].pixel, "CPIX", "a source without pixel uses the default pixel");
        is_str(cfg->collect_phone_country, "", "collect.phone_country defaults to none");
        ok(config_find_source(cfg, "shop") && !config_find_source(cfg, "nope"),
           "sources are found by id");
        config_drop(cfg);
    }

    cfg = load(BASE "collect = { phone_country = \"gb\"; };\n", err, sizeof err);
    ok(cfg != NULL, "collect.phone_country takes a country code in either case (%s)", err);
    if (cfg)
        is_str(cfg->collect_phone_country, "gb", "collect.phone_country is kept as written");
    config_drop(cfg);
    cfg = load(BASE "collect = { phone_country = \"XX\"; };\n", err, sizeof err);
    ok(!cfg && strstr(err, "t.conf:3:") && strstr(err, "collect.phone_country"),
       "an unknown collect.phone_country names file and line: %s", err);
    cfg = load(BASE "collect = { phone_country = \"GBR\"; };\n", err, sizeof err);
    ok(!cfg && strstr(err, "collect.phone_country"),
       "a three-letter collect.phone_country is refused: %s", err);

    cfg = load(BASE "match = { hold_s = -5; };\n", err, sizeof err);
    ok(!cfg && strstr(err, "t.conf:3:") && strstr(err, "match.hold_s"),
       "a value out of range names file and line: %s", err);

    cfg = load(
        BASE
        "sources = ( { id = \"x\"; type = \"shopify\"; secret = \"s\"; pixel = \"CNOPE\"; } );\n",
        err, sizeof err);
    ok(!cfg && strstr(err, "CNOPE"), "a source naming an unknown pixel is refused: %s", err);

    cfg = load(BASE "sources = ( { id = \"x\"; type = \"shopify\"; secret = \"s\"; "
                    "send_tests = true; } );\n",
               err, sizeof err);
    ok(!cfg && strstr(err, "test_event_code"),
       "send_tests on a pixel without a test_event_code is refused: %s", err);

    cfg = load(BASE "sources = ( { id = \"x\"; type = \"magento\"; secret = \"s\"; } );\n", err,
               sizeof err);
    ok(!cfg && strstr(err, "type must be"), "an unknown source type is refused: %s", err);

    cfg = load(BASE "sources = ( { id = \"x\"; type = \"generic\"; } );\n", err, sizeof err);
    ok(!cfg && strstr(err, "secret"), "a source without a secret is refused: %s", err);

    cfg = load("admin = { token = \"0123456789abcdef\"; };\n"
               "tiktok = { pixels = ( { code = \"CPIX\"; } ); };\n",
               err, sizeof err);
    ok(!cfg && strstr(err, "access_token"), "a pixel without a token is refused unless dry_run: %s",
       err);

    cfg = load("listen = { port = 80 \n", err, sizeof err);
    ok(!cfg && strstr(err, "t.conf:"), "a syntax error names file and line: %s", err);

    snprintf(path, sizeof path, "%s/token", dir);
    FILE *f = fopen(path, "w");
    fputs("file-token\n", f);
    fclose(f);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    cfg = load("admin = { token = \"0123456789abcdef\"; };\n"
               "tiktok = { pixels = ( { code = \"CPIX\"; access_token_file = "
               "\"${CREDENTIALS_DIRECTORY}/token\"; } ); };\n",
               err, sizeof err);
    ok(cfg && strcmp(cfg->pixels[0].access_token, "file-token") == 0,
       "access_token_file resolves ${CREDENTIALS_DIRECTORY} and drops the newline (%s)", err);
    config_drop(cfg);

    refusals(path, sizeof path);
    check_store(path, sizeof path);
    check_null_origin();

    unsetenv("CREDENTIALS_DIRECTORY");
    cfg = load("admin = { token = \"0123456789abcdef\"; };\n"
               "tiktok = { pixels = ( { code = \"CPIX\"; access_token_file = "
               "\"${CREDENTIALS_DIRECTORY}/token\"; } ); };\n",
               err, sizeof err);
    ok(cfg && strcmp(cfg->pixels[0].access_token, "file-token") == 0,
       "without $CREDENTIALS_DIRECTORY a credential is read from the configuration's directory "
       "(%s)",
       err);
    config_drop(cfg);
    cfg = load("admin = { token_file = \"${CREDENTIALS_DIRECTORY}/admin_token\"; };\n" PIXEL_OK,
               err, sizeof err);
    snprintf(want, sizeof want,
             "%s/t.conf:1: token_file: cannot read %s/admin_token: No such file or directory "
             "(${CREDENTIALS_DIRECTORY} is not set: looked in the configuration's directory, where "
             "the unit's LoadCredential= reads it)",
             dir, dir);
    ok(!cfg, "a credential that does not resolve is refused");
    is_str(err, want, "... naming the path looked at and why");

    tap_rmdir(dir);
    return tap_done();
}
