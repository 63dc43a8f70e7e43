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
 * condition made by clock_cond_init, and pthread_clockjoin_np. */
struct timespec;
void clock_deadline(struct timespec *ts, long ms);

#endif
