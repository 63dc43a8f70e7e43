/* The forwarder. The matcher thread ends holds (match, build the event, make it ready);
 * the dispatcher thread finds the pixels with due events and gives each its own sender
 * thread, which takes batches within the pixel's rate limit, sends them and applies
 * TikTok's answer. Nothing is marked before TikTok confirms it, so a crash only ever
 * resends (with the same event_id, which TikTok deduplicates).
 *
 * Why one sender thread per pixel rather than libcurl's multi interface: TikTok's rate
 * limit, backoff and pause are per pixel, and the delivery policy (split a refused batch,
 * send the halves, stop when the pixel pauses) is sequential per pixel. A thread per pixel
 * keeps that policy straight-line code, makes a hanging pixel block only itself (its
 * request_timeout_ms, then its backoff), and gives each pixel's state one owner. Pixels
 * come from the configuration, so the thread count is bounded by it. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "forwarder.h"
#include "log.h"
#include "match.h"
#include "metrics.h"
#include "store.h"
#include "tiktok.h"
#include "utf8.h"

#define PASS_MS 200
#define PROMOTE_LIMIT 500
#define PROMOTE_RETRY_MS 5000
#define PROMOTE_CHUNK 100
#define PURGE_EVERY_MS 60000
#define PAUSE_LOG_EVERY_MS 60000
/* How often the dispatcher reads the pauses every instance shares, and beats. */
#define PAUSE_REFRESH_MS 1000
#define BEAT_EVERY_MS 5000
#define BACKLOG_CHECK_MS 5000
#define BACKLOG_LOG_EVERY_MS 60000
/* TikTok merges a server event into its pixel event only within about 5 minutes. */
#define MERGE_WINDOW_MS (5 * 60 * 1000)

struct forwarder;

/* One pixel's sender. Ownership: the fields under "shared" are read and written only with
 * fw->lock held (the admin API reads them, a reload resumes the pixel); the fields under
 * "own" belong to the pixel's sender thread alone and no other thread touches them. The
 * struct lives from its creation by the dispatcher until forwarder_stop frees it. */
struct pixel_sender {
    struct forwarder *fw;
    char code[64]; /* immutable after creation */
    pthread_t thread;
    struct pixel_sender *next; /* fw->senders list, under fw->lock */
    /* shared */
    unsigned resume_gen; /* bumped by a reload or a resume: the sender forgets its failures */
    /* own */
    unsigned seen_resume;
    int failures;
    int store_failures;      /* outcomes in a row the store could not record */
    long long blocked_until; /* monotonic ms */
    double tokens;
    long long refilled_ms;
    long long logged_ms;
    unsigned int seed;
    unsigned long long claims;
};

/* Threads: the matcher ends holds (match, build, make ready), the dispatcher starts a
 * sender per pixel with due events and keeps the store (checkpoint, purge, backlog), and
 * each pixel's sender sends. Everything in this struct is under lock except st (itself
 * thread-safe) and the dispatcher's own timers (purged_ms, backlog_*). */
struct forwarder {
    struct store *st;
    struct config *cfg;
    pthread_t thread; /* dispatcher */
    pthread_t matcher;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* broadcast: the dispatcher and every sender */
    pthread_cond_t match_wake;
    unsigned wake_gen; /* bumped by every wake of the senders */
    int match_woken;
    int stopping;
    long long heartbeat_ms; /* dispatcher's last loop */
    long long match_heartbeat_ms;
    struct pixel_sender *senders;
    /* dispatcher only */
    long long purged_ms;
    long long backlog_checked_ms;
    long long backlog_logged_ms;
    char instance[96]; /* this process among the instances sharing the store (claim tokens) */
    /* The pixel pauses of the store (rows every instance obeys), as last read; under lock. */
    struct store_pause *pauses;
    int npauses;
    /* dispatcher only */
    long long pauses_read_ms;
    long long beat_ms;
    struct store_instance self; /* ports and beat_now under lock (forwarder_set_ports) */
    int beat_now;
};

/* Caller holds fw->lock. */
static struct pixel_sender *sender_find(struct forwarder *fw, const char *code)
{
    for (struct pixel_sender *ps = fw->senders; ps; ps = ps->next)
        if (strcmp(ps->code, code) == 0)
            return ps;
    return NULL;
}

/* The pause of pixel code, or NULL. Caller holds fw->lock. */
static const struct store_pause *pause_find(const struct forwarder *fw, const char *code)
{
    for (int i = 0; i < fw->npauses; i++)
        if (strcmp(fw->pauses[i].pixel, code) == 0)
            return &fw->pauses[i];
    return NULL;
}

static int sender_paused(struct pixel_sender *ps)
{
    pthread_mutex_lock(&ps->fw->lock);
    int paused = pause_find(ps->fw, ps->code) != NULL;
    pthread_mutex_unlock(&ps->fw->lock);
    return paused;
}

/* Reads the store's pauses. A pixel no longer paused (resumed here or by another
 * instance) forgets its failures. Returns 0, or -1 when the store could not be read (the
 * last pauses read stay in force). */
static int pauses_refresh(struct forwarder *fw)
{
    struct store_pause *rows = NULL;
    int n = store_pauses(fw->st, &rows);
    if (n < 0)
        return -1;
    pthread_mutex_lock(&fw->lock);
    for (struct pixel_sender *ps = fw->senders; ps; ps = ps->next) {
        int was = pause_find(fw, ps->code) != NULL, now = 0;
        for (int i = 0; i < n && !now; i++)
            now = strcmp(rows[i].pixel, ps->code) == 0;
        if (was && !now) {
            ps->resume_gen++;
            log_info("pixel resumed", "pixel=%s", ps->code);
        }
    }
    free(fw->pauses);
    fw->pauses = rows;
    fw->npauses = n;
    pthread_mutex_unlock(&fw->lock);
    return 0;
}

static struct config *current_config(struct forwarder *fw)
{
    pthread_mutex_lock(&fw->lock);
    struct config *cfg = config_hold(fw->cfg);
    pthread_mutex_unlock(&fw->lock);
    return cfg;
}

struct promotion {
    struct event_row *rows;
    int nrows;
    struct conversion *convs;
    long long *ids;
    struct match_result *results;
    int n;
    long long *dead;
    int ndead;
    long long *suppressed; /* opted-out visitors under consent "suppress" */
    int nsuppressed;
    long long *renewals; /* renewals whose source now says "ignore" */
    int nrenewals;
};

/* The visitor of the touch the match chose, or "". */
static const char *chosen_vid(const struct match_result *m)
{
    for (int i = 0; i < m->ncand; i++)
        if (m->cand[i].outcome == CAND_CHOSEN)
            return m->cand[i].vid;
    return "";
}

/* The consent policy for a conversion linked to an opted-out visitor by any key: its own
 * vid, the chosen touch's visitor, visitors seen with its email or phone, or the webhook's
 * own signal. The policy holds whether or not the touch's event_id is reused. Returns the
 * policy that applies (CONSENT_IGNORE when nobody opted out), or -1 on a store error. */
static int consent_apply(struct forwarder *fw, const struct config *cfg,
                         const struct conversion *c, const struct match_result *m)
{
    enum consent_policy policy = config_consent_policy(cfg, config_find_source(cfg, c->source_id));
    int denied = c->opted_out;

    if (!denied)
        denied = store_consent_denied(fw->st, c->vid, chosen_vid(m), c->email_hash, c->phone_hash);
    if (denied < 0)
        return -1;
    if (!denied)
        return CONSENT_IGNORE;
    metrics_consent(policy == CONSENT_LDU        ? "ldu"
                    : policy == CONSENT_SUPPRESS ? "suppressed"
                                                 : "ignored");
    return (int)policy;
}

/* Builds the event of one matched conversion and makes it ready, inside the pass's
 * transaction. A conversion whose event cannot be built is listed in p->dead (it would
 * fail the same way on every pass), a suppressed one in p->suppressed; one that cannot be
 * promoted waits behind the others. */
static void promote_one(struct forwarder *fw, const struct config *cfg, struct promotion *p, int i,
                        long long now)
{
    const struct conversion *c = &p->convs[i];
    const struct match_result *m = &p->results[i];
    long long id = p->ids[i];
    char *payload = NULL, *info = NULL;
    int consent = consent_apply(fw, cfg, c, m);

    if (consent == CONSENT_SUPPRESS) {
        p->suppressed[p->nsuppressed++] = id;
        log_info("conversion of an opted-out visitor not sent (consent = suppress)",
                 "id=%lld source=%s", id, c->source_id);
        return;
    }
    if (consent >= 0) {
        payload = tiktok_event_json_consent(c, m, consent == CONSENT_LDU);
        info = match_explain_json(m);
    }
    if (consent < 0) {
        store_hold(fw->st, id, now + PROMOTE_RETRY_MS);
        log_warn("consent lookup failed, conversion retried later", "id=%lld", id);
    } else if (!payload) {
        p->dead[p->ndead++] = id;
        log_warn("the TikTok event cannot be built; conversion is dead (replayable)",
                 "id=%lld source=%s", id, c->source_id);
    } else if (store_promote(fw->st, id, m->event_name, m->event_id, m->matched_by, m->touch_id,
                             payload, info) == 0) {
        metrics_conversion(conversion_kind_name(c->kind), m->matched_by);
        if (m->refusal[0])
            metrics_match_refusal(m->refusal);
        log_debug("conversion matched",
                  "id=%lld source=%s kind=%s matched_by=%s event=%s refusal=%s", id,
                  c->source_id, conversion_kind_name(c->kind), m->matched_by, m->event_name,
                  m->refusal[0] ? m->refusal : "-");
    } else {
        store_hold(fw->st, id, now + PROMOTE_RETRY_MS);
        log_warn("conversion not promoted, retried later", "id=%lld", id);
    }
    free(payload);
    free(info);
}

/* A renewal is no browser conversion: it takes no touch (none was made for it) and goes out
 * under the source's renewal event with the deterministic event_id. 0 when it is to be
 * sent, 1 when the source now ignores renewals (a reload since it was accepted). */
static int renewal_result(const struct config *cfg, const struct conversion *c,
                          struct match_result *m)
{
    const struct source_cfg *src = config_find_source(cfg, c->source_id);

    memset(m, 0, sizeof *m);
    if (src && src->renewals == RENEWALS_IGNORE)
        return 1;
    STR_SET(m->event_name, src && src->renewals == RENEWALS_EVENT ? src->renewal_event
                                                                 : cfg->event_names[c->kind]);
    match_default_event_id(c, m->event_id, sizeof m->event_id);
    STR_SET(m->matched_by, "none");
    return 0;
}

/* Moves renewals behind the conversions to match (match_pass sees only those) and fills
 * their results. Returns how many are left to match. */
static int promotion_split_renewals(const struct config *cfg, struct promotion *p)
{
    int nmatch = p->n;

    for (int i = 0; i < nmatch;) {
        if (!p->convs[i].renewal) {
            i++;
            continue;
        }
        nmatch--;
        struct conversion tc = p->convs[i];
        long long tid = p->ids[i];
        p->convs[i] = p->convs[nmatch];
        p->ids[i] = p->ids[nmatch];
        p->convs[nmatch] = tc;
        p->ids[nmatch] = tid;
    }
    for (int i = nmatch; i < p->n; i++)
        if (renewal_result(cfg, &p->convs[i], &p->results[i]))
            p->renewals[p->nrenewals++] = p->ids[i];
    return nmatch;
}

static void promotion_free(struct promotion *p)
{
    for (int i = 0; p->convs && i < p->n; i++)
        conversion_clear(&p->convs[i]);
    free(p->convs);
    free(p->ids);
    free(p->results);
    free(p->dead);
    free(p->suppressed);
    free(p->renewals);
    store_row_free(p->rows, p->nrows);
}

/* Ends the hold of due conversions: all of them are matched together (joint assignment),
 * then built and made ready in chunks of PROMOTE_CHUNK sharing one transaction: one fsync
 * for many events, while the ingest writer waits at most one chunk for the lock. */
static int promote_held(struct forwarder *fw, const struct config *cfg, long long now)
{
    struct promotion p = {0};
    int n = store_held_due(fw->st, now, PROMOTE_LIMIT, &p.rows), unreadable = 0, nmatch;

    if (n <= 0) {
        store_row_free(p.rows, 0);
        return 0;
    }
    p.nrows = n;
    p.convs = calloc((size_t)n, sizeof *p.convs);
    p.ids = calloc((size_t)n, sizeof *p.ids);
    p.results = calloc((size_t)n, sizeof *p.results);
    p.dead = calloc((size_t)n, sizeof *p.dead);
    p.suppressed = calloc((size_t)n, sizeof *p.suppressed);
    p.renewals = calloc((size_t)n, sizeof *p.renewals);
    if (!p.convs || !p.ids || !p.results || !p.dead || !p.suppressed || !p.renewals)
        goto out;
    for (int i = 0; i < n; i++) {
        if (conversion_from_json(p.rows[i].data, &p.convs[p.n]) < 0) {
            log_error("stored conversion is unreadable", "id=%lld", p.rows[i].id);
            p.dead[p.ndead++] = p.rows[i].id;
            unreadable++;
            continue;
        }
        p.ids[p.n++] = p.rows[i].id;
    }
    if (unreadable)
        store_mark_dead(fw->st, p.dead, unreadable, NULL, "stored conversion is unreadable");
    p.ndead = 0;
    nmatch = promotion_split_renewals(cfg, &p);
    if (match_pass(fw->st, cfg, p.convs, p.ids, nmatch, now / 1000, p.results) < 0) {
        log_warn("matching failed (store error), retried on the next pass", "count=%d", p.n);
        goto out;
    }
    for (int start = 0; start < p.n; start += PROMOTE_CHUNK) {
        if (store_promote_begin(fw->st) < 0)
            break;
        for (int i = start; i < p.n && i < start + PROMOTE_CHUNK; i++)
            if (!(p.convs[i].renewal && p.results[i].event_name[0] == '\0'))
                promote_one(fw, cfg, &p, i, now);
        store_promote_commit(fw->st);
    }
    /* After the commit: the work connection cannot write while the match one holds it. */
    if (p.ndead)
        store_mark_dead(fw->st, p.dead, p.ndead, NULL,
                        "the TikTok event cannot be built from this conversion");
    if (p.nsuppressed)
        store_mark_ignored(fw->st, p.suppressed, p.nsuppressed, NULL, "consent");
    if (p.nrenewals)
        store_mark_ignored(fw->st, p.renewals, p.nrenewals, NULL, "renewal");
    log_info("holds ended, conversions matched", "count=%d",
             p.n - p.ndead - p.nsuppressed - p.nrenewals);
out:
    promotion_free(&p);
    return n;
}

static long long backoff_ms(struct pixel_sender *ps, const struct config *cfg, int failures)
{
    double cap = (double)cfg->retry_cap_ms, d = (double)cfg->retry_base_ms;
    for (int i = 1; i < failures && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Full jitter: spreads retries of many relays after a TikTok outage. */
    double r = (double)rand_r(&ps->seed) / ((double)RAND_MAX + 1.0);
    long long ms = (long long)(d * r);
    return ms < 50 ? 50 : ms;
}

struct batch {
    const char *pixel;
    const char *token; /* the claim these rows are held by */
    const struct pixel_cfg *px;
    int test;
    struct event_row *rows;
    int n;
};

static void collect_ids(const struct batch *b, long long *ids)
{
    for (int i = 0; i < b->n; i++)
        ids[i] = b->rows[i].id;
}

/* Accepted by TikTok: marked sent, and the delay from the conversion's start (the touch,
 * else the webhook) to TikTok's acceptance observed. */
static int mark_sent(struct forwarder *fw, const struct batch *b, const long long *ids, int n,
                     const char *request_id, long long now)
{
    if (store_mark_sent(fw->st, ids, n, b->token, request_id, now) < 0)
        return -1;
    metrics_events_sent(b->pixel, n);
    for (int i = 0; i < b->n; i++) {
        int j = 0;
        while (n < b->n && j < n && ids[j] != b->rows[i].id)
            j++;
        if (j == n)
            continue; /* not among the accepted */
        long long from = b->rows[i].origin_ms ? b->rows[i].origin_ms : b->rows[i].received_ms;
        metrics_delivery_delay(b->pixel, (double)(now - from) / 1000.0);
    }
    return 0;
}

/* A batch whose outcome the store could not record (disk full) is still due: without a
 * pause it would be resent every pass. The pause doubles up to retry_cap_ms, without
 * jitter: this waits for a disk, not for TikTok. */
static void store_failed(const struct config *cfg, struct pixel_sender *ps, int n,
                         const char *outcome)
{
    long long wait = cfg->retry_base_ms;

    ps->store_failures++;
    for (int i = 1; i < ps->store_failures && wait < cfg->retry_cap_ms; i++)
        wait *= 2;
    if (wait > cfg->retry_cap_ms)
        wait = cfg->retry_cap_ms;
    if (ps->blocked_until < clock_mono_ms() + wait)
        ps->blocked_until = clock_mono_ms() + wait;
    log_error("store cannot record a batch's outcome; it stays queued and is resent after a pause",
              "pixel=%s events=%d outcome=%s failures=%d retry_in_ms=%lld", ps->code, n, outcome,
              ps->store_failures, wait);
}

static void send_batch(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                       struct batch *b);

/* 40002 (or another rejection) on a batch: halve it until the bad rows stand alone. */
static void split_batch(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                        struct batch *b, const struct tiktok_response *r)
{
    if (b->n == 1) {
        char msg[400];
        snprintf(msg, sizeof msg, "TikTok code %ld: %s", r->code, r->message);
        utf8_trim_partial(msg);
        if (store_mark_dead(fw->st, &b->rows[0].id, 1, b->token, msg) < 0) {
            store_failed(cfg, ps, 1, "dead");
            return;
        }
        metrics_events_dead(b->pixel, 1);
        log_warn("event rejected by TikTok", "id=%lld pixel=%s code=%ld", b->rows[0].id, b->pixel,
                 r->code);
        return;
    }
    struct batch left = *b, right = *b;
    left.n = b->n / 2;
    right.rows = b->rows + left.n;
    right.n = b->n - left.n;
    send_batch(fw, cfg, ps, &left);
    if (!sender_paused(ps) && ps->blocked_until <= clock_mono_ms())
        send_batch(fw, cfg, ps, &right);
}

/* The attempt timeline of each event in the batch (the dashboard's event page). */
static void record_attempt(struct forwarder *fw, const struct batch *b,
                           const struct tiktok_response *r, const long long *ids, long latency_ms)
{
    static const char *outcomes[] = {"sent", "retry", "split", "paused", "rejected"};
    struct store_attempt a = {.at_ms = clock_wall_ms(), .http_status = r->http_status,
                              .code = r->code, .latency_ms = latency_ms, .batch = b->n};
    STR_SET(a.message, r->message);
    STR_SET(a.request_id, r->request_id);
    STR_SET(a.outcome, r->partial                                ? "partial"
                       : r->outcome == TT_BAD_ROWS && b->n == 1 ? "rejected"
                                                                : outcomes[r->outcome]);
    store_attempt_record(fw->st, ids, b->n, &a);
}

/* Pauses the pixel on every instance (a row) and here at once. When the store cannot take
 * the row, the pause holds here until the next read of the store's pauses. */
static void pause_pixel(struct pixel_sender *ps, const char *code, const char *message,
                        long long now)
{
    struct forwarder *fw = ps->fw;
    struct store_pause p = {.since_ms = now};
    STR_SET(p.pixel, ps->code);
    STR_SET(p.kind, "auth");
    snprintf(p.reason, sizeof p.reason, "TikTok code %s: %s", code, message);
    utf8_trim_partial(p.reason);
    STR_SET(p.by, fw->instance);
    if (store_pause_set(fw->st, &p) < 0 || pauses_refresh(fw) < 0 || !sender_paused(ps)) {
        pthread_mutex_lock(&fw->lock);
        struct store_pause *grown = realloc(fw->pauses, (size_t)(fw->npauses + 1) * sizeof p);
        if (grown) {
            grown[fw->npauses++] = p;
            fw->pauses = grown;
        }
        pthread_mutex_unlock(&fw->lock);
    }
    ps->logged_ms = clock_mono_ms();
    log_error("pixel paused: fix its access token or permissions, then reload or resume it",
              "pixel=%s code=%s", ps->code, code);
}

/* 20001: TikTok accepted part of the batch. With per-event details (UNCONFIRMED shape, see
 * tiktok_partial_rejections) the rejected rows go dead with TikTok's message and the others
 * are sent, as for 40002. Without them the batch is split like a 40002 one: resending the
 * accepted events is safe (TikTok deduplicates Events API events on event + event_id), and
 * a lone event still answered 20001 is the rejected one. */
static void apply_partial(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                          struct batch *b, const struct tiktok_response *r, long long now)
{
    const char **eids = calloc((size_t)b->n, sizeof *eids);
    int *rejected = calloc((size_t)b->n, sizeof *rejected);
    char(*messages)[200] = calloc((size_t)b->n, sizeof *messages);
    long long *sent = calloc((size_t)b->n, sizeof *sent);
    int nsent = 0, ndead = 0;

    if (!eids || !rejected || !messages || !sent)
        goto out;
    for (int i = 0; i < b->n; i++)
        eids[i] = b->rows[i].event_id;
    if (tiktok_partial_rejections(r, eids, b->n, rejected, messages) < 0) {
        log_warn("partial success without per-event details: isolating the rejected events",
                 "pixel=%s events=%d", b->pixel, b->n);
        split_batch(fw, cfg, ps, b, r);
        goto out;
    }
    for (int i = 0; i < b->n; i++) {
        if (!rejected[i]) {
            sent[nsent++] = b->rows[i].id;
            continue;
        }
        char msg[400];
        snprintf(msg, sizeof msg, "TikTok code %ld: %s", r->code, messages[i]);
        utf8_trim_partial(msg);
        store_mark_dead(fw->st, &b->rows[i].id, 1, b->token, msg);
        ndead++;
        log_warn("event rejected by TikTok", "id=%lld pixel=%s code=%ld", b->rows[i].id, b->pixel,
                 r->code);
    }
    metrics_events_dead(b->pixel, ndead);
    if (nsent)
        mark_sent(fw, b, sent, nsent, r->request_id, now);
    log_info("batch partly sent", "pixel=%s sent=%d rejected=%d", b->pixel, nsent, ndead);
out:
    free(sent);
    free(messages);
    free(rejected);
    free(eids);
}

static void apply_response(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                           struct batch *b, const struct tiktok_response *r, long long *ids,
                           long latency_ms)
{
    char code[32], msg[400];
    long long now = clock_wall_ms(), mono = clock_mono_ms();

    record_attempt(fw, b, r, ids, latency_ms);

    if (r->code >= 0)
        snprintf(code, sizeof code, "%ld", r->code);
    else if (r->http_status)
        snprintf(code, sizeof code, "http_%ld", r->http_status);
    else
        snprintf(code, sizeof code, "error");
    metrics_tiktok_response(code);

    switch (r->outcome) {
    case TT_SENT:
        ps->failures = 0;
        if (r->partial) {
            apply_partial(fw, cfg, ps, b, r, now);
            break;
        }
        if (mark_sent(fw, b, ids, b->n, r->request_id, now) < 0) {
            store_failed(cfg, ps, b->n, "sent");
            break;
        }
        ps->store_failures = 0;
        log_info("batch sent", "pixel=%s events=%d request_id=%s", b->pixel, b->n,
                 log_quote(r->request_id, msg, sizeof msg));
        break;
    case TT_RETRY: {
        ps->failures++;
        long long wait = backoff_ms(ps, cfg, ps->failures);
        if (r->retry_after_s > 0 && r->retry_after_s * 1000 > wait)
            wait = r->retry_after_s * 1000;
        ps->blocked_until = mono + wait;
        snprintf(msg, sizeof msg, "%s (http %ld, code %s)",
                 r->message[0] ? r->message : "no answer", r->http_status, code);
        utf8_trim_partial(msg);
        if (store_mark_retry(fw->st, ids, b->n, b->token, now + wait, msg) < 0)
            store_failed(cfg, ps, b->n, "retry");
        log_quote(r->message[0] ? r->message : "no answer", msg, sizeof msg);
        if (r->http_status == 0) /* no HTTP answer: curl's own words say why */
            log_warn("batch will be retried: TikTok not reached",
                     "pixel=%s events=%d error=%s retry_in_ms=%lld", b->pixel, b->n, msg, wait);
        else
            log_warn("batch will be retried",
                     "pixel=%s events=%d http=%ld code=%s message=%s retry_in_ms=%lld", b->pixel,
                     b->n, r->http_status, code, msg, wait);
        break;
    }
    case TT_AUTH: pause_pixel(ps, code, r->message, now); break;
    case TT_BAD_ROWS:
    case TT_REJECTED: split_batch(fw, cfg, ps, b, r); break;
    }
}

static void send_batch(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                       struct batch *b)
{
    const char **events = calloc((size_t)b->n, sizeof *events);
    long long *ids = calloc((size_t)b->n, sizeof *ids);
    char *body = NULL;
    struct tiktok_response r;

    if (!events || !ids)
        goto out;
    for (int i = 0; i < b->n; i++)
        events[i] = b->rows[i].payload;
    collect_ids(b, ids);
    body =
        tiktok_batch_body(b->pixel, b->test && b->px ? b->px->test_event_code : NULL, events, b->n);
    if (!body)
        goto out;
    if (cfg->dry_run) {
        if (store_mark_dry_run(fw->st, ids, b->n, b->token, clock_wall_ms()) < 0) {
            store_failed(cfg, ps, b->n, "dry_run");
            goto out;
        }
        log_info("dry run: batch recorded, not sent", "pixel=%s events=%d bytes=%zu", b->pixel,
                 b->n, strlen(body));
        goto out;
    }
    double started = clock_mono_s();
    tiktok_post(cfg->api_base, b->px ? b->px->access_token : "", body, cfg->request_timeout_ms, &r);
    apply_response(fw, cfg, ps, b, &r, ids, (long)((clock_mono_s() - started) * 1000));
    tiktok_response_clear(&r);
out:
    free(body);
    free(ids);
    free(events);
}

/* Events past max_age go dead before sending: TikTok would not attribute them. */
static int drop_expired(struct forwarder *fw, const struct config *cfg, const char *token,
                        struct event_row *rows, int n)
{
    long long oldest = time(NULL) - cfg->max_age_s;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].event_time > 0 && rows[i].event_time < oldest) {
            store_mark_dead(fw->st, &rows[i].id, 1, token, "older than tiktok.max_age_s");
            metrics_events_dead(rows[i].pixel, 1);
            store_row_clear(&rows[i]);
            continue;
        }
        rows[kept++] = rows[i];
    }
    return kept;
}

/* A claim outlives the longest round of sends it can take: a batch split down to single
 * rows after a 40002 is about log2(1,000) = 10 requests. */
static long long claim_lease_ms(const struct config *cfg)
{
    return 12LL * cfg->request_timeout_ms + 1000LL * cfg->claim_lease_s;
}

static int refill(struct pixel_sender *ps, const struct pixel_cfg *px, long long now)
{
    double rate = px ? px->rate_per_s : 1;
    double burst = rate < 1 ? 1 : rate;
    ps->tokens += (double)(now - ps->refilled_ms) / 1000.0 * rate;
    if (ps->tokens > burst)
        ps->tokens = burst;
    ps->refilled_ms = now;
    return ps->tokens >= 1;
}

/* Splits rows into live and test batches (test_event_code is per request: they never share
 * one) and sends them. */
static void send_rows(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps,
                      const struct pixel_cfg *px, const char *token, struct event_row *rows,
                      int n)
{
    for (int pass = 0; pass < 2; pass++) {
        struct event_row *part = calloc((size_t)n + 1, sizeof *part);
        long long *ids = calloc((size_t)n + 1, sizeof *ids);
        int m = 0;
        for (int i = 0; part && ids && i < n; i++)
            if (rows[i].test == pass) {
                ids[m] = rows[i].id;
                part[m++] = rows[i];
            }
        if (m > 0 && pass == 1 && !(px && px->test_event_code[0])) {
            /* Configuration refuses this; a reload may have removed the code since. */
            store_mark_ignored(fw->st, ids, m, token,
                               "test event: the pixel has no test_event_code");
            log_warn("test events not sent: the pixel has no test_event_code", "pixel=%s events=%d",
                     ps->code, m);
        } else if (m > 0) {
            struct batch b = {.pixel = ps->code, .token = token, .px = px, .test = pass,
                              .rows = part, .n = m};
            send_batch(fw, cfg, ps, &b);
        }
        free(ids);
        free(part);
    }
}

/* Sends one batch of the pixel's due events; returns how many were taken. Runs on the
 * pixel's sender thread. */
static int send_pixel(struct forwarder *fw, const struct config *cfg, struct pixel_sender *ps)
{
    const struct pixel_cfg *px = config_find_pixel(cfg, ps->code);
    long long now = clock_wall_ms(), mono = clock_mono_ms();
    struct event_row *rows = NULL;
    char reason[320];
    int n, paused;

    pthread_mutex_lock(&fw->lock);
    const struct store_pause *pause = pause_find(fw, ps->code);
    paused = pause != NULL;
    /* An operator's pause is intended; one TikTok's answer caused needs fixing. */
    int by_operator = pause && strcmp(pause->kind, "operator") == 0;
    STR_SET(reason, pause ? pause->reason : "");
    pthread_mutex_unlock(&fw->lock);
    if (paused) {
        if (mono - ps->logged_ms >= PAUSE_LOG_EVERY_MS) {
            char q[400];
            ps->logged_ms = mono;
            log_msg(by_operator ? LOG_LVL_INFO : LOG_LVL_ERROR, "pixel still paused, events kept",
                    "pixel=%s kind=%s reason=%s", ps->code, by_operator ? "operator" : "auth",
                    log_quote(reason, q, sizeof q));
        }
        return 0;
    }
    if (ps->blocked_until > mono || !refill(ps, px, mono))
        return 0;
    if (!px && !cfg->dry_run) {
        /* A pixel removed from the config keeps its events until it comes back. */
        return 0;
    }
    /* One instance sends for a pixel at a time (rate limit and pause stay exact); the
     * claim fences this round's results against an instance that took over its lease. */
    if (store_pixel_lock(fw->st, ps->code) != 1)
        return 0;
    char token[96];
    snprintf(token, sizeof token, "%s.%s.%llu", fw->instance, ps->code, ++ps->claims);
    n = store_claim_due(fw->st, ps->code, now, cfg->batch_size, claim_lease_ms(cfg), token,
                        &rows);
    if (n > 0) {
        ps->tokens -= 1;
        n = drop_expired(fw, cfg, token, rows, n);
        send_rows(fw, cfg, ps, px, token, rows, n);
        /* What the round did not settle (the pixel paused, a split cut short) is ready for
         * the next one rather than waiting out the lease. */
        store_release(fw->st, token);
    }
    store_row_free(rows, n > 0 ? n : 0);
    return n > 0 ? n : 0;
}

/* Waits up to PASS_MS on cond unless *flag was raised meanwhile. Caller holds fw->lock. */
static void wait_pass(struct forwarder *fw, pthread_cond_t *cond, int *flag)
{
    if (*flag || fw->stopping)
        return;
    struct timespec until;
    clock_deadline(&until, PASS_MS);
    pthread_cond_timedwait(cond, &fw->lock, &until);
}

/* Waits up to PASS_MS for a wake of the senders after gen. Caller holds fw->lock. */
static void wait_wake(struct forwarder *fw, unsigned gen)
{
    if (gen != fw->wake_gen || fw->stopping)
        return;
    struct timespec until;
    clock_deadline(&until, PASS_MS);
    pthread_cond_timedwait(&fw->wake, &fw->lock, &until);
}

static void wake_senders(struct forwarder *fw)
{
    fw->wake_gen++;
    pthread_cond_broadcast(&fw->wake);
}

static void *sender_main(void *arg)
{
    struct pixel_sender *ps = arg;
    struct forwarder *fw = ps->fw;

    pthread_setname_np(pthread_self(), "ttr-send"); /* per-thread CPU in top -H, the bench */
    pthread_mutex_lock(&fw->lock);
    while (!fw->stopping) {
        unsigned gen = fw->wake_gen;
        if (ps->seen_resume != ps->resume_gen) {
            /* A reload resumed the pixel: its past failures no longer say anything. */
            ps->seen_resume = ps->resume_gen;
            ps->failures = 0;
            ps->blocked_until = 0;
        }
        pthread_mutex_unlock(&fw->lock);

        struct config *cfg = current_config(fw);
        int busy = send_pixel(fw, cfg, ps) >= cfg->batch_size;
        config_drop(cfg);

        pthread_mutex_lock(&fw->lock);
        if (!busy)
            wait_wake(fw, gen);
    }
    pthread_mutex_unlock(&fw->lock);
    return NULL;
}

/* Starts the sender of a pixel that has none. Caller holds fw->lock. */
static void sender_ensure(struct forwarder *fw, const char *code)
{
    struct pixel_sender *ps;

    if (fw->stopping || sender_find(fw, code))
        return;
    ps = calloc(1, sizeof *ps);
    if (!ps)
        return;
    ps->fw = fw;
    STR_SET(ps->code, code);
    ps->tokens = 1;
    ps->refilled_ms = clock_mono_ms();
    ps->seed = (unsigned int)(clock_wall_ms() ^ (long long)getpid() ^ (long long)(intptr_t)ps);
    if (pthread_create(&ps->thread, NULL, sender_main, ps) != 0) {
        log_error("cannot start a pixel's sender; retried on the next pass", "pixel=%s error=%s",
                  code, strerror(errno));
        free(ps);
        return;
    }
    ps->next = fw->senders;
    fw->senders = ps;
    log_debug("pixel sender started", "pixel=%s", code);
}

/* Every BACKLOG_CHECK_MS: warns when the oldest event waiting to be sent was received more
 * than TikTok's 5-minute merge window ago (it will then only be deduplicated, not merged). */
/* now: wall clock (the backlog's age); mono: monotonic (how often to look and to log). */
static void check_backlog(struct forwarder *fw, long long now, long long mono)
{
    if (mono - fw->backlog_checked_ms < BACKLOG_CHECK_MS)
        return;
    fw->backlog_checked_ms = mono;
    long long oldest = store_oldest_due_ms(fw->st);
    if (oldest <= 0 || now - oldest <= MERGE_WINDOW_MS)
        return;
    if (mono - fw->backlog_logged_ms < BACKLOG_LOG_EVERY_MS)
        return;
    fw->backlog_logged_ms = mono;
    log_warn("delivery backlog past TikTok's 5-minute merge window: events will be deduplicated "
             "but not merged with their pixel events",
             "oldest_age_s=%lld", (now - oldest) / 1000);
}

/* One dispatcher pass: a sender for every pixel with due events, then the store's upkeep. */
static void run_pass(struct forwarder *fw)
{
    struct config *cfg = current_config(fw);
    long long now = clock_wall_ms(), mono = clock_mono_ms();
    char **pixels = NULL;

    int n = store_due_pixels(fw->st, now, &pixels);
    pthread_mutex_lock(&fw->lock);
    for (int i = 0; i < n; i++)
        if (config_find_pixel(cfg, pixels[i]) || cfg->dry_run)
            sender_ensure(fw, pixels[i]);
    pthread_mutex_unlock(&fw->lock);
    for (int i = 0; i < n; i++)
        free(pixels[i]);
    free(pixels);
    if (mono - fw->pauses_read_ms >= PAUSE_REFRESH_MS && pauses_refresh(fw) == 0)
        fw->pauses_read_ms = mono;
    pthread_mutex_lock(&fw->lock);
    int beat = fw->beat_now || mono - fw->beat_ms >= BEAT_EVERY_MS;
    struct store_instance self = fw->self;
    fw->beat_now = 0;
    pthread_mutex_unlock(&fw->lock);
    self.seen_ms = now;
    if (beat && store_instance_beat(fw->st, &self) == 0)
        fw->beat_ms = mono;
    store_checkpoint(fw->st, mono);
    check_backlog(fw, now, mono);
    if (mono - fw->purged_ms >= PURGE_EVERY_MS) {
        long removed =
            store_purge(fw->st, now / 1000, cfg->window_s, cfg->click_window_s, cfg->retention_s);
        if (removed > 0)
            log_info("purged expired rows", "rows=%ld", removed);
        fw->purged_ms = mono;
    }
    config_drop(cfg);
}

static void *matcher_main(void *arg)
{
    struct forwarder *fw = arg;

    pthread_setname_np(pthread_self(), "ttr-matcher");
    pthread_mutex_lock(&fw->lock);
    while (!fw->stopping) {
        fw->match_heartbeat_ms = clock_mono_ms();
        fw->match_woken = 0;
        pthread_mutex_unlock(&fw->lock);

        struct config *cfg = current_config(fw);
        int n = promote_held(fw, cfg, clock_wall_ms());
        config_drop(cfg);

        pthread_mutex_lock(&fw->lock);
        fw->match_heartbeat_ms = clock_mono_ms();
        if (n > 0)
            wake_senders(fw); /* new ready events */
        if (n < PROMOTE_LIMIT)
            wait_pass(fw, &fw->match_wake, &fw->match_woken);
    }
    pthread_mutex_unlock(&fw->lock);
    return NULL;
}

static void *dispatcher_main(void *arg)
{
    struct forwarder *fw = arg;

    pthread_setname_np(pthread_self(), "ttr-dispatch");
    pthread_mutex_lock(&fw->lock);
    while (!fw->stopping) {
        unsigned gen = fw->wake_gen;
        fw->heartbeat_ms = clock_mono_ms();
        pthread_mutex_unlock(&fw->lock);

        run_pass(fw);

        pthread_mutex_lock(&fw->lock);
        fw->heartbeat_ms = clock_mono_ms();
        wait_wake(fw, gen);
    }
    pthread_mutex_unlock(&fw->lock);
    return NULL;
}

/* host:pid:random — unique among instances and across restarts of one. */
static void forwarder_instance_id(char *out, size_t size)
{
    char host[64] = "";
    unsigned int r = 0;
    if (gethostname(host, sizeof host - 1) < 0)
        STR_SET(host, "host");
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (unsigned int)clock_wall_ms();
    snprintf(out, size, "%s:%d:%08x", host, (int)getpid(), r);
}

const char *forwarder_instance(const struct forwarder *fw)
{
    return fw->instance;
}

struct forwarder *forwarder_start(struct store *st, struct config *cfg, char *err, size_t errlen)
{
    struct forwarder *fw = calloc(1, sizeof *fw);
    if (!fw) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    fw->st = st;
    fw->cfg = config_hold(cfg);
    forwarder_instance_id(fw->instance, sizeof fw->instance);
    STR_SET(fw->self.id, fw->instance);
    if (gethostname(fw->self.host, sizeof fw->self.host - 1) < 0)
        STR_SET(fw->self.host, "host");
    fw->self.pid = (long)getpid();
    STR_SET(fw->self.version, TTR_VERSION);
    fw->self.started_ms = clock_wall_ms();
    fw->beat_ms = clock_mono_ms() - BEAT_EVERY_MS;
    fw->pauses_read_ms = clock_mono_ms() - PAUSE_REFRESH_MS;
    /* Pauses recorded before this start (or by another instance) hold from the first pass. */
    pauses_refresh(fw);
    fw->heartbeat_ms = fw->match_heartbeat_ms = clock_mono_ms();
    fw->purged_ms = fw->backlog_checked_ms = clock_mono_ms() - PURGE_EVERY_MS;
    pthread_mutex_init(&fw->lock, NULL);
    clock_cond_init(&fw->wake);
    clock_cond_init(&fw->match_wake);
    if (pthread_create(&fw->matcher, NULL, matcher_main, fw) != 0) {
        snprintf(err, errlen, "cannot start the forwarder: %s", strerror(errno));
        config_drop(fw->cfg);
        free(fw->pauses);
        free(fw);
        return NULL;
    }
    if (pthread_create(&fw->thread, NULL, dispatcher_main, fw) != 0) {
        snprintf(err, errlen, "cannot start the forwarder: %s", strerror(errno));
        pthread_mutex_lock(&fw->lock);
        fw->stopping = 1;
        pthread_cond_signal(&fw->match_wake);
        pthread_mutex_unlock(&fw->lock);
        pthread_join(fw->matcher, NULL);
        config_drop(fw->cfg);
        free(fw->pauses);
        free(fw);
        return NULL;
    }
    return fw;
}

void forwarder_set_config(struct forwarder *fw, struct config *cfg)
{
    /* A reload is how an operator says "fixed": a new token, or permissions granted on
     * TikTok's side with the same token. TikTok's pauses end on every instance; a still-bad
     * token pauses again after one request. An operator's pause stays until resumed. */
    int ended = store_pause_clear(fw->st, NULL, "auth");
    if (ended > 0)
        log_info("pixels paused by TikTok's answer resumed after reload", "pixels=%d", ended);
    if (ended != 0)
        pauses_refresh(fw);
    pthread_mutex_lock(&fw->lock);
    struct config *old = fw->cfg;
    fw->cfg = config_hold(cfg);
    if (ended < 0) {
        /* The store is unreachable: resume here at least; its row comes back at the next
         * read, or goes when the store is back and this reload is repeated. A resumed
         * pixel forgets its failures (pauses_refresh does the same when rows end). */
        for (int i = fw->npauses - 1; i >= 0; i--) {
            if (strcmp(fw->pauses[i].kind, "auth") != 0)
                continue;
            struct pixel_sender *ps = sender_find(fw, fw->pauses[i].pixel);
            if (ps)
                ps->resume_gen++;
            fw->pauses[i] = fw->pauses[--fw->npauses];
        }
    }
    fw->match_woken = 1;
    wake_senders(fw);
    pthread_cond_signal(&fw->match_wake);
    pthread_mutex_unlock(&fw->lock);
    config_drop(old);
}

int forwarder_pause(struct forwarder *fw, const char *pixel, const char *reason)
{
    struct store_pause p = {.since_ms = clock_wall_ms()};
    STR_SET(p.pixel, pixel);
    STR_SET(p.kind, "operator");
    STR_SET(p.reason, reason && *reason ? reason : "paused by an operator");
    utf8_trim_partial(p.reason);
    STR_SET(p.by, fw->instance);
    if (store_pause_set(fw->st, &p) < 0)
        return -1;
    pauses_refresh(fw);
    log_warn("pixel paused by an operator; its events are kept", "pixel=%s", pixel);
    return 0;
}

int forwarder_resume(struct forwarder *fw, const char *pixel)
{
    int n = store_pause_clear(fw->st, pixel, NULL);
    if (n < 0)
        return -1;
    if (n > 0)
        log_info("pixel resumed by an operator", "pixel=%s", pixel);
    pauses_refresh(fw);
    forwarder_wake(fw);
    return n > 0 ? 0 : 1;
}

void forwarder_set_ports(struct forwarder *fw, int public_port, int admin_port)
{
    pthread_mutex_lock(&fw->lock);
    fw->self.public_port = public_port;
    fw->self.admin_port = admin_port;
    fw->beat_now = 1; /* beat with them at the next pass */
    pthread_mutex_unlock(&fw->lock);
}

void forwarder_wake(struct forwarder *fw)
{
    pthread_mutex_lock(&fw->lock);
    fw->match_woken = 1;
    wake_senders(fw);
    pthread_cond_signal(&fw->match_wake);
    pthread_mutex_unlock(&fw->lock);
}

int forwarder_stop(struct forwarder *fw, long grace_ms)
{
    struct timespec until;

    if (!fw)
        return 0;
    pthread_mutex_lock(&fw->lock);
    fw->stopping = 1;
    wake_senders(fw);
    pthread_cond_signal(&fw->match_wake);
    pthread_mutex_unlock(&fw->lock);
    /* The matcher never waits on the network, but it does on the disk: a stalled one must
     * not keep the process from exiting. */
    clock_deadline(&until, grace_ms);
    /* No sender is created once stopping is set, so the list is final. */
    int late = clock_join_until(fw->matcher, &until) != 0 ||
               clock_join_until(fw->thread, &until) != 0;
    for (struct pixel_sender *ps = fw->senders; ps && !late; ps = ps->next)
        late = clock_join_until(ps->thread, &until) != 0;
    if (late) {
        /* A request in flight or a write outlived the grace period: its events stay
         * queued and are resent with the same event_id at the next start. */
        log_warn("forwarder did not finish in time; queued events are kept", "grace_ms=%ld",
                 grace_ms);
        return -1; /* threads still use fw and the store; the process is about to exit */
    }
    while (fw->senders) {
        struct pixel_sender *next = fw->senders->next;
        free(fw->senders);
        fw->senders = next;
    }
    store_instance_stopped(fw->st, fw->instance, clock_wall_ms());
    free(fw->pauses);
    config_drop(fw->cfg);
    pthread_mutex_destroy(&fw->lock);
    pthread_cond_destroy(&fw->wake);
    pthread_cond_destroy(&fw->match_wake);
    free(fw);
    return 0;
}

long long forwarder_idle_ms(struct forwarder *fw)
{
    pthread_mutex_lock(&fw->lock);
    long long oldest =
        fw->heartbeat_ms < fw->match_heartbeat_ms ? fw->heartbeat_ms : fw->match_heartbeat_ms;
    long long idle = clock_mono_ms() - oldest;
    pthread_mutex_unlock(&fw->lock);
    return idle;
}

char *forwarder_pixels_json(struct forwarder *fw)
{
    json_t *arr = json_array();
    char *out;

    pthread_mutex_lock(&fw->lock);
    for (int i = 0; arr && i < fw->cfg->npixels; i++) {
        const struct store_pause *p = pause_find(fw, fw->cfg->pixels[i].code);
        /* jansson escapes the reason (TikTok's text) and refuses what is not UTF-8. */
        json_array_append_new(
            arr, json_pack("{s:s,s:b,s:s,s:s,s:I,s:s}", "pixel", fw->cfg->pixels[i].code,
                           "paused", p != NULL, "kind", p ? p->kind : "", "reason",
                           p ? p->reason : "", "since", (json_int_t)(p ? p->since_ms / 1000 : 0),
                           "by", p ? p->by : ""));
    }
    pthread_mutex_unlock(&fw->lock);
    out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}

int forwarder_paused_count(struct forwarder *fw)
{
    int n = 0;
    pthread_mutex_lock(&fw->lock);
    for (int i = 0; i < fw->cfg->npixels; i++)
        n += pause_find(fw, fw->cfg->pixels[i].code) != NULL;
    pthread_mutex_unlock(&fw->lock);
    return n;
}
