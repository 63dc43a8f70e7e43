#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define KEY_MAX 48
#define PROBES 4

struct bucket {
    char key[KEY_MAX];
    double tokens;
    long long at_ms;
};

struct ratelimit {
    pthread_mutex_t lock;
    unsigned int slots;
    struct bucket *b;
};

struct ratelimit *ratelimit_new(unsigned int slots)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl || !(rl->b = calloc(slots, sizeof *rl->b))) {
        free(rl);
        return NULL;
    }
    rl->slots = slots;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->b);
    free(rl);
}

static unsigned int fnv1a(const char *s)
{
    unsigned int h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int ratelimit_allow(struct ratelimit *rl, const char *key, double rate, int burst, long long now_ms)
{
    unsigned int h = fnv1a(key);
    struct bucket *b = NULL, *oldest = NULL;
    int allowed;

    pthread_mutex_lock(&rl->lock);
    for (unsigned int i = 0; i < PROBES; i++) {
        struct bucket *c = &rl->b[(h + i) % rl->slots];
        if (strncmp(c->key, key, KEY_MAX - 1) == 0 && c->key[0]) {
            b = c;
            break;
        }
        if (!oldest || c->at_ms < oldest->at_ms)
            oldest = c;
    }
    if (!b) {
        b = oldest;
        strncpy(b->key, key, KEY_MAX - 1);
        b->key[KEY_MAX - 1] = '\0';
        b->tokens = burst;
        b->at_ms = now_ms;
    }
    b->tokens += (double)(now_ms - b->at_ms) / 1000.0 * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ms = now_ms;
    allowed = b->tokens >= 1.0;
    if (allowed)
        b->tokens -= 1.0;
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}
