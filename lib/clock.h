/* Time helpers shared by the daemon's parts. Intervals (rate limits, back-off, deadlines,
 * liveness) use the monotonic clock, which a step of the wall clock does not move; the
 * wall clock is only for timestamps that are stored or sent. */
#ifndef TTR_CLOCK_H
#define TTR_CLOCK_H
#include <pthread.h>

/* Wall-clock milliseconds since the epoch (stored timestamps). */
long long clock_wall_ms(void);
/* Monotonic milliseconds (intervals). */
long long clock_mono_ms(void);
/* Monotonic seconds (uptimes and durations). */
double clock_mono_s(void);
/* wall - monotonic, in ms: constant unless the wall clock is stepped (or slewed). */
long long clock_wall_offset_ms(void);
/* Initialises cond for timed waits on the monotonic clock (see clock_deadline). */
int clock_cond_init(pthread_cond_t *cond);
/* An absolute CLOCK_MONOTONIC deadline ms from now, for pthread_cond_timedwait on a
 * condition made by clock_cond_init, and clock_join_until. */
struct timespec;
void clock_deadline(struct timespec *ts, long ms);

/* Joins t if it ends before the CLOCK_MONOTONIC deadline: 0, or -1 when it is still running
 * (it is then left alone). Polls pthread_tryjoin_np every 10 ms: unlike
 * pthread_clockjoin_np, ThreadSanitizer sees that join, and a stop waits at most 10 ms more. */
int clock_join_until(pthread_t t, const struct timespec *deadline);

#endif
