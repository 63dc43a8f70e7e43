/* Per-key token buckets (per client IP on /collect) in a fixed-size table, so a flood of
 * distinct addresses costs bounded memory: a colliding stale bucket is reused. */
#ifndef TTR_RATELIMIT_H
#define TTR_RATELIMIT_H

struct ratelimit;

struct ratelimit *ratelimit_new(unsigned int slots);
void ratelimit_free(struct ratelimit *rl);
/* Takes one token from key's bucket (refilled at rate/s up to burst). 1 allowed, 0 not. */
int ratelimit_allow(struct ratelimit *rl, const char *key, double rate, int burst,
                    long long now_ms);

#endif
