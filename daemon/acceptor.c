/* The public listener's accept thread. When libmicrohttpd's pool workers each poll the one
 * listening socket, the first awake takes up to ten connections in a row, and a client that
 * opens its connections together and keeps them (a load balancer, a proxy) lands mostly on
 * one worker. One thread that accepts and hands each connection on lets the caller spread
 * them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "acceptor.h"
#include "log.h"

#define BACKOFF_MS 100  /* after an error that accepting again at once would repeat */
#define RECHECK_MS 1000 /* at the cap: a lost wake-up costs at most this */

struct acceptor {
    int fd;   /* the listening socket, once started */
    int wake; /* eventfd: stop, or a place freed at the cap */
    int max_open;
    int open;     /* handed and not yet closed (atomic) */
    int stopping; /* atomic */
    int started;
    acceptor_hand_fn hand;
    void *cls;
    pthread_t thread;
};

/* Sleeps until woken, the listening socket is readable (with_listen) or timeout_ms. */
static void acceptor_wait(struct acceptor *a, int with_listen, int timeout_ms)
{
    struct pollfd p[2] = {{a->wake, POLLIN, 0}, {a->fd, POLLIN, 0}};
    uint64_t n;
    if (poll(p, with_listen ? 2 : 1, timeout_ms) > 0 && (p[0].revents & POLLIN))
        (void)!read(a->wake, &n, sizeof n);
}

/* accept(2) also reports the network errors of the one connection it was taking: the next
 * may be fine. */
static int error_is_one_client(int e)
{
    switch (e) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM: /* a firewall rule */
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENONET:
    case ENOPROTOOPT:
    case EOPNOTSUPP: return 1;
    default: return 0;
    }
}

static void *acceptor_main(void *arg)
{
    struct acceptor *a = arg;
    pthread_setname_np(pthread_self(), "ttr-accept"); /* per-thread CPU in top -H, the bench */
    while (!__atomic_load_n(&a->stopping, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&a->open, __ATOMIC_ACQUIRE) >= a->max_open) {
            /* Full: later clients wait in the backlog, as libmicrohttpd's own accept made
             * them wait. */
            acceptor_wait(a, 0, RECHECK_MS);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int c = accept4(a->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            /* Counted first: the connection may be served and closed before hand returns. */
            __atomic_add_fetch(&a->open, 1, __ATOMIC_ACQ_REL);
            if (a->hand(a->cls, c, (struct sockaddr *)&ss, len) < 0)
                __atomic_sub_fetch(&a->open, 1, __ATOMIC_ACQ_REL);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            acceptor_wait(a, 1, -1);
        } else if (!error_is_one_client(errno)) {
            /* Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): accepting
             * again at once would fail again, in a busy loop. */
            log_limited(LOG_LVL_WARN, "accept", "cannot accept connections, retrying",
                        "reason=\"%s\" retry_ms=%d", strerror(errno), BACKOFF_MS);
            acceptor_wait(a, 0, BACKOFF_MS);
        }
    }
    return NULL;
}

struct acceptor *acceptor_new(int max_open, acceptor_hand_fn hand, void *cls)
{
    struct acceptor *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->fd = -1;
    a->max_open = max_open;
    a->hand = hand;
    a->cls = cls;
    if ((a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

int acceptor_start(struct acceptor *a, int fd, char *err, size_t errlen)
{
    int flags = fcntl(fd, F_GETFL), e;
    a->fd = fd;
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the listening socket non-blocking: %s", strerror(errno));
        return -1;
    }
    if ((e = pthread_create(&a->thread, NULL, acceptor_main, a)) != 0) {
        snprintf(err, errlen, "cannot start the accept thread: %s", strerror(e));
        return -1;
    }
    a->started = 1;
    return 0;
}

void acceptor_closed(struct acceptor *a)
{
    /* Only a place freed at the cap wakes the thread: below it, it waits on the socket. */
    if (__atomic_sub_fetch(&a->open, 1, __ATOMIC_ACQ_REL) == a->max_open - 1)
        eventfd_write(a->wake, 1);
}

void acceptor_stop(struct acceptor *a)
{
    if (!a)
        return;
    if (a->started) {
        __atomic_store_n(&a->stopping, 1, __ATOMIC_RELEASE);
        eventfd_write(a->wake, 1);
        pthread_join(a->thread, NULL);
        a->started = 0;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
}

void acceptor_free(struct acceptor *a)
{
    if (!a)
        return;
    acceptor_stop(a);
    close(a->wake);
    free(a);
}
