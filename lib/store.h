/* The store: conversions, events, touches and visitors, in SQLite (WAL, the embedded
 * default) or PostgreSQL (several instances on one database), behind one front (store.c):
 * ingest goes through one writer thread that commits in groups, and callers learn of
 * their row only once the commit holding it is durable. The forwarder and the admin API
 * use their own connections. Backends: store_backend.h. */
#ifndef TTR_STORE_H
#define TTR_STORE_H
#include <stddef.h>
#include "conversion.h"

struct store;

enum store_result { STORE_OK, STORE_DUPLICATE, STORE_ERROR };

/* Event states (DESIGN.md): held -> ready -> sent, or retry, dead, ignored; dry_run: built
 * and recorded under tiktok.dry_run, never sent (replayable once live). Stored as integers:
 * new states are appended. */
enum event_state {
    EV_HELD,
    EV_READY,
    EV_SENT,
    EV_RETRY,
    EV_DEAD,
    EV_IGNORED,
    EV_DRY_RUN,
    EV_SENDING, /* claimed by an instance that is sending it (a lease and a claim token) */
    EV_STATE_COUNT
};
const char *store_state_name(enum event_state s);
int store_state_parse(const char *name, enum event_state *out);

/* Which backend and where. */
struct store_options {
    const char *backend;  /* "sqlite" (default when NULL) or "postgresql" */
    const char *path;     /* sqlite: the database file */
    int synchronous_full; /* sqlite: fsync every commit rather than NORMAL */
    const char *conninfo; /* postgresql: a libpq connection string or URI */
};
/* Opens (creating and migrating) the store and starts the writer thread. NULL with the
 * reason in err. */
struct store *store_open_with(const struct store_options *o, char *err, size_t errlen);
/* The SQLite store at path (tests, tools). */
struct store *store_open(const char *path, int synchronous_full, char *err, size_t errlen);
/* The backend's name ("sqlite", "postgresql"). */
const char *store_backend_name(const struct store *st);
/* Stops the writer once it has committed what is queued, waiting at most wait_ms (a
 * stalled disk). Returns 0, or -1 when the writer is still busy: the store must then not
 * be closed (the caller exits). Jobs submitted afterwards are refused. */
int store_flush(struct store *st, long wait_ms);
/* Flushes pending writes (without a time limit), stops the writer and closes. */
void store_close(struct store *st);

/* Asynchronous ingest: the row is queued for the writer, which calls done(arg, result, id)
 * from its own thread once the group commit holding it is on disk (or has failed). The
 * store copies c or t. Returns 0 when queued (done will be called exactly once), or -1
 * (stopping, out of memory: done is not called). Keep done short: it runs in the writer. */
typedef void (*store_done_fn)(void *arg, enum store_result result, long long id);
int store_submit_conversion(struct store *st, const struct conversion *c, const char *pixel,
                            int test, long long due_ms, store_done_fn done, void *arg);
int store_submit_touch(struct store *st, const struct touch *t, store_done_fn done, void *arg);

/* One request to /webhooks/<id> as the delivery log keeps it: never a body or a secret. */
struct delivery {
    long long ts_ms;
    char source[64];         /* the id as asked (may name no configured source) */
    int status;              /* the HTTP status answered */
    char result[24];         /* accepted, duplicate, ignored, unauthorized, not_found, ... */
    char reason[200];        /* why, when refused or ignored */
    char delivery_id[160];   /* the sender's delivery id, "" when unknown */
    long long conversion_id; /* 0 when none */
};
/* Queues d for the writer, committed with the next group; nothing waits for it (a log,
 * not an acknowledgement). Returns 0 queued or -1. */
int store_submit_delivery(struct store *st, const struct delivery *d);
/* Deliveries newest first, of one source (NULL: any) and status (0: any). *rows is new
 * (free()). Count or -1. */
int store_list_deliveries(struct store *st, const char *source, int status, int limit,
                          struct delivery **rows);

/* Ingest (blocking until durable). A conversion is unique by (source, kind, object_id). */
enum store_result store_add_conversion(struct store *st, const struct conversion *c,
                                       const char *pixel, int test, long long due_ms,
                                       long long *id_out);
/* Stores a touch and updates its visitor; a touch carrying an order_id releases held
 * conversions referencing it early. */
enum store_result store_add_touch(struct store *st, const struct touch *t);

/* One event row as the admin API and the forwarder see it. Strings are owned by the row. */
struct event_row {
    long long id;
    char source[64];
    char kind[8];
    char object_id[160];
    char pixel[64];
    enum event_state state;
    int test;
    long long received_ms;
    long long due_ms;
    long long sent_ms;
    long long event_time;
    int attempts;
    char event_name[64];
    char event_id[160];
    char matched_by[16];
    long long touch_id;
    char last_error[512];
    char request_id[80];
    char *data;    /* conversion JSON (conversion_to_json) */
    char *payload;    /* the TikTok data[] element, once built */
    char *match_info; /* the matching engine's explanation (JSON), once matched */
    long long origin_ms; /* the matched touch's capture or the webhook's receipt, the earlier */
};
/* Frees what one row owns (data, payload, match_info); the row itself is the caller's. */
void store_row_clear(struct event_row *row);
void store_row_free(struct event_row *rows, int n);

/* ---- forwarder side ---- */
/* Held conversions whose hold has ended (due_ms <= now_ms), oldest first. *rows is new. */
int store_held_due(struct store *st, long long now_ms, int limit, struct event_row **rows);
/* A matched touch as the matching engine sees it. */
struct touch_row {
    long long id;
    long long consumed_by; /* conversion id, 0 when free */
    struct touch t;
};
/* Match keys, strongest first (DESIGN.md "Matching"). */
enum match_key { MKEY_EVENT_ID, MKEY_ORDER_REF, MKEY_VID, MKEY_EMAIL, MKEY_PHONE, MKEY_IP_UA };
/* Touches with ts >= since whose event is one of names[] and whose key matches, newest
 * first, up to max, consumed ones included (consumed_by set). For MKEY_IP_UA k1 is the ip
 * and k2 the user agent; for MKEY_EMAIL/PHONE k1 is the hash, through the visitors seen
 * with it. Returns the count, or -1. */
int store_find_touches(struct store *st, enum match_key key, const char *k1, const char *k2,
                       const char *const *names, int nnames, long long since,
                       struct touch_row *out, int max);
/* Distinct visitors seen with this IP and user agent since since (any event), counted up
 * to 2: 1 means one visitor only. -1 on error. */
int store_ip_ua_visitors(struct store *st, const char *ip, const char *user_agent,
                         long long since);
/* 1 when the visitor was seen with key ("e:<email hash>", "p:<phone hash>"), 0 not, -1. */
int store_visitor_has_key(struct store *st, const char *vid, const char *key);
/* 1 when a visitor who last reported consent "denied" is linked to a conversion: one of the
 * two vids (the webhook's, the chosen touch's), or a visitor seen with the email or phone
 * hash. Empty arguments link nothing. 0 when none, -1 on error. */
int store_consent_denied(struct store *st, const char *vid1, const char *vid2,
                         const char *email_hash, const char *phone_hash);
/* One touch by id. Returns 1 found, 0 none, -1 error. */
int store_get_touch(struct store *st, long long id, struct touch_row *out);
/* The visitor's latest enrichment values (ttclid, ttp, ip, ua, url, referrer) in a touch
 * struct. Returns 1 found, 0 none, -1 error. */
int store_find_visitor(struct store *st, const char *vid, struct touch *out);
/* Matching and promotion use their own connection (the forwarder's matching thread), so
 * that they run beside sending. begin/commit group promotions into one transaction (one
 * fsync for many events); lookups made inside it see the touches it has consumed. */
int store_promote_begin(struct store *st);
int store_promote_commit(struct store *st);
/* Makes a held conversion ready with its match and built payload, consuming the touch
 * (touch_id 0 = none) atomically. Returns 0, or -1 (e.g. touch taken meanwhile). */
int store_promote(struct store *st, long long id, const char *event_name, const char *event_id,
                  const char *matched_by, long long touch_id, const char *payload,
                  const char *match_info);
/* Moves a held conversion's hold end to due_ms (a promotion that failed waits its turn
 * behind the others instead of blocking them). 0 or -1. */
int store_hold(struct store *st, long long id, long long due_ms);
/* Claims up to limit ready/retry events of pixel due at now_ms, and sending events whose
 * lease expired (an instance died mid-send: reclaimed, counted by store_reclaimed),
 * oldest first, skipping rows another instance is claiming: they become EV_SENDING with
 * this claim token until now_ms + lease_ms. A token is "<owner>.<n>": rows an earlier
 * claim of the same owner still holds are taken back at once (the owner's earlier round is
 * over: its results could not be recorded). *rows is new. Count or -1. */
int store_claim_due(struct store *st, const char *pixel, long long now_ms, int limit,
                    long long lease_ms, const char *token, struct event_row **rows);
/* Ends a claim: its rows still sending (a round cut short: the pixel paused, the instance
 * stopping) are ready again at once. Rows released or -1. */
int store_release(struct store *st, const char *token);
/* Claims taken over from an expired lease since the store was opened. */
long long store_reclaimed(struct store *st);
/* One sender per pixel across instances: 1 this instance may send for pixel, 0 another
 * holds it, -1 error. Take it before each round of sends; unlock after. */
int store_pixel_lock(struct store *st, const char *pixel);
int store_pixel_unlock(struct store *st, const char *pixel);
/* Waits up to timeout_ms for work another instance committed: 1 woken, 0 timed out (at
 * once for a backend with one instance only), -1 error. */
int store_wait(struct store *st, long long timeout_ms);
/* Every pixel with due ready/retry events, the one whose oldest due event has waited
 * longest first (no cap). *pixels is new, NULL-terminated (free each and the array). */
int store_due_pixels(struct store *st, long long now_ms, char ***pixels);
/* Receipt time of the oldest event waiting to be sent (ready or retry): 0 when none, -1 on
 * error. */
long long store_oldest_due_ms(struct store *st);
/* Results. token: the claim's token: only rows this claim still holds change, so an
 * instance whose lease expired cannot overwrite the newer owner's result; NULL changes
 * the rows whatever their state (admin paths, events never claimed). Rows changed or -1. */
int store_mark_sent(struct store *st, const long long *ids, int n, const char *token,
                    const char *request_id, long long now_ms);
int store_mark_retry(struct store *st, const long long *ids, int n, const char *token,
                     long long due_ms, const char *error);
int store_mark_dead(struct store *st, const long long *ids, int n, const char *token,
                    const char *error);
/* Recorded under tiktok.dry_run: what would have been sent, not sent. */
int store_mark_dry_run(struct store *st, const long long *ids, int n, const char *token,
                       long long now_ms);
/* Events never to be sent (not replayable), with the reason. */
int store_mark_ignored(struct store *st, const long long *ids, int n, const char *token,
                       const char *reason);
/* Copies the WAL into the database every 30 s (now_ms: monotonic), for a store whose
 * writer is idle; the writer itself restarts a growing WAL. Called by the forwarder. */
void store_checkpoint(struct store *st, long long now_ms);
/* Deletes expired touches/visitors and old sent/dead events. Returns rows removed or -1. */
long store_purge(struct store *st, long long now_s, long touch_window_s, long visitor_window_s,
                 long retention_s);

/* ---- admin side ---- */
int store_list_events(struct store *st, int state /* -1 = any */, int limit,
                      struct event_row **rows);
int store_get_event(struct store *st, long long id, struct event_row *row);
/* dead/retry -> ready now, same event_id and event_time. 0 ok, -1 error, 1 not replayable. */
int store_replay(struct store *st, long long id, long long now_ms);
/* All dead events (optionally of one pixel, received within [since_ms, until_ms]); count or -1. */
int store_replay_dead(struct store *st, const char *pixel, long long since_ms, long long until_ms,
                      long long now_ms);
/* dry_run events (optionally of one pixel, received within [since_ms, until_ms]) -> ready
 * now, same event_id and event_time; count or -1. */
int store_replay_dry_run(struct store *st, const char *pixel, long long since_ms,
                         long long until_ms, long long now_ms);
/* Count of events per state, plus the oldest queued (ready/retry/held) receive time. */
int store_counts(struct store *st, long long counts[EV_STATE_COUNT], long long *oldest_queued_ms);
/* Rows of conversions received since since_ms, for the report (data/payload filled). */
int store_report_rows(struct store *st, long long since_ms, struct event_row **rows);
/* Latest touches of a visitor, newest first. *rows is new (free()). Count or -1. */
int store_list_touches(struct store *st, const char *vid, int limit, struct touch_row **rows);
/* Touch count (for metrics/status). */
long long store_touch_count(struct store *st);

/* 0 when the last group commit or the last state change of events failed (disk full, I/O
 * error, database unreachable) or the store cannot write: not ready. */
int store_writable(struct store *st);
/* 0 when the database or its WAL file has been deleted (or replaced) while open: what is
 * committed then would be lost at the next start, so the writer refuses to commit. */
int store_files_present(struct store *st);
/* The due time of the oldest held conversion. Returns 1 (found), 0 (none) or -1. */
int store_oldest_held_due(struct store *st, long long *due_ms);

/* Per-commit group sizes seen by the writer (for metrics): count and sum. */
void store_commit_stats(struct store *st, unsigned long long *commits, unsigned long long *rows);

/* ---- dashboard views (lib/store_views.c): the admin dashboard's queries and the attempt
 * log. Reads use the admin connection; attempts are written by the forwarder. ---- */
struct store_filter {
    int state;          /* -1 = any */
    const char *source; /* NULL or "" = any, likewise pixel and kind */
    const char *pixel;
    const char *kind;
    const char *q; /* an order id, reference, sender delivery id, event_id or row id */
    long long since_ms, until_ms; /* received_ms in [since_ms, until_ms) */
    int include_test;
};
/* Ids of the events matching f, newest first, from offset, up to limit (*ids is new);
 * *total is the count of all that match. Returns the number of ids, or -1. */
int store_view_find(struct store *st, const struct store_filter *f, int offset, int limit,
                    long long **ids, long long *total);
/* Dead events matching f, and how many of them were received before oldest_ms (past
 * TikTok's age limit). 0 or -1. */
int store_view_dead_count(struct store *st, const struct store_filter *f, long long event_time_min,
                          long long *dead, long long *too_old);
struct store_latest {
    char name[64];
    long long ms;
};
/* The latest conversion received per source (by="source") or sent per pixel
 * (by="pixel"). *out is new. Count or -1. */
int store_view_latest(struct store *st, const char *by, struct store_latest **out);

struct store_attempt {
    long long at_ms;
    long http_status; /* 0: no answer */
    long code;        /* TikTok's code, -1 when none */
    char message[256];
    char request_id[80];
    long latency_ms;
    char outcome[16]; /* sent, retry, rejected, split, paused */
    int batch;        /* events in the request */
};
/* Records one request's answer for each of ids (forwarder). 0 or -1. */
int store_attempt_record(struct store *st, const long long *ids, int n,
                         const struct store_attempt *a);
/* The attempts of one event, oldest first (*out is new). Count or -1. */
int store_view_attempts(struct store *st, long long id, struct store_attempt **out);
/* ---- end of dashboard views ---- */

/* ---- the cluster: pauses and instances, rows shared by every instance on the store ---- */
struct store_pause {
    char pixel[64];
    char kind[16]; /* "operator" (ttrelayctl pause; until resumed) or "auth" (TikTok refused
                    * the token or a permission; until resumed or a reload) */
    char reason[320];
    long long since_ms;
    char by[96]; /* the instance that paused it */
};
/* Pauses p->pixel for every instance. An "auth" pause does not replace an operator's.
 * 0 or -1. */
int store_pause_set(struct store *st, const struct store_pause *p);
/* Ends the pause of pixel (NULL: every pixel) of kind (NULL: any kind). Pauses ended, or -1. */
int store_pause_clear(struct store *st, const char *pixel, const char *kind);
/* Every pause (*out is new). Count or -1. */
int store_pauses(struct store *st, struct store_pause **out);

struct store_instance {
    char id[96]; /* host:pid:random */
    char host[64];
    long pid;
    char version[32];
    long long started_ms;
    long long seen_ms;    /* its last heartbeat */
    long long stopped_ms; /* 0 while running; set by a clean stop */
    int public_port, admin_port;
};
/* Records in's heartbeat (the row is created at the first), and forgets instances not seen
 * for a day. 0 or -1. */
int store_instance_beat(struct store *st, const struct store_instance *in);
/* A clean stop of instance id at now_ms. 0 or -1. */
int store_instance_stopped(struct store *st, const char *id, long long now_ms);
/* Instances seen since since_ms, newest start first (*out is new). Count or -1. */
int store_instances(struct store *st, long long since_ms, struct store_instance **out);

#endif
