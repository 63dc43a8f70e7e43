/* What a store backend implements (store_sqlite.c, store_pg.c): the rows and the queries.
 * The front (store.c) owns what every backend shares: the writer thread and its group
 * commit, the submit/done protocol and the state names. Private to lib/store*. */
#ifndef TTR_STORE_BACKEND_H
#define TTR_STORE_BACKEND_H
#include "store.h"

/* A backend's own state. Each backend defines it in its own files; the front holds only
 * the pointer. */
struct store_be;

enum store_job_type { JOB_CONVERSION, JOB_TOUCH, JOB_DELIVERY };

/* One row for the writer. Jobs are heap-allocated by the front and own copies of what they
 * write; the writer calls done() after the commit that holds them, then frees them. */
struct store_job {
    enum store_job_type type;
    struct conversion c; /* JOB_CONVERSION (contents_json not kept: it is in data) */
    char *data;          /* conversion JSON, built by the submitter */
    char pixel[64];
    int test;
    long long due_ms;
    long long clock_offset_ms; /* clock_wall_offset_ms() when due_ms was computed */
    struct touch t;            /* JOB_TOUCH */
    struct delivery d; /* JOB_DELIVERY (done is NULL: nobody waits) */
    enum store_result result;
    long long id;
    store_done_fn done;
    void *arg;
    struct store_job *next;
};

/* Each operation is the store_<name> function of store.h on the backend's state; see
 * store.h for what it does and returns. */
struct store_backend {
    const char *name;
    struct store_be *(*open)(const struct store_options *o, char *err, size_t errlen);
    void (*close)(struct store_be *be);
    /* Writes the jobs of the list group (n of them) in one transaction and sets each job's
     * result and id. 0 once committed, -1 when nothing was (every result STORE_ERROR). */
    int (*write_group)(struct store_be *be, struct store_job *group, int n);
    /* 0 when the backend cannot write (files deleted, database unreachable). */
    int (*writable)(struct store_be *be);
    /* 0 when the store's files were deleted or replaced while open (1 for a server). */
    int (*files_present)(struct store_be *be);
    /* The writer's idle work, every second without jobs (failed: the last commit failed):
     * returns 0 when the store is writable, -1 when not (a probe write failed). NULL: none. */
    int (*tick)(struct store_be *be, int failed);
    /* Runs after each group's answers were given (the SQLite writer restarts a grown WAL
     * there, where no webhook waits for it). NULL: nothing. */
    void (*after_group)(struct store_be *be);
    /* Waits up to timeout_ms for work committed elsewhere (another instance); 1 woken,
     * 0 timed out, -1 error. NULL: a single instance has nothing to wait for. */
    int (*wait)(struct store_be *be, long long timeout_ms);

    int (*held_due)(struct store_be *be, long long now_ms, int limit, struct event_row **rows);
    int (*find_touches)(struct store_be *be, enum match_key key, const char *k1, const char *k2,
                        const char *const *names, int nnames, long long since,
                        struct touch_row *out, int max);
    int (*ip_ua_visitors)(struct store_be *be, const char *ip, const char *user_agent,
                          long long since);
    int (*visitor_has_key)(struct store_be *be, const char *vid, const char *key);
    int (*consent_denied)(struct store_be *be, const char *vid1, const char *vid2,
                          const char *email_hash, const char *phone_hash);
    int (*get_touch)(struct store_be *be, long long id, struct touch_row *out);
    int (*find_visitor)(struct store_be *be, const char *vid, struct touch *out);
    int (*promote_begin)(struct store_be *be);
    int (*promote_commit)(struct store_be *be);
    int (*promote)(struct store_be *be, long long id, const char *event_name,
                   const char *event_id, const char *matched_by, long long touch_id,
                   const char *payload, const char *match_info);
    int (*hold)(struct store_be *be, long long id, long long due_ms);
    int (*oldest_held_due)(struct store_be *be, long long *due_ms);

    int (*due_pixels)(struct store_be *be, long long now_ms, char ***pixels);
    long long (*oldest_due_ms)(struct store_be *be);
    int (*claim_due)(struct store_be *be, const char *pixel, long long now_ms, int limit,
                     long long lease_ms, const char *token, struct event_row **rows);
    long long (*reclaimed)(struct store_be *be);
    int (*release)(struct store_be *be, const char *token);
    int (*pixel_lock)(struct store_be *be, const char *pixel);
    int (*pixel_unlock)(struct store_be *be, const char *pixel);
    int (*mark_sent)(struct store_be *be, const long long *ids, int n, const char *token,
                     const char *request_id, long long now_ms);
    int (*mark_dry_run)(struct store_be *be, const long long *ids, int n, const char *token,
                        long long now_ms);
    int (*mark_retry)(struct store_be *be, const long long *ids, int n, const char *token,
                      long long due_ms, const char *error);
    int (*mark_dead)(struct store_be *be, const long long *ids, int n, const char *token,
                     const char *error);
    int (*mark_ignored)(struct store_be *be, const long long *ids, int n, const char *token,
                        const char *reason);
    void (*checkpoint)(struct store_be *be, long long now_ms);
    long (*purge)(struct store_be *be, long long now_s, long touch_window_s,
                  long visitor_window_s, long retention_s);

    int (*list_deliveries)(struct store_be *be, const char *source, int status, int limit,
                           struct delivery **rows);
    int (*list_events)(struct store_be *be, int state, int limit, struct event_row **rows);
    int (*get_event)(struct store_be *be, long long id, struct event_row *row);
    int (*replay)(struct store_be *be, long long id, long long now_ms);
    int (*replay_dead)(struct store_be *be, const char *pixel, long long since_ms,
                       long long until_ms, long long now_ms);
    int (*replay_dry_run)(struct store_be *be, const char *pixel, long long since_ms,
                          long long until_ms, long long now_ms);
    int (*counts)(struct store_be *be, long long counts[EV_STATE_COUNT],
                  long long *oldest_queued_ms);
    int (*report_rows)(struct store_be *be, long long since_ms, struct event_row **rows);
    int (*list_touches)(struct store_be *be, const char *vid, int limit, struct touch_row **rows);
    long long (*touch_count)(struct store_be *be);

    int (*view_find)(struct store_be *be, const struct store_filter *f, int offset, int limit,
                     long long **ids, long long *total);
    int (*view_dead_count)(struct store_be *be, const struct store_filter *f,
                           long long event_time_min, long long *dead, long long *too_old);
    int (*view_latest)(struct store_be *be, const char *by, struct store_latest **out);
    int (*attempt_record)(struct store_be *be, const long long *ids, int n,
                          const struct store_attempt *a);
    int (*view_attempts)(struct store_be *be, long long id, struct store_attempt **out);
    int (*pause_set)(struct store_be *be, const struct store_pause *p);
    int (*pause_clear)(struct store_be *be, const char *pixel, const char *kind);
    int (*pauses)(struct store_be *be, struct store_pause **out);
    int (*instance_beat)(struct store_be *be, const struct store_instance *in);
    int (*instance_stopped)(struct store_be *be, const char *id, long long now_ms);
    int (*instances)(struct store_be *be, long long since_ms, struct store_instance **out);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

#endif
