/* The PostgreSQL store backend: the SQLite store's rows in one database that several
 * ttrelayd instances share. Due events are claimed (FOR UPDATE SKIP LOCKED) with a token
 * and a lease, and results are fenced by that token; one instance sends for a pixel at a
 * time (a session advisory lock). Each function mirrors store_<name> in store.h, with the
 * same return conventions, on one connection per role (ingest writer, matcher, sender,
 * admin, listener), each behind its own mutex. A lost connection fails the call (-1) and
 * is reopened by the next call on that role. */
#ifndef TTR_STORE_PG_H
#define TTR_STORE_PG_H
#include <stddef.h>
#include "conversion.h"
#include "store.h"


struct store_be;

/* Connects (conninfo: a libpq connection string or URI), creates or migrates the schema
 * under an advisory lock (instances starting together migrate once), and opens one
 * connection per role. NULL with the reason in err. */
struct store_be *pg_open(const char *conninfo, char *err, size_t errlen);
void pg_close(struct store_be *st);

/* ---- ingest: what the writer thread of the store front hands over ---- */
enum pg_job_type { PG_JOB_CONVERSION, PG_JOB_TOUCH, PG_JOB_DELIVERY };
struct pg_job {
    enum pg_job_type type;
    struct conversion c; /* PG_JOB_CONVERSION (contents_json unused: it is in data) */
    const char *data;    /* borrowed: conversion JSON (conversion_to_json) */
    char pixel[64];
    int test;
    long long due_ms;
    struct touch t;    /* PG_JOB_TOUCH */
    struct delivery d; /* PG_JOB_DELIVERY */
    /* out */
    enum store_result result; /* STORE_OK, STORE_DUPLICATE (id: the existing row) */
    long long id;             /* conversion or touch id; 0 for deliveries */
};
/* Writes jobs[0..n) in one transaction: conversions in one multi-row insert (a business
 * key already stored, or twice in the group, is STORE_DUPLICATE with the first row's id),
 * touches with their visitors, visitor keys and the early release of held conversions
 * they reference, deliveries. 0 once committed (each job's result set), -1 when nothing
 * was committed (every result STORE_ERROR: answer 503, the sender retries). Notifies the
 * listeners (pg_wait) on commit. */
int pg_write_group(struct store_be *st, struct pg_job *jobs, int n);
/* 0 when the last group failed or the writer's connection is down: not ready. */
int pg_writable(struct store_be *st);
/* Waits up to timeout_ms for a NOTIFY from any instance (ingest committed, events
 * promoted or replayed). 1 notified, 0 timed out, -1 no connection (after the timeout).
 * One thread waits at a time. */
int pg_wait(struct store_be *st, long long timeout_ms);

/* ---- matcher (see store.h for each) ---- */
int pg_held_due(struct store_be *st, long long now_ms, int limit, struct event_row **rows);
int pg_find_touches(struct store_be *st, enum match_key key, const char *k1, const char *k2,
                    const char *const *names, int nnames, long long since, struct touch_row *out,
                    int max);
int pg_ip_ua_visitors(struct store_be *st, const char *ip, const char *user_agent, long long since);
int pg_visitor_has_key(struct store_be *st, const char *vid, const char *key);
int pg_consent_denied(struct store_be *st, const char *vid1, const char *vid2,
                      const char *email_hash, const char *phone_hash);
int pg_get_touch(struct store_be *st, long long id, struct touch_row *out);
int pg_find_visitor(struct store_be *st, const char *vid, struct touch *out);
int pg_promote_begin(struct store_be *st);
int pg_promote_commit(struct store_be *st);
/* The touch is consumed by compare-and-set: of two instances promoting with one touch,
 * exactly one succeeds; the other gets -1. */
int pg_promote(struct store_be *st, long long id, const char *event_name, const char *event_id,
               const char *matched_by, long long touch_id, const char *payload,
               const char *match_info);
int pg_hold(struct store_be *st, long long id, long long due_ms);

/* ---- sender (see store.h for each; claims use FOR UPDATE SKIP LOCKED) ---- */
/* ready/retry events of pixel due at now_ms, oldest first, without claiming them. */
int pg_due_events(struct store_be *st, const char *pixel, long long now_ms, int limit,
                  struct event_row **rows);
int pg_due_pixels(struct store_be *st, long long now_ms, char ***pixels);
long long pg_oldest_due_ms(struct store_be *st);
int pg_claim_due(struct store_be *st, const char *pixel, long long now_ms, int limit,
                 long long lease_ms, const char *token, struct event_row **rows);
int pg_oldest_held_due(struct store_be *st, long long *due_ms);
int pg_release(struct store_be *st, const char *token);
long long pg_reclaimed(struct store_be *st);
int pg_mark_sent(struct store_be *st, const long long *ids, int n, const char *token,
                 const char *request_id, long long now_ms);
int pg_mark_retry(struct store_be *st, const long long *ids, int n, const char *token,
                  long long due_ms, const char *error);
int pg_mark_dead(struct store_be *st, const long long *ids, int n, const char *token,
                 const char *error);
int pg_mark_dry_run(struct store_be *st, const long long *ids, int n, const char *token,
                    long long now_ms);
int pg_mark_ignored(struct store_be *st, const long long *ids, int n, const char *token,
                    const char *reason);
/* One sender per pixel across instances: a session advisory lock on the sender's
 * connection. 1 held by this store (again: no second hold), 0 held by another instance,
 * -1 error. A lost connection loses its locks: take the lock before each round. */
int pg_pixel_lock(struct store_be *st, const char *pixel);
/* 0 released (or not held), -1 error. */
int pg_pixel_unlock(struct store_be *st, const char *pixel);
/* Nothing to do: PostgreSQL checkpoints by itself. For the backend table. */
void pg_checkpoint(struct store_be *st, long long now_ms);
/* As store_purge, on one instance at a time (another purging: 0). */
long pg_purge(struct store_be *st, long long now_s, long touch_window_s, long visitor_window_s,
              long retention_s);

/* ---- admin ---- */
int pg_list_deliveries(struct store_be *st, const char *source, int status, int limit,
                       struct delivery **rows);
int pg_list_events(struct store_be *st, int state /* -1 = any */, int limit,
                   struct event_row **rows);
int pg_get_event(struct store_be *st, long long id, struct event_row *row);
int pg_replay(struct store_be *st, long long id, long long now_ms);
int pg_replay_dead(struct store_be *st, const char *pixel, long long since_ms, long long until_ms,
                   long long now_ms);
int pg_replay_dry_run(struct store_be *st, const char *pixel, long long since_ms,
                      long long until_ms, long long now_ms);
/* As store_counts; EV_SENDING rows count once the front has that state (the array has
 * EV_STATE_COUNT slots) and are queued for oldest_queued_ms. */
int pg_counts(struct store_be *st, long long counts[EV_STATE_COUNT], long long *oldest_queued_ms);
int pg_report_rows(struct store_be *st, long long since_ms, struct event_row **rows);
int pg_list_touches(struct store_be *st, const char *vid, int limit, struct touch_row **rows);
long long pg_touch_count(struct store_be *st);

/* ---- dashboard views and the attempt log (see store.h) ---- */
int pg_view_find(struct store_be *st, const struct store_filter *f, int offset, int limit,
                 long long **ids, long long *total);
int pg_view_dead_count(struct store_be *st, const struct store_filter *f, long long event_time_min,
                       long long *dead, long long *too_old);
int pg_view_latest(struct store_be *st, const char *by, struct store_latest **out);
/* On the sender's connection, like the results it follows. */
int pg_attempt_record(struct store_be *st, const long long *ids, int n,
                      const struct store_attempt *a);
int pg_view_attempts(struct store_be *st, long long id, struct store_attempt **out);
/* store_pg_cluster.c */
int pg_pause_set(struct store_be *st, const struct store_pause *p);
int pg_pause_clear(struct store_be *st, const char *pixel, const char *kind);
int pg_pauses(struct store_be *st, struct store_pause **out);
int pg_instance_beat(struct store_be *st, const struct store_instance *in);
int pg_instance_stopped(struct store_be *st, const char *id, long long now_ms);
int pg_instances(struct store_be *st, long long since_ms, struct store_instance **out);

#endif
