/* libFuzzer target: the configuration loader (libconfig text through config_load and its
 * validation). The config is trusted input, but a typo must give "FILE:LINE: reason",
 * never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static char creds[64];
static int fd = -1;

/* Inputs that name other files are skipped: "@include" or a *_file key pointing at a
 * device would have the loader read a stream that never ends, which says nothing about
 * ttrelay's code. (*_file reads are bounded, so what slips through is harmless.) */
static int names_a_device(const uint8_t *data, size_t size)
{
    static const char *const bad[] = {"@include", "/dev", "/proc", "/sys"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (memmem(data, size, bad[i], strlen(bad[i])))
            return 1;
    return 0;
}

static void cleanup(void)
{
    unlink(path);
    rmdir(creds);
}

/* prefix + the six 'X' that mkstemp and mkdtemp replace. */
static void template_make(char *out, size_t size, const char *prefix)
{
    size_t n = (size_t)snprintf(out, size, "%s", prefix);

    if (n + 7 > size)
        abort();
    memset(out + n, 'X', 6);
    out[n + 6] = '\0';
}

/* ${CREDENTIALS_DIRECTORY}/x must resolve somewhere harmless and empty. */
static void setup(void)
{
    template_make(path, sizeof path, "/tmp/ttr-fuzz-config-");
    template_make(creds, sizeof creds, "/tmp/ttr-fuzz-creds-");
    fd = mkstemp(path);
    if (fd < 0 || !mkdtemp(creds) || setenv("CREDENTIALS_DIRECTORY", creds, 1) != 0)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct config *cfg;

    if (size > 65536 || names_a_device(data, size))
        return 0;
    if (fd < 0)
        setup();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    err[0] = '\0';
    cfg = config_load(path, err, sizeof err);
    if (!cfg) {
        if (!err[0] || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    for (int i = 0; i < cfg->nsources; i++) {
        const struct source_cfg *s = &cfg->sources[i];
        if (config_find_source(cfg, s->id) == NULL || !s->ops)
            abort();
    }
    (void)config_origin_allowed(cfg, "https://shop.example");
    (void)config_proxy_trusted(cfg, "127.0.0.1");
    (void)config_find_pixel(cfg, cfg->default_pixel);
    config_hold(cfg);
    config_drop(cfg);
    config_drop(cfg);
    return 0;
}
