/* libFuzzer target: the configuration loader (libconfig text through config_load and its
 * validation). The config is trusted input, but a typo must give "FILE:LINE: reason",
 * never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
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

/* The input lives in an anonymous memory file, so no run (even one cut short) leaves files
 * behind; ${CREDENTIALS_DIRECTORY}/x points nowhere, and reading it fails cleanly. */
static void setup(void)
{
    fd = memfd_create("ttr-fuzz-config", 0);
    if (fd < 0 || setenv("CREDENTIALS_DIRECTORY", "/nonexistent/ttr-fuzz-credentials", 1) != 0)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
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
