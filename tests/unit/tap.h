/* A tiny TAP harness: each check prints "ok N - name" or "not ok N - name";
 * the test exits non-zero when any check failed. */
#ifndef TTR_TAP_H
#define TTR_TAP_H
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* cond is evaluated exactly once: checks may have side effects. */
#define ok(cond, ...)                                                                              \
    do {                                                                                           \
        int pass_ = (cond) ? 1 : 0;                                                                \
        tap_n++;                                                                                   \
        if (pass_) {                                                                               \
            printf("ok %d - ", tap_n);                                                             \
        } else {                                                                                   \
            tap_failed++;                                                                          \
            printf("not ok %d - ", tap_n);                                                         \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        if (!pass_)                                                                                \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
        fflush(stdout);                                                                            \
    } while (0)

#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        int eq_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                                     \
        ok(eq_, __VA_ARGS__);                                                                      \
        if (!eq_)                                                                                  \
            printf("#   got:  '%s'\n#   want: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");    \
    } while (0)

#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        ok(g_ == w_, __VA_ARGS__);                                                                 \
        if (g_ != w_)                                                                              \
            printf("#   got:  %lld\n#   want: %lld\n", g_, w_);                                    \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_failed)
        printf("# %d of %d checks failed\n", tap_failed, tap_n);
    return tap_failed ? 1 : 0;
}

/* Reads a fixture file from $TTR_FIXTURES; returns a malloc'd, NUL-terminated
 * buffer (caller frees) or NULL. */
#include <stdlib.h>
static inline char *tap_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("TTR_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
}
/* A new private directory /tmp/<prefix>-<random> in dir (size >= 64); 0 or -1. */
static inline int tap_tempdir(char *dir, size_t size, const char *prefix)
{
    size_t n = (size_t)snprintf(dir, size, "/tmp/%s-", prefix);
    if (n + 7 > size)
        return -1;
    for (int i = 0; i < 6; i++) /* mkdtemp's template: six trailing X */
        dir[n + (size_t)i] = 'X';
    dir[n + 6] = '\0';
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes what tap_tempdir made (the tests keep nothing behind). */
static inline void tap_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
}
#endif
