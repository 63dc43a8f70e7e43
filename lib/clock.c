#include <pthread.h>
#include <time.h>

#include "clock.h"

static long long clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

long long clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

double clock_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall minus monotonic time. The two clocks are read in one bracket (monotonic, wall,
 * monotonic): a thread preempted between two reads would otherwise see the wall clock
 * "step" by the length of the preemption. A bracket wider than 1 ms is read again; the
 * narrowest of a few tries is used, against the bracket's midpoint. */
long long clock_wall_offset_ms(void)
{
    long long best = 0, width = -1;

    for (int i = 0; i < 4; i++) {
        long long m0 = clock_mono_ms(), w = clock_wall_ms(), m1 = clock_mono_ms();
        if (width < 0 || m1 - m0 < width) {
            width = m1 - m0;
            best = w - (m0 + m1) / 2;
        }
        if (width <= 1)
            break;
    }
    return best;
}

int clock_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);

    if (rc == 0)
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

void clock_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int clock_join_until(pthread_t t, const struct timespec *deadline)
{
    for (;;) {
        if (pthread_tryjoin_np(t, NULL) == 0)
            return 0;
        struct timespec now, nap = {0, 10 * 1000000L};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline->tv_sec ||
            (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
            return -1;
        nanosleep(&nap, NULL);
    }
}
