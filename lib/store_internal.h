/* Private to the SQLite backend's files (store_sqlite.c: open, schema, the writer's group
 * commit and the operations table; store_query.c: the forwarder's and the admin API's
 * statements; store_views.c: the dashboard's). */
#ifndef TTR_STORE_INTERNAL_H
#define TTR_STORE_INTERNAL_H
#include <pthread.h>
#include <sqlite3.h>
#include "store.h"
#include "store_backend.h"

#define NAMES_MAX 8

struct store_be {
    sqlite3 *wdb;   /* the front's writer thread only */
    sqlite3 *work;  /* forwarder's sender side, under work_lock */
    sqlite3 *admin; /* admin side, under admin_lock */
    sqlite3 *match; /* matching and promotion (forwarder's matcher), under match_lock */
    pthread_mutex_t work_lock;
    pthread_mutex_t match_lock;
    pthread_mutex_t admin_lock;

    int last_update_failed; /* the work connection's last state change (atomic) */
    int db_fd, wal_fd;      /* our own descriptors of the files, to see them deleted */
    char path[512];
    long long clock_offset_ms; /* writer only: wall - monotonic at its last look */

    sqlite3_stmt *ins_conv, *find_conv, *up_data, *ins_ref, *ins_touch, *up_visitor, *ins_vkey,
        *release;
    sqlite3_stmt *ins_delivery;
    sqlite3_stmt *begin, *commit; /* the writer's group transaction */
    /* On the match connection, prepared once. */
    sqlite3_stmt *find_touch[6]; /* per enum match_key */
    sqlite3_stmt *find_visitor, *consume, *promote, *count_ip_ua, *has_key, *get_touch, *hold;
    sqlite3_stmt *consent_q;
    int in_match_tx;
    long long checkpoint_ms;
    long long reclaimed;     /* under work_lock */
    int wal_pages;           /* the WAL's length after the last commit, in pages (atomic) */
    int wal_next_checkpoint; /* writer only: length at which it checkpoints next */
};

void sqlite_work_finalize(struct store_be *st);

/* The operations (store_backend.h), each as its store_<name> in store.h. */
int sqlite_held_due(struct store_be *st, long long now_ms, int limit, struct event_row **rows);
int sqlite_find_touches(struct store_be *st, enum match_key key, const char *k1, const char *k2, const char *const *names, int nnames, long long since, struct touch_row *out, int max);
int sqlite_ip_ua_visitors(struct store_be *st, const char *ip, const char *user_agent, long long since);
int sqlite_visitor_has_key(struct store_be *st, const char *vid, const char *key);
int sqlite_consent_denied(struct store_be *st, const char *vid1, const char *vid2, const char *email_hash, const char *phone_hash);
int sqlite_get_touch(struct store_be *st, long long id, struct touch_row *out);
int sqlite_find_visitor(struct store_be *st, const char *vid, struct touch *out);
int sqlite_promote_begin(struct store_be *st);
int sqlite_promote_commit(struct store_be *st);
int sqlite_promote(struct store_be *st, long long id, const char *event_name, const char *event_id, const char *matched_by, long long touch_id, const char *payload, const char *match_info);
int sqlite_hold(struct store_be *st, long long id, long long due_ms);
int sqlite_oldest_held_due(struct store_be *st, long long *due_ms);
int sqlite_due_pixels(struct store_be *st, long long now_ms, char ***pixels);
long long sqlite_oldest_due_ms(struct store_be *st);
int sqlite_claim_due(struct store_be *st, const char *pixel, long long now_ms, int limit, long long lease_ms, const char *token, struct event_row **rows);
long long sqlite_reclaimed(struct store_be *st);
int sqlite_release(struct store_be *st, const char *token);
int sqlite_pixel_lock(struct store_be *st, const char *pixel);
int sqlite_pixel_unlock(struct store_be *st, const char *pixel);
int sqlite_mark_sent(struct store_be *st, const long long *ids, int n, const char *token, const char *request_id, long long now_ms);
int sqlite_mark_dry_run(struct store_be *st, const long long *ids, int n, const char *token, long long now_ms);
int sqlite_mark_retry(struct store_be *st, const long long *ids, int n, const char *token, long long due_ms, const char *error);
int sqlite_mark_dead(struct store_be *st, const long long *ids, int n, const char *token, const char *error);
int sqlite_mark_ignored(struct store_be *st, const long long *ids, int n, const char *token, const char *reason);
void sqlite_checkpoint(struct store_be *st, long long now_ms);
long sqlite_purge(struct store_be *st, long long now_s, long touch_window_s, long visitor_window_s, long retention_s);
int sqlite_list_deliveries(struct store_be *st, const char *source, int status, int limit, struct delivery **rows);
int sqlite_list_events(struct store_be *st, int state, int limit, struct event_row **rows);
int sqlite_get_event(struct store_be *st, long long id, struct event_row *row);
int sqlite_replay(struct store_be *st, long long id, long long now_ms);
int sqlite_replay_dead(struct store_be *st, const char *pixel, long long since_ms, long long until_ms, long long now_ms);
int sqlite_replay_dry_run(struct store_be *st, const char *pixel, long long since_ms, long long until_ms, long long now_ms);
int sqlite_counts(struct store_be *st, long long counts[EV_STATE_COUNT], long long *oldest_queued_ms);
int sqlite_report_rows(struct store_be *st, long long since_ms, struct event_row **rows);
int sqlite_list_touches(struct store_be *st, const char *vid, int limit, struct touch_row **rows);
long long sqlite_touch_count(struct store_be *st);
int sqlite_view_find(struct store_be *st, const struct store_filter *f, int offset, int limit, long long **ids, long long *total);
int sqlite_view_dead_count(struct store_be *st, const struct store_filter *f, long long event_time_min, long long *dead, long long *too_old);
int sqlite_view_latest(struct store_be *st, const char *by, struct store_latest **out);
int sqlite_attempt_record(struct store_be *st, const long long *ids, int n, const struct store_attempt *a);
int sqlite_view_attempts(struct store_be *st, long long id, struct store_attempt **out);
/* store_cluster.c */
int sqlite_pause_set(struct store_be *st, const struct store_pause *p);
int sqlite_pause_clear(struct store_be *st, const char *pixel, const char *kind);
int sqlite_pauses(struct store_be *st, struct store_pause **out);
int sqlite_instance_beat(struct store_be *st, const struct store_instance *in);
int sqlite_instance_stopped(struct store_be *st, const char *id, long long now_ms);
int sqlite_instances(struct store_be *st, long long since_ms, struct store_instance **out);

#endif
