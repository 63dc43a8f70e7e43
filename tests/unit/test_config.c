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

int main(void)
{
    char err[600], path[300];
    struct config *cfg;

    if (tap_tempdir(dir, sizeof dir, "ttr-config") < 0)
        return 1;
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

    tap_rmdir(dir);
    return tap_done();
}
