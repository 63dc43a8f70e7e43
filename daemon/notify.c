/* sd_notify written by hand: the protocol is one datagram of "KEY=VALUE\n" lines to the
 * AF_UNIX socket named in $NOTIFY_SOCKET. Linking libsystemd for that one sendto() would
 * pull a large library (and its own dependencies) into a small, hardened daemon. */
#include "notify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fills addr from $NOTIFY_SOCKET. Returns the address length, 0 when unset, -1 when the
 * value is not a usable path ('/...' or '@abstract'). */
static int notify_address(struct sockaddr_un *addr, socklen_t *len)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n;

    if (!path || !*path)
        return 0;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof addr->sun_path)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, n);
    /* Abstract namespace: a leading NUL, and the length counts only the bytes used. */
    if (path[0] == '@')
        addr->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    return 1;
}

static int notify_send(const char *msg)
{
    struct sockaddr_un addr;
    socklen_t len = 0;
    int fd, rc = notify_address(&addr, &len);

    if (rc <= 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    rc = 0;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0)
        rc = -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int notify_ready(void)
{
    return notify_send("READY=1\nSTATUS=ready");
}

/* systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC with RELOADING=1 so it can tell
 * this reload from a stale one; older systemd ignores the unknown field. */
int notify_reloading(void)
{
    struct timespec ts;
    char msg[96];

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return -1;
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return notify_send(msg);
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

int notify_watchdog(void)
{
    return notify_send("WATCHDOG=1");
}

/* A newline would start another KEY=VALUE line, so it is replaced. */
int notify_status(const char *status)
{
    char msg[256];
    size_t n;

    snprintf(msg, sizeof msg, "STATUS=%s", status ? status : "");
    n = strlen(msg);
    for (size_t i = 0; i < n; i++) {
        if (msg[i] == '\n' || msg[i] == '\r')
            msg[i] = ' ';
    }
    return notify_send(msg);
}

/* Parses a decimal without sign; -1 when s is not one. */
static int notify_parse_ull(const char *s, unsigned long long *out)
{
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    return 0;
}

unsigned long long notify_watchdog_usec(void)
{
    unsigned long long usec, pid;
    const char *pidstr = getenv("WATCHDOG_PID");

    if (notify_parse_ull(getenv("WATCHDOG_USEC"), &usec) < 0 || usec == 0)
        return 0;
    /* WATCHDOG_PID names the process systemd watches; a child inheriting the environment
     * must not ping in its parent's name. */
    if (pidstr && (notify_parse_ull(pidstr, &pid) < 0 || pid != (unsigned long long)getpid()))
        return 0;
    return usec;
}
