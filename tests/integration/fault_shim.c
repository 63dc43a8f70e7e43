/* LD_PRELOAD shim for the integration tests: a stalled or a full disk on demand, where the
 * machine cannot freeze or fill a real one. With TTR_FAULT_DIR set:
 *   $TTR_FAULT_DIR/stall exists: fsync and fdatasync block until it is removed;
 *   $TTR_FAULT_DIR/full exists:  writes to the store's files (*.db, *.db-wal, *.db-journal)
 *                                fail with ENOSPC, as on a full file system.
 * Nothing else changes: logs and sockets are written normally. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int fault_flag(const char *name)
{
    const char *dir = getenv("TTR_FAULT_DIR");
    char path[4096];

    if (!dir)
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int fault_is_store(int fd)
{
    static const char *const suffixes[] = {".db", ".db-wal", ".db-journal"};
    char link[64], path[4096];
    ssize_t n;

    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t s = strlen(suffixes[i]);
        if ((size_t)n >= s && strcmp(path + n - s, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

static void fault_stall(void)
{
    struct timespec ts = {0, 20 * 1000000L};
    while (fault_flag("stall"))
        nanosleep(&ts, NULL);
}

static int fault_full(int fd)
{
    if (fault_flag("full") && fault_is_store(fd)) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    fault_stall();
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    fault_stall();
    return real(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    if (fault_full(fd))
        return -1;
    return real(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd > 2 && fault_full(fd))
        return -1;
    return real(fd, buf, n);
}
