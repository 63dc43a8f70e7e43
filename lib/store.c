/* The store front: what every backend shares. One writer thread takes the submitted rows
 * and commits them in groups through the backend (a webhook is answered only after the
 * commit holding it), the blocking calls wait on their own condition, and every other
 * operation goes to the backend chosen at open (store_backend.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_backend.h"

#define GROUP_MAX 512
#define WRITER_TICK_MS 1000

struct store {
    const struct store_backend *ops;
    struct store_be *be;

    pthread_t writer;
    pthread_mutex_t qlock;
    pthread_cond_t qwork;
    struct store_job *head, *tail;
    int stopping;
    int writer_started;
    unsigned long long commits, committed_rows;
    int last_commit_failed;
};

static const char *state_names[EV_STATE_COUNT] = {"held",    "ready",   "sent",   "retry",
                                                  "dead",    "ignored", "dry_run", "sending"};

const char *store_state_name(enum event_state s)
{
    return (s >= 0 && s < EV_STATE_COUNT) ? state_names[s] : "unknown";
}

int store_state_parse(const char *name, enum event_state *out)
{
    for (int i = 0; i < EV_STATE_COUNT; i++)
        if (name && strcmp(name, state_names[i]) == 0) {
            *out = (enum event_state)i;
            return 0;
        }
    return -1;
}

void store_row_clear(struct event_row *row)
{
    free(row->data);
    free(row->payload);
    free(row->match_info);
    row->data = row->payload = row->match_info = NULL;
}

void store_row_free(struct event_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++)
        store_row_clear(&rows[i]);
    free(rows);
}

/* ---- the writer ---- */

static void write_group(struct store *st, struct store_job *group, int n)
{
    int ok = st->ops->write_group(st->be, group, n) == 0;
    if (!ok)
        for (struct store_job *j = group; j; j = j->next)
            j->result = STORE_ERROR;
    pthread_mutex_lock(&st->qlock);
    st->commits++;
    st->committed_rows += (unsigned long long)n;
    st->last_commit_failed = !ok;
    pthread_mutex_unlock(&st->qlock);
    metrics_commit_group(n);
}

/* Every WRITER_TICK_MS without jobs. Caller holds qlock; it is released while the backend
 * works. */
static void writer_tick(struct store *st)
{
    int failed = st->last_commit_failed;

    if (!st->ops->tick)
        return;
    pthread_mutex_unlock(&st->qlock);
    int rc = st->ops->tick(st->be, failed);
    pthread_mutex_lock(&st->qlock);
    if (failed && rc == 0)
        log_info("store writable again", "backend=%s", st->ops->name);
    if (failed)
        st->last_commit_failed = rc < 0;
}

static void *writer_main(void *arg)
{
    struct store *st = arg;

    pthread_setname_np(pthread_self(), "ttr-writer"); /* per-thread CPU in top -H, the bench */
    pthread_mutex_lock(&st->qlock);
    for (;;) {
        while (!st->head && !st->stopping) {
            struct timespec until;
            clock_deadline(&until, WRITER_TICK_MS);
            if (pthread_cond_timedwait(&st->qwork, &st->qlock, &until) == ETIMEDOUT && !st->head &&
                !st->stopping)
                writer_tick(st);
        }
        if (!st->head && st->stopping)
            break;
        struct store_job *group = st->head, *last = group;
        int n = 1;
        while (last->next && n < GROUP_MAX) {
            last = last->next;
            n++;
        }
        st->head = last->next;
        if (!st->head)
            st->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&st->qlock);

        write_group(st, group, n);
        for (struct store_job *j = group; j;) {
            struct store_job *next = j->next;
            if (j->done)
                j->done(j->arg, j->result, j->id);
            free(j->data);
            free(j);
            j = next;
        }
        /* After the answers: no webhook of this group waits for it. */
        if (st->ops->after_group)
            st->ops->after_group(st->be);
        pthread_mutex_lock(&st->qlock);
    }
    pthread_mutex_unlock(&st->qlock);
    return NULL;
}

static int submit(struct store *st, struct store_job *j)
{
    pthread_mutex_lock(&st->qlock);
    if (st->stopping) {
        pthread_mutex_unlock(&st->qlock);
        free(j->data);
        free(j);
        return -1;
    }
    j->next = NULL;
    if (st->tail)
        st->tail->next = j;
    else
        st->head = j;
    st->tail = j;
    pthread_cond_signal(&st->qwork);
    pthread_mutex_unlock(&st->qlock);
    return 0;
}

int store_submit_conversion(struct store *st, const struct conversion *c, const char *pixel,
                            int test, long long due_ms, store_done_fn done, void *arg)
{
    struct store_job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    /* Serialised here, in the request's thread, to keep the single writer short. */
    if (!(j->data = conversion_to_json(c))) {
        free(j);
        return -1;
    }
    j->type = JOB_CONVERSION;
    j->c = *c;
    j->c.contents_json = NULL;
    STR_SET(j->pixel, pixel);
    j->test = test;
    j->due_ms = due_ms;
    j->clock_offset_ms = clock_wall_offset_ms();
    j->done = done;
    j->arg = arg;
    j->result = STORE_ERROR;
    j->id = 0;
    return submit(st, j);
}

int store_submit_delivery(struct store *st, const struct delivery *d)
{
    struct store_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->type = JOB_DELIVERY;
    j->d = *d;
    return submit(st, j);
}

int store_submit_touch(struct store *st, const struct touch *t, store_done_fn done, void *arg)
{
    struct store_job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    j->type = JOB_TOUCH;
    j->data = NULL;
    j->t = *t;
    j->done = done;
    j->arg = arg;
    j->result = STORE_ERROR;
    j->id = 0;
    return submit(st, j);
}

/* The blocking calls wait on their own condition: no thundering herd of waiters. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    enum store_result result;
    long long id;
};

static void waiter_wake(void *arg, enum store_result result, long long id)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->result = result;
    w->id = id;
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static enum store_result waiter_wait(struct waiter *w, int queued, long long *id_out)
{
    pthread_mutex_lock(&w->lock);
    while (queued == 0 && !w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    if (id_out)
        *id_out = queued == 0 ? w->id : 0;
    return queued == 0 ? w->result : STORE_ERROR;
}

#define WAITER_INIT                                                                                \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, STORE_ERROR, 0                     \
    }

enum store_result store_add_conversion(struct store *st, const struct conversion *c,
                                       const char *pixel, int test, long long due_ms,
                                       long long *id_out)
{
    struct waiter w = WAITER_INIT;
    int queued = store_submit_conversion(st, c, pixel, test, due_ms, waiter_wake, &w);
    return waiter_wait(&w, queued, id_out);
}

enum store_result store_add_touch(struct store *st, const struct touch *t)
{
    struct waiter w = WAITER_INIT;
    int queued = store_submit_touch(st, t, waiter_wake, &w);
    return waiter_wait(&w, queued, NULL);
}

int store_writable(struct store *st)
{
    pthread_mutex_lock(&st->qlock);
    int ok = !st->last_commit_failed && !st->stopping;
    pthread_mutex_unlock(&st->qlock);
    return ok && st->ops->writable(st->be);
}

void store_commit_stats(struct store *st, unsigned long long *commits, unsigned long long *rows)
{
    pthread_mutex_lock(&st->qlock);
    *commits = st->commits;
    *rows = st->committed_rows;
    pthread_mutex_unlock(&st->qlock);
}

/* ---- open and close ---- */

struct store *store_open_with(const struct store_options *o, char *err, size_t errlen)
{
    const struct store_backend *ops = &store_backend_sqlite;
    struct store *st;

    if (o->backend && strcmp(o->backend, store_backend_pg.name) == 0)
        ops = &store_backend_pg;
    else if (o->backend && strcmp(o->backend, store_backend_sqlite.name) != 0) {
        snprintf(err, errlen, "unknown store backend %s", o->backend);
        return NULL;
    }
    if (!(st = calloc(1, sizeof *st))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->ops = ops;
    pthread_mutex_init(&st->qlock, NULL);
    clock_cond_init(&st->qwork);
    if (!(st->be = ops->open(o, err, errlen)))
        goto fail;
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        snprintf(err, errlen, "cannot start the store writer: %s", strerror(errno));
        goto fail;
    }
    st->writer_started = 1;
    return st;
fail:
    store_close(st);
    return NULL;
}

struct store *store_open(const char *path, int synchronous_full, char *err, size_t errlen)
{
    struct store_options o = {.backend = "sqlite", .path = path,
                              .synchronous_full = synchronous_full};
    return store_open_with(&o, err, errlen);
}

int store_flush(struct store *st, long wait_ms)
{
    struct timespec until;

    if (!st || !st->writer_started)
        return 0;
    pthread_mutex_lock(&st->qlock);
    st->stopping = 1;
    pthread_cond_broadcast(&st->qwork);
    pthread_mutex_unlock(&st->qlock);
    clock_deadline(&until, wait_ms);
    if (clock_join_until(st->writer, &until) != 0)
        return -1;
    st->writer_started = 0;
    return 0;
}

int store_files_present(struct store *st)
{
    return st->ops->files_present ? st->ops->files_present(st->be) : 1;
}

const char *store_backend_name(const struct store *st)
{
    return st->ops->name;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->writer_started) {
        pthread_mutex_lock(&st->qlock);
        st->stopping = 1;
        pthread_cond_broadcast(&st->qwork);
        pthread_mutex_unlock(&st->qlock);
        pthread_join(st->writer, NULL);
    }
    if (st->be)
        st->ops->close(st->be);
    pthread_mutex_destroy(&st->qlock);
    pthread_cond_destroy(&st->qwork);
    free(st);
}

int store_wait(struct store *st, long long timeout_ms)
{
    return st->ops->wait ? st->ops->wait(st->be, timeout_ms) : 0;
}

/* ---- everything else: the backend's ---- */

int store_held_due(struct store *st, long long now_ms, int limit, struct event_row **rows)
{
    return st->ops->held_due(st->be, now_ms, limit, rows);
}

int store_find_touches(struct store *st, enum match_key key, const char *k1, const char *k2, const char *const *names, int nnames, long long since, struct touch_row *out, int max)
{
    return st->ops->find_touches(st->be, key, k1, k2, names, nnames, since, out, max);
}

int store_ip_ua_visitors(struct store *st, const char *ip, const char *user_agent, long long since)
{
    return st->ops->ip_ua_visitors(st->be, ip, user_agent, since);
}

int store_visitor_has_key(struct store *st, const char *vid, const char *key)
{
    return st->ops->visitor_has_key(st->be, vid, key);
}

int store_consent_denied(struct store *st, const char *vid1, const char *vid2, const char *email_hash, const char *phone_hash)
{
    return st->ops->consent_denied(st->be, vid1, vid2, email_hash, phone_hash);
}

int store_get_touch(struct store *st, long long id, struct touch_row *out)
{
    return st->ops->get_touch(st->be, id, out);
}

int store_find_visitor(struct store *st, const char *vid, struct touch *out)
{
    return st->ops->find_visitor(st->be, vid, out);
}

int store_promote_begin(struct store *st)
{
    return st->ops->promote_begin(st->be);
}

int store_promote_commit(struct store *st)
{
    return st->ops->promote_commit(st->be);
}

int store_promote(struct store *st, long long id, const char *event_name, const char *event_id, const char *matched_by, long long touch_id, const char *payload, const char *match_info)
{
    return st->ops->promote(st->be, id, event_name, event_id, matched_by, touch_id, payload, match_info);
}

int store_hold(struct store *st, long long id, long long due_ms)
{
    return st->ops->hold(st->be, id, due_ms);
}

int store_oldest_held_due(struct store *st, long long *due_ms)
{
    return st->ops->oldest_held_due(st->be, due_ms);
}

int store_due_pixels(struct store *st, long long now_ms, char ***pixels)
{
    return st->ops->due_pixels(st->be, now_ms, pixels);
}

long long store_oldest_due_ms(struct store *st)
{
    return st->ops->oldest_due_ms(st->be);
}

int store_claim_due(struct store *st, const char *pixel, long long now_ms, int limit, long long lease_ms, const char *token, struct event_row **rows)
{
    return st->ops->claim_due(st->be, pixel, now_ms, limit, lease_ms, token, rows);
}

int store_release(struct store *st, const char *token)
{
    return st->ops->release(st->be, token);
}

long long store_reclaimed(struct store *st)
{
    return st->ops->reclaimed(st->be);
}

int store_pixel_lock(struct store *st, const char *pixel)
{
    return st->ops->pixel_lock(st->be, pixel);
}

int store_pixel_unlock(struct store *st, const char *pixel)
{
    return st->ops->pixel_unlock(st->be, pixel);
}

int store_mark_sent(struct store *st, const long long *ids, int n, const char *token, const char *request_id, long long now_ms)
{
    return st->ops->mark_sent(st->be, ids, n, token, request_id, now_ms);
}

int store_mark_dry_run(struct store *st, const long long *ids, int n, const char *token, long long now_ms)
{
    return st->ops->mark_dry_run(st->be, ids, n, token, now_ms);
}

int store_mark_retry(struct store *st, const long long *ids, int n, const char *token, long long due_ms, const char *error)
{
    return st->ops->mark_retry(st->be, ids, n, token, due_ms, error);
}

int store_mark_dead(struct store *st, const long long *ids, int n, const char *token, const char *error)
{
    return st->ops->mark_dead(st->be, ids, n, token, error);
}

int store_mark_ignored(struct store *st, const long long *ids, int n, const char *token, const char *reason)
{
    return st->ops->mark_ignored(st->be, ids, n, token, reason);
}

void store_checkpoint(struct store *st, long long now_ms)
{
    st->ops->checkpoint(st->be, now_ms);
}

long store_purge(struct store *st, long long now_s, long touch_window_s, long visitor_window_s, long retention_s)
{
    return st->ops->purge(st->be, now_s, touch_window_s, visitor_window_s, retention_s);
}

int store_list_deliveries(struct store *st, const char *source, int status, int limit, struct delivery **rows)
{
    return st->ops->list_deliveries(st->be, source, status, limit, rows);
}

int store_list_events(struct store *st, int state, int limit, struct event_row **rows)
{
    return st->ops->list_events(st->be, state, limit, rows);
}

int store_get_event(struct store *st, long long id, struct event_row *row)
{
    return st->ops->get_event(st->be, id, row);
}

int store_replay(struct store *st, long long id, long long now_ms)
{
    return st->ops->replay(st->be, id, now_ms);
}

int store_replay_dead(struct store *st, const char *pixel, long long since_ms, long long until_ms, long long now_ms)
{
    return st->ops->replay_dead(st->be, pixel, since_ms, until_ms, now_ms);
}

int store_replay_dry_run(struct store *st, const char *pixel, long long since_ms, long long until_ms, long long now_ms)
{
    return st->ops->replay_dry_run(st->be, pixel, since_ms, until_ms, now_ms);
}

int store_counts(struct store *st, long long counts[EV_STATE_COUNT], long long *oldest_queued_ms)
{
    return st->ops->counts(st->be, counts, oldest_queued_ms);
}

int store_report_rows(struct store *st, long long since_ms, struct event_row **rows)
{
    return st->ops->report_rows(st->be, since_ms, rows);
}

int store_list_touches(struct store *st, const char *vid, int limit, struct touch_row **rows)
{
    return st->ops->list_touches(st->be, vid, limit, rows);
}

long long store_touch_count(struct store *st)
{
    return st->ops->touch_count(st->be);
}

int store_view_find(struct store *st, const struct store_filter *f, int offset, int limit, long long **ids, long long *total)
{
    return st->ops->view_find(st->be, f, offset, limit, ids, total);
}

int store_view_dead_count(struct store *st, const struct store_filter *f, long long event_time_min, long long *dead, long long *too_old)
{
    return st->ops->view_dead_count(st->be, f, event_time_min, dead, too_old);
}

int store_view_latest(struct store *st, const char *by, struct store_latest **out)
{
    return st->ops->view_latest(st->be, by, out);
}

int store_attempt_record(struct store *st, const long long *ids, int n, const struct store_attempt *a)
{
    return st->ops->attempt_record(st->be, ids, n, a);
}

int store_view_attempts(struct store *st, long long id, struct store_attempt **out)
{
    return st->ops->view_attempts(st->be, id, out);
}

int store_pause_set(struct store *st, const struct store_pause *p)
{
    return st->ops->pause_set(st->be, p);
}

int store_pause_clear(struct store *st, const char *pixel, const char *kind)
{
    return st->ops->pause_clear(st->be, pixel, kind);
}

int store_pauses(struct store *st, struct store_pause **out)
{
    return st->ops->pauses(st->be, out);
}

int store_instance_beat(struct store *st, const struct store_instance *in)
{
    return st->ops->instance_beat(st->be, in);
}

int store_instance_stopped(struct store *st, const char *id, long long now_ms)
{
    return st->ops->instance_stopped(st->be, id, now_ms);
}

int store_instances(struct store *st, long long since_ms, struct store_instance **out)
{
    return st->ops->instances(st->be, since_ms, out);
}
