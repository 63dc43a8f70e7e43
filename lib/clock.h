/* Time helpers shared by the daemon's parts. */
#ifndef TTR_CLOCK_H
#define TTR_CLOCK_H

/* Wall-clock milliseconds since the epoch (stored timestamps). */
long long clock_wall_ms(void);
/* Monotonic seconds (uptimes and durations). */
double clock_mono_s(void);
/* An absolute CLOCK_REALTIME deadline ms from now, for pthread timed waits. */
struct timespec;
void clock_deadline(struct timespec *ts, long ms);

#endif
