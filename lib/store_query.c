/* The forwarder's and the admin API's side of the SQLite store: matching lookups,
 * state changes of events, listings, replay and purge. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

#define DELIVERY_KEEP_S (7 * 86400)
#define DELIVERY_KEEP_ROWS 100000

/* When the conversion began: the matched touch's capture (the pixel event TikTok merges
 * with, within about 5 minutes) or the webhook's receipt, whichever came first. A purged
 * touch leaves the receipt. */
#define ORIGIN_COL                                                                                 \
    "MIN(received_ms, COALESCE((SELECT t.ts*1000 FROM touches t WHERE t.id=conversions.touch_id),"  \
    " received_ms))"

#define EVENT_COLS                                                                                 \
    "id,source,kind,object_id,pixel,state,test,received_ms,due_ms,sent_ms,event_time,attempts,"    \
    "event_name,event_id,matched_by,touch_id,last_error,request_id,data,payload,match_info,"   \
    ORIGIN_COL

/* The same columns without the stored conversion, for sending (the payload is enough). */
#define EVENT_COLS_NO_DATA                                                                         \
    "id,source,kind,object_id,pixel,state,test,received_ms,due_ms,sent_ms,event_time,attempts,"    \
    "event_name,event_id,matched_by,touch_id,last_error,request_id,NULL,payload,NULL," ORIGIN_COL

#define TOUCH_COLS                                                                                 \
    "id,vid,event,event_id,order_id,ttclid,ttp,ip,user_agent,url,referrer,email_hash,phone_hash,"  \
    "value,currency,ts,consumed_by"

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static void read_event(sqlite3_stmt *s, struct event_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    STR_SET(r->source, col_text(s, 1));
    STR_SET(r->kind, col_text(s, 2));
    STR_SET(r->object_id, col_text(s, 3));
    STR_SET(r->pixel, col_text(s, 4));
    r->state = (enum event_state)sqlite3_column_int(s, 5);
    r->test = sqlite3_column_int(s, 6);
    r->received_ms = sqlite3_column_int64(s, 7);
    r->due_ms = sqlite3_column_int64(s, 8);
    r->sent_ms = sqlite3_column_int64(s, 9);
    r->event_time = sqlite3_column_int64(s, 10);
    r->attempts = sqlite3_column_int(s, 11);
    STR_SET(r->event_name, col_text(s, 12));
    STR_SET(r->event_id, col_text(s, 13));
    STR_SET(r->matched_by, col_text(s, 14));
    r->touch_id = sqlite3_column_int64(s, 15);
    STR_SET(r->last_error, col_text(s, 16));
    STR_SET(r->request_id, col_text(s, 17));
    r->data = col_dup(s, 18);
    r->payload = col_dup(s, 19);
    r->match_info = col_dup(s, 20);
    r->origin_ms = sqlite3_column_int64(s, 21);
}

static void read_touch(sqlite3_stmt *s, struct touch_row *r)
{
    struct touch *t = &r->t;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    STR_SET(t->vid, col_text(s, 1));
    STR_SET(t->event, col_text(s, 2));
    STR_SET(t->event_id, col_text(s, 3));
    STR_SET(t->order_id, col_text(s, 4));
    STR_SET(t->ttclid, col_text(s, 5));
    STR_SET(t->ttp, col_text(s, 6));
    STR_SET(t->ip, col_text(s, 7));
    STR_SET(t->user_agent, col_text(s, 8));
    STR_SET(t->url, col_text(s, 9));
    STR_SET(t->referrer, col_text(s, 10));
    STR_SET(t->email_hash, col_text(s, 11));
    STR_SET(t->phone_hash, col_text(s, 12));
    STR_SET(t->value, col_text(s, 13));
    STR_SET(t->currency, col_text(s, 14));
    t->ts = sqlite3_column_int64(s, 15);
    r->consumed_by = sqlite3_column_int64(s, 16);
}

/* Runs a prepared statement that yields event rows into a new array. Count or -1. */
static int collect_events(sqlite3_stmt *s, int limit, struct event_row **rows)
{
    int n = 0, cap = limit > 0 && limit < 64 ? limit : 64, rc;
    struct event_row *out = malloc((size_t)cap * sizeof *out);

    *rows = NULL;
    if (!out)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            struct event_row *bigger = realloc(out, (size_t)cap * 2 * sizeof *out);
            if (!bigger)
                break;
            out = bigger;
            cap *= 2;
        }
        read_event(s, &out[n++]);
    }
    if (rc != SQLITE_DONE) {
        store_row_free(out, n);
        return -1;
    }
    *rows = out;
    return n;
}

/* Prepares sql and binds values by fmt ('i' long long, 's' text). NULL on error. */
static sqlite3_stmt *prepare_bound(sqlite3 *db, const char *sql, const char *fmt, va_list ap)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(db));
        return NULL;
    }
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 'i')
            sqlite3_bind_int64(s, i + 1, va_arg(ap, long long));
        else
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    return s;
}

static int run_events(sqlite3 *db, const char *sql, int limit, struct event_row **rows,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = prepare_bound(db, sql, fmt, ap);
    va_end(ap);
    *rows = NULL;
    if (!s)
        return -1;
    int n = collect_events(s, limit, rows);
    sqlite3_finalize(s);
    return n;
}

/* Executes a statement with bound values ('i' long long, 's' text); changes or -1. */
static int run_exec(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = prepare_bound(db, sql, fmt, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return sqlite3_changes(db);
}

int sqlite_held_due(struct store_be *st, long long now, int limit, struct event_row **rows)
{
    pthread_mutex_lock(&st->match_lock);
    int n = run_events(st->match,
                       "SELECT " EVENT_COLS " FROM conversions WHERE state=0 AND due_ms<=?1 "
                       "ORDER BY due_ms LIMIT ?2",
                       limit, rows, "ii", now, (long long)limit);
    pthread_mutex_unlock(&st->match_lock);
    return n;
}

static const char *find_sql[] = {
    [MKEY_EVENT_ID] = "event_id=?1 AND event_id<>''",
    [MKEY_ORDER_REF] = "order_id=?1 AND order_id<>''",
    [MKEY_VID] = "vid=?1",
    [MKEY_EMAIL] = "vid IN (SELECT vid FROM visitor_keys WHERE key='e:'||?1)",
    [MKEY_PHONE] = "vid IN (SELECT vid FROM visitor_keys WHERE key='p:'||?1)",
    [MKEY_IP_UA] = "ip=?1 AND user_agent=?2",
};

static sqlite3_stmt *find_stmt(struct store_be *st, enum match_key key)
{
    char sql[768];
    if (st->find_touch[key])
        return st->find_touch[key];
    /* Consumed touches come back too (with consumed_by), so that the matching engine can
     * say why they were not taken. */
    snprintf(sql, sizeof sql,
             "SELECT " TOUCH_COLS " FROM touches WHERE %s AND ts>=?3 "
             "AND event IN (?4,?5,?6,?7,?8,?9,?10,?11) ORDER BY ts DESC, id DESC LIMIT ?12",
             find_sql[key]);
    if (sqlite3_prepare_v3(st->match, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->find_touch[key],
                           NULL) != SQLITE_OK) {
        log_error("store prepare failed", "error=\"%s\"", sqlite3_errmsg(st->match));
        return NULL;
    }
    return st->find_touch[key];
}

int sqlite_find_touches(struct store_be *st, enum match_key key, const char *k1, const char *k2,
                       const char *const *names, int nnames, long long since,
                       struct touch_row *out, int max)
{
    int n = -1, rc;
    pthread_mutex_lock(&st->match_lock);
    sqlite3_stmt *s = find_stmt(st, key);
    if (!s)
        goto out;
    sqlite3_bind_text(s, 1, k1 ? k1 : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, k2 ? k2 : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, since);
    for (int i = 0; i < NAMES_MAX; i++) {
        if (i < nnames)
            sqlite3_bind_text(s, 4 + i, names[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 4 + i);
    }
    sqlite3_bind_int(s, 12, max);
    n = 0;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_touch(s, &out[n++]);
    if (n < max && rc != SQLITE_DONE)
        n = -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
out:
    pthread_mutex_unlock(&st->match_lock);
    return n;
}

/* Runs a one-row, one-integer query on the match connection; the value or -1. */
static long long match_scalar(struct store_be *st, sqlite3_stmt **s, const char *sql, const char *a,
                              const char *b, long long num)
{
    long long v = -1;
    pthread_mutex_lock(&st->match_lock);
    if (!*s && sqlite3_prepare_v3(st->match, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) !=
                   SQLITE_OK) {
        log_error("store prepare failed", "error=\"%s\"", sqlite3_errmsg(st->match));
        goto out;
    }
    sqlite3_bind_text(*s, 1, a ? a : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(*s, 2, b ? b : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(*s, 3, num);
    if (sqlite3_step(*s) == SQLITE_ROW)
        v = sqlite3_column_int64(*s, 0);
    sqlite3_reset(*s);
    sqlite3_clear_bindings(*s);
out:
    pthread_mutex_unlock(&st->match_lock);
    return v;
}

int sqlite_ip_ua_visitors(struct store_be *st, const char *ip, const char *user_agent,
                         long long since)
{
    /* Two are enough to know the pair is shared. */
    long long n = match_scalar(st, &st->count_ip_ua,
                               "SELECT count(*) FROM (SELECT DISTINCT vid FROM touches "
                               "WHERE ip=?1 AND user_agent=?2 AND ts>=?3 LIMIT 2)",
                               ip, user_agent, since);
    return n < 0 ? -1 : (int)n;
}

int sqlite_visitor_has_key(struct store_be *st, const char *vid, const char *key)
{
    long long n = match_scalar(st, &st->has_key,
                               "SELECT count(*) FROM visitor_keys WHERE key=?2 AND vid=?1", vid,
                               key, 0);
    return n < 0 ? -1 : n > 0;
}

int sqlite_consent_denied(struct store_be *st, const char *vid1, const char *vid2,
                         const char *email_hash, const char *phone_hash)
{
    const char *v[4] = {vid1, vid2, email_hash, phone_hash};
    sqlite3_stmt *s;
    int found = -1, rc;

    pthread_mutex_lock(&st->match_lock);
    if (!st->consent_q &&
        sqlite3_prepare_v3(st->match,
                           "SELECT count(*) FROM visitors WHERE consent<0 AND (vid IN (?1,?2) OR "
                           "vid IN (SELECT vid FROM visitor_keys WHERE key IN ('e:'||?3,'p:'||?4)))",
                           -1, SQLITE_PREPARE_PERSISTENT, &st->consent_q, NULL) != SQLITE_OK) {
        log_error("store prepare failed", "error=\"%s\"", sqlite3_errmsg(st->match));
        goto out;
    }
    s = st->consent_q;
    /* An empty value names no visitor: '' is no vid, and 'e:' alone is no key. */
    for (int i = 0; i < 4; i++)
        sqlite3_bind_text(s, i + 1, v[i] && v[i][0] ? v[i] : "\x01", -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        found = sqlite3_column_int64(s, 0) > 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
out:
    pthread_mutex_unlock(&st->match_lock);
    return found;
}

int sqlite_get_touch(struct store_be *st, long long id, struct touch_row *out)
{
    int found = -1, rc;
    pthread_mutex_lock(&st->match_lock);
    if (!st->get_touch &&
        sqlite3_prepare_v3(st->match, "SELECT " TOUCH_COLS " FROM touches WHERE id=?", -1,
                           SQLITE_PREPARE_PERSISTENT, &st->get_touch, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st->get_touch, 1, id);
    rc = sqlite3_step(st->get_touch);
    if (rc == SQLITE_ROW) {
        read_touch(st->get_touch, out);
        found = 1;
    } else if (rc == SQLITE_DONE) {
        found = 0;
    }
    sqlite3_reset(st->get_touch);
out:
    pthread_mutex_unlock(&st->match_lock);
    return found;
}

int sqlite_find_visitor(struct store_be *st, const char *vid, struct touch *out)
{
    sqlite3_stmt *s = NULL;
    int found = -1;

    pthread_mutex_lock(&st->match_lock);
    if (!st->find_visitor &&
        sqlite3_prepare_v3(
            st->match,
            "SELECT ttclid,ttp,ip,user_agent,url,referrer,last_seen FROM visitors WHERE vid=?", -1,
            SQLITE_PREPARE_PERSISTENT, &st->find_visitor, NULL) != SQLITE_OK)
        goto out;
    s = st->find_visitor;
    sqlite3_bind_text(s, 1, vid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        STR_SET(out->vid, vid);
        STR_SET(out->ttclid, col_text(s, 0));
        STR_SET(out->ttp, col_text(s, 1));
        STR_SET(out->ip, col_text(s, 2));
        STR_SET(out->user_agent, col_text(s, 3));
        STR_SET(out->url, col_text(s, 4));
        STR_SET(out->referrer, col_text(s, 5));
        out->ts = sqlite3_column_int64(s, 6);
        found = 1;
    } else if (rc == SQLITE_DONE) {
        found = 0;
    }
    sqlite3_reset(s);
out:
    pthread_mutex_unlock(&st->match_lock);
    return found;
}

int sqlite_promote_begin(struct store_be *st)
{
    pthread_mutex_lock(&st->match_lock);
    int rc = run_exec(st->match, "BEGIN IMMEDIATE", "");
    st->in_match_tx = rc >= 0;
    pthread_mutex_unlock(&st->match_lock);
    return rc < 0 ? -1 : 0;
}

int sqlite_promote_commit(struct store_be *st)
{
    pthread_mutex_lock(&st->match_lock);
    int rc = run_exec(st->match, "COMMIT", "");
    if (rc < 0)
        run_exec(st->match, "ROLLBACK", "");
    st->in_match_tx = 0;
    pthread_mutex_unlock(&st->match_lock);
    return rc < 0 ? -1 : 0;
}

static int step_prepared(sqlite3 *db, sqlite3_stmt **s, const char *sql)
{
    return (*s || sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) == SQLITE_OK)
               ? 0
               : -1;
}

int sqlite_promote(struct store_be *st, long long id, const char *event_name, const char *event_id,
                  const char *matched_by, long long touch_id, const char *payload,
                  const char *match_info)
{
    int rc = -1, own_tx;
    pthread_mutex_lock(&st->match_lock);
    own_tx = !st->in_match_tx;
    if (run_exec(st->match, own_tx ? "BEGIN IMMEDIATE" : "SAVEPOINT promote", "") < 0)
        goto out;
    if (step_prepared(st->match, &st->consume,
                      "UPDATE touches SET consumed_by=?1 WHERE id=?2 AND consumed_by IS NULL") <
            0 ||
        step_prepared(st->match, &st->promote,
                      "UPDATE conversions SET state=1, event_name=?2, event_id=?3, matched_by=?4, "
                      "touch_id=?5, payload=?6, match_info=?7 WHERE id=?1 AND state=0") < 0)
        goto rollback;
    if (touch_id > 0) {
        sqlite3_bind_int64(st->consume, 1, id);
        sqlite3_bind_int64(st->consume, 2, touch_id);
        int step = sqlite3_step(st->consume);
        sqlite3_reset(st->consume);
        if (step != SQLITE_DONE || sqlite3_changes(st->match) != 1)
            goto rollback;
    }
    sqlite3_bind_int64(st->promote, 1, id);
    sqlite3_bind_text(st->promote, 2, event_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->promote, 3, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->promote, 4, matched_by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->promote, 5, touch_id);
    sqlite3_bind_text(st->promote, 6, payload, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->promote, 7, match_info, -1, SQLITE_STATIC);
    int step = sqlite3_step(st->promote);
    sqlite3_reset(st->promote);
    sqlite3_clear_bindings(st->promote);
    if (step != SQLITE_DONE || sqlite3_changes(st->match) != 1)
        goto rollback;
    if (run_exec(st->match, own_tx ? "COMMIT" : "RELEASE promote", "") < 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    run_exec(st->match, own_tx ? "ROLLBACK" : "ROLLBACK TO promote", "");
    if (!own_tx)
        run_exec(st->match, "RELEASE promote", "");
out:
    pthread_mutex_unlock(&st->match_lock);
    return rc;
}

int sqlite_hold(struct store_be *st, long long id, long long due_ms)
{
    pthread_mutex_lock(&st->match_lock);
    int rc = step_prepared(st->match, &st->hold,
                           "UPDATE conversions SET due_ms=?2 WHERE id=?1 AND state=0");
    if (rc == 0) {
        sqlite3_bind_int64(st->hold, 1, id);
        sqlite3_bind_int64(st->hold, 2, due_ms);
        rc = sqlite3_step(st->hold) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(st->hold);
    }
    pthread_mutex_unlock(&st->match_lock);
    return rc;
}

void sqlite_checkpoint(struct store_be *st, long long now_ms)
{
    int wal_pages = 0, done = 0;
    /* Every 30 s for a quiet store; the writer bounds a growing WAL itself. */
    if (now_ms - st->checkpoint_ms < 30000)
        return;
    st->checkpoint_ms = now_ms;
    pthread_mutex_lock(&st->work_lock);
    /* PASSIVE never blocks the writer; a WAL the writer keeps growing is copied in steps. */
    if (sqlite3_wal_checkpoint_v2(st->work, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &done) !=
        SQLITE_OK)
        log_warn("store checkpoint failed", "error=\"%s\"", sqlite3_errmsg(st->work));
    pthread_mutex_unlock(&st->work_lock);
}

/* One instance owns the file: the claim only guards against a crash in mid-send (its
 * rows stay "sending" until their lease ends, then the next claim takes them back). */
int sqlite_claim_due(struct store_be *st, const char *pixel, long long now, int limit,
                     long long lease_ms, const char *token, struct event_row **rows)
{
    int n = -1, reclaimed;
    char owner[128];
    const char *dot = strrchr(token, '.');
    /* "<owner>." : the prefix of every token of this owner. */
    snprintf(owner, sizeof owner, "%.*s", dot ? (int)(dot - token + 1) : 0, token);
    *rows = NULL;
    pthread_mutex_lock(&st->work_lock);
    if (run_exec(st->work, "BEGIN IMMEDIATE", "") < 0)
        goto out;
    reclaimed = run_exec(st->work,
                         "UPDATE conversions SET reclaims=reclaims+1 WHERE id IN (SELECT id FROM "
                         "conversions WHERE state=7 AND pixel=?1 AND lease_until<=?2 "
                         "ORDER BY id LIMIT ?3)",
                         "sii", pixel, now, (long long)limit);
    if (reclaimed < 0 ||
        run_exec(st->work,
                 "UPDATE conversions SET state=7, claim_token=?1, lease_until=?2 WHERE id IN "
                 "(SELECT id FROM conversions WHERE pixel=?3 AND ((state IN (1,3) AND due_ms<=?4) "
                 "OR (state=7 AND (lease_until<=?4 OR (?6<>'' AND "
                 "substr(claim_token,1,length(?6))=?6)))) ORDER BY id LIMIT ?5)",
                 "sisiis", token, now + lease_ms, pixel, now, (long long)limit, owner) < 0 ||
        (n = run_events(st->work,
                        "SELECT " EVENT_COLS_NO_DATA " FROM conversions WHERE state=7 AND "
                        "claim_token=?1 AND pixel=?2 ORDER BY id LIMIT ?3",
                        limit, rows, "ssi", token, pixel, (long long)limit)) < 0 ||
        run_exec(st->work, "COMMIT", "") < 0) {
        run_exec(st->work, "ROLLBACK", "");
        store_row_free(*rows, n > 0 ? n : 0);
        *rows = NULL;
        n = -1;
        goto out;
    }
    st->reclaimed += reclaimed;
out:
    pthread_mutex_unlock(&st->work_lock);
    return n;
}

int sqlite_release(struct store_be *st, const char *token)
{
    pthread_mutex_lock(&st->work_lock);
    int n = run_exec(st->work,
                     "UPDATE conversions SET state=1, claim_token=NULL, lease_until=NULL "
                     "WHERE state=7 AND claim_token=?1",
                     "s", token);
    pthread_mutex_unlock(&st->work_lock);
    return n;
}

long long sqlite_reclaimed(struct store_be *st)
{
    pthread_mutex_lock(&st->work_lock);
    long long n = st->reclaimed;
    pthread_mutex_unlock(&st->work_lock);
    return n;
}

/* Every pixel with due events, the one waiting longest first: no pixel is left out however
 * many there are, and none is always served last. */
int sqlite_due_pixels(struct store_be *st, long long now, char ***pixels)
{
    sqlite3_stmt *s = NULL;
    int n = 0, cap = 16;
    char **out = calloc((size_t)cap + 1, sizeof *out);

    *pixels = NULL;
    if (!out)
        return -1;
    pthread_mutex_lock(&st->work_lock);
    if (sqlite3_prepare_v2(st->work,
                           "SELECT pixel FROM conversions WHERE (state IN (1,3) AND due_ms<=?1) "
                           "OR (state=7 AND lease_until<=?1) "
                           "GROUP BY pixel ORDER BY MIN(due_ms), pixel",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, now);
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (n == cap) {
                char **bigger = realloc(out, ((size_t)cap * 2 + 1) * sizeof *out);
                if (!bigger)
                    break;
                out = bigger;
                cap *= 2;
            }
            if ((out[n] = strdup(col_text(s, 0))) != NULL)
                out[++n] = NULL;
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->work_lock);
    *pixels = out;
    return n;
}

long long sqlite_oldest_due_ms(struct store_be *st)
{
    sqlite3_stmt *s = NULL;
    long long oldest = 0;

    pthread_mutex_lock(&st->work_lock);
    if (sqlite3_prepare_v2(st->work, "SELECT MIN(received_ms) FROM conversions WHERE state IN (1,3,7)",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        oldest = sqlite3_column_int64(s, 0);
    else
        oldest = -1;
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->work_lock);
    return oldest;
}

/* Applies one UPDATE to each id in a transaction: ?1 the id, ?2 text, ?3 num, ?4 the
 * claim token (NULL: any row). Rows changed, or -1. */
static int update_ids(struct store_be *st, const char *sql, const long long *ids, int n,
                      const char *token, const char *text, long long num)
{
    sqlite3_stmt *s = NULL;
    int rc = -1, changed = 0;

    pthread_mutex_lock(&st->work_lock);
    if (run_exec(st->work, "BEGIN IMMEDIATE", "") < 0)
        goto out;
    if (sqlite3_prepare_v2(st->work, sql, -1, &s, NULL) != SQLITE_OK)
        goto rollback;
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_text(s, 2, text ? text : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, num);
        if (token)
            sqlite3_bind_text(s, 4, token, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 4);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto rollback;
        changed += sqlite3_changes(st->work);
        sqlite3_reset(s);
    }
    if (run_exec(st->work, "COMMIT", "") < 0)
        goto rollback;
    rc = changed;
    goto out;
rollback:
    run_exec(st->work, "ROLLBACK", "");
out:
    sqlite3_finalize(s);
    /* Readiness reports a store that cannot record what was sent (disk full). */
    __atomic_store_n(&st->last_update_failed, rc < 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->work_lock);
    return rc;
}

/* A result applies to a row that token's claim still holds (or to any row: NULL). The claim
 * ends with it. */
#define FENCE " AND (?4 IS NULL OR (state=7 AND claim_token=?4))"
#define UNCLAIM "claim_token=NULL, lease_until=NULL, "

int sqlite_mark_sent(struct store_be *st, const long long *ids, int n, const char *token,
                     const char *request_id, long long now)
{
    return update_ids(st,
                      "UPDATE conversions SET state=2, " UNCLAIM "request_id=?2, sent_ms=?3, "
                      "attempts=attempts+1, last_error='' WHERE id=?1" FENCE,
                      ids, n, token, request_id, now);
}

int sqlite_mark_dry_run(struct store_be *st, const long long *ids, int n, const char *token,
                        long long now)
{
    return update_ids(st,
                      "UPDATE conversions SET state=6, " UNCLAIM "due_ms=?3, last_error='', "
                      "request_id=NULLIF(?2, '') WHERE id=?1" FENCE,
                      ids, n, token, "", now);
}

int sqlite_mark_retry(struct store_be *st, const long long *ids, int n, const char *token,
                      long long due_ms, const char *error)
{
    return update_ids(st,
                      "UPDATE conversions SET state=3, " UNCLAIM "last_error=?2, due_ms=?3, "
                      "attempts=attempts+1 WHERE id=?1" FENCE,
                      ids, n, token, error, due_ms);
}

int sqlite_mark_ignored(struct store_be *st, const long long *ids, int n, const char *token,
                        const char *reason)
{
    return update_ids(st,
                      "UPDATE conversions SET state=5, " UNCLAIM "last_error=?2, "
                      "attempts=attempts+?3 WHERE id=?1" FENCE,
                      ids, n, token, reason, 0);
}

int sqlite_mark_dead(struct store_be *st, const long long *ids, int n, const char *token,
                     const char *error)
{
    return update_ids(st,
                      "UPDATE conversions SET state=4, " UNCLAIM "last_error=?2, "
                      "attempts=attempts+?3 WHERE id=?1" FENCE,
                      ids, n, token, error, 0);
}

/* One instance per file: every pixel is this instance's. */
int sqlite_pixel_lock(struct store_be *st, const char *pixel)
{
    (void)st;
    (void)pixel;
    return 1;
}

int sqlite_pixel_unlock(struct store_be *st, const char *pixel)
{
    (void)st;
    (void)pixel;
    return 0;
}

long sqlite_purge(struct store_be *st, long long now_s, long touch_window_s, long visitor_window_s,
                 long retention_s)
{
    long total = 0;
    int rc;
    pthread_mutex_lock(&st->work_lock);
    if ((rc = run_exec(st->work, "DELETE FROM touches WHERE ts<?", "i", now_s - touch_window_s)) >
        0)
        total += rc;
    if ((rc = run_exec(st->work, "DELETE FROM visitors WHERE last_seen<?", "i",
                       now_s - visitor_window_s)) > 0)
        total += rc;
    if ((rc = run_exec(st->work, "DELETE FROM visitor_keys WHERE seen<?", "i",
                       now_s - visitor_window_s)) > 0)
        total += rc;
    /* Business keys outlive every sender's retries (Stripe: 3 days): retention is >= 1 h
     * and defaults to 30 days; only finished events go. */
    if ((rc = run_exec(st->work,
                       "DELETE FROM conv_refs WHERE conv_id IN (SELECT id FROM conversions "
                       "WHERE state IN (2,4,5) AND received_ms<?)",
                       "i", (now_s - retention_s) * 1000)) > 0)
        total += rc;
    if ((rc = run_exec(st->work, "DELETE FROM conversions WHERE state IN (2,4,5) AND received_ms<?",
                       "i", (now_s - retention_s) * 1000)) > 0)
        total += rc;
    /* The delivery log is for debugging a source: a week, and a bounded number of rows
     * whatever a flood of refused requests does. */
    if ((rc = run_exec(st->work, "DELETE FROM deliveries WHERE ts_ms<?", "i",
                       (now_s - DELIVERY_KEEP_S) * 1000)) > 0)
        total += rc;
    if ((rc = run_exec(st->work,
                       "DELETE FROM deliveries WHERE id<=(SELECT MAX(id) FROM deliveries)-?", "i",
                       (long long)DELIVERY_KEEP_ROWS)) > 0)
        total += rc;
    pthread_mutex_unlock(&st->work_lock);
    return total;
}

int sqlite_list_deliveries(struct store_be *st, const char *source, int status, int limit,
                          struct delivery **rows)
{
    sqlite3_stmt *s = NULL;
    int n = 0;

    *rows = calloc((size_t)limit + 1, sizeof **rows);
    if (!*rows)
        return -1;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(st->admin,
                           "SELECT ts_ms, source, status, result, reason, delivery_id, "
                           "IFNULL(conversion_id, 0) FROM deliveries WHERE (?1='' OR source=?1) "
                           "AND (?2=0 OR status=?2) ORDER BY id DESC LIMIT ?3",
                           -1, &s, NULL) != SQLITE_OK) {
        n = -1;
        goto out;
    }
    sqlite3_bind_text(s, 1, source ? source : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, status);
    sqlite3_bind_int(s, 3, limit);
    while (n < limit && sqlite3_step(s) == SQLITE_ROW) {
        struct delivery *d = &(*rows)[n++];
        d->ts_ms = sqlite3_column_int64(s, 0);
        STR_SET(d->source, (const char *)sqlite3_column_text(s, 1));
        d->status = sqlite3_column_int(s, 2);
        STR_SET(d->result, (const char *)sqlite3_column_text(s, 3));
        STR_SET(d->reason, (const char *)sqlite3_column_text(s, 4));
        STR_SET(d->delivery_id, (const char *)sqlite3_column_text(s, 5));
        d->conversion_id = sqlite3_column_int64(s, 6);
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    if (n < 0) {
        free(*rows);
        *rows = NULL;
    }
    return n;
}

int sqlite_list_events(struct store_be *st, int state, int limit, struct event_row **rows)
{
    pthread_mutex_lock(&st->admin_lock);
    int n = run_events(st->admin,
                       "SELECT " EVENT_COLS " FROM conversions WHERE (?1<0 OR state=?1) "
                       "ORDER BY id DESC LIMIT ?2",
                       limit, rows, "ii", (long long)state, (long long)limit);
    pthread_mutex_unlock(&st->admin_lock);
    return n;
}

int sqlite_get_event(struct store_be *st, long long id, struct event_row *row)
{
    struct event_row *rows = NULL;
    pthread_mutex_lock(&st->admin_lock);
    int n = run_events(st->admin, "SELECT " EVENT_COLS " FROM conversions WHERE id=?1", 1, &rows,
                       "i", id);
    pthread_mutex_unlock(&st->admin_lock);
    if (n == 1) {
        *row = rows[0];
        free(rows);
        return 1;
    }
    store_row_free(rows, n);
    return n < 0 ? -1 : 0;
}

int sqlite_replay(struct store_be *st, long long id, long long now)
{
    pthread_mutex_lock(&st->admin_lock);
    int rc = run_exec(st->admin,
                      "UPDATE conversions SET state=1, due_ms=?2, last_error='' "
                      "WHERE id=?1 AND state IN (3,4) AND payload IS NOT NULL",
                      "ii", id, now);
    pthread_mutex_unlock(&st->admin_lock);
    return rc < 0 ? -1 : rc == 1 ? 0 : 1;
}

int sqlite_replay_dead(struct store_be *st, const char *pixel, long long since_ms, long long until_ms,
                      long long now)
{
    pthread_mutex_lock(&st->admin_lock);
    int rc = run_exec(
        st->admin,
        "UPDATE conversions SET state=1, due_ms=?1, last_error='' WHERE state=4 "
        "AND payload IS NOT NULL AND (?2='' OR pixel=?2) AND received_ms>=?3 AND received_ms<=?4",
        "isii", now, pixel ? pixel : "", since_ms, until_ms);
    pthread_mutex_unlock(&st->admin_lock);
    return rc;
}

int sqlite_replay_dry_run(struct store_be *st, const char *pixel, long long since_ms,
                         long long until_ms, long long now)
{
    pthread_mutex_lock(&st->admin_lock);
    int rc = run_exec(
        st->admin,
        "UPDATE conversions SET state=1, due_ms=?1, last_error='' WHERE state=6 "
        "AND payload IS NOT NULL AND (?2='' OR pixel=?2) AND received_ms>=?3 AND received_ms<=?4",
        "isii", now, pixel ? pixel : "", since_ms, until_ms);
    pthread_mutex_unlock(&st->admin_lock);
    return rc;
}

int sqlite_counts(struct store_be *st, long long counts[EV_STATE_COUNT], long long *oldest)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;

    memset(counts, 0, sizeof(long long) * EV_STATE_COUNT);
    *oldest = 0;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(
            st->admin, "SELECT state, COUNT(*), MIN(received_ms) FROM conversions GROUP BY state",
            -1, &s, NULL) != SQLITE_OK)
        goto out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int state = sqlite3_column_int(s, 0);
        if (state < 0 || state >= EV_STATE_COUNT)
            continue;
        counts[state] = sqlite3_column_int64(s, 1);
        long long min = sqlite3_column_int64(s, 2);
        if ((state == EV_HELD || state == EV_READY || state == EV_RETRY) &&
            (!*oldest || min < *oldest))
            *oldest = min;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    return rc;
}

int sqlite_oldest_held_due(struct store_be *st, long long *due_ms)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;

    *due_ms = 0;
    pthread_mutex_lock(&st->admin_lock);
    /* One step down the (state, due_ms) index: cheap enough for every readiness probe. */
    if (sqlite3_prepare_v2(st->admin, "SELECT MIN(due_ms) FROM conversions WHERE state=0", -1, &s,
                           NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        rc = sqlite3_column_type(s, 0) != SQLITE_NULL;
        *due_ms = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    return rc;
}

int sqlite_report_rows(struct store_be *st, long long since_ms, struct event_row **rows)
{
    pthread_mutex_lock(&st->admin_lock);
    int n = run_events(st->admin,
                       "SELECT " EVENT_COLS " FROM conversions WHERE received_ms>=?1 ORDER BY id",
                       0, rows, "i", since_ms);
    pthread_mutex_unlock(&st->admin_lock);
    return n;
}

int sqlite_list_touches(struct store_be *st, const char *vid, int limit, struct touch_row **rows)
{
    sqlite3_stmt *s = NULL;
    int n = 0;
    struct touch_row *out = calloc((size_t)limit + 1, sizeof *out);

    *rows = NULL;
    if (!out)
        return -1;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(
            st->admin, "SELECT " TOUCH_COLS " FROM touches WHERE vid=? ORDER BY id DESC LIMIT ?",
            -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, vid, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, limit);
        while (n < limit && sqlite3_step(s) == SQLITE_ROW)
            read_touch(s, &out[n++]);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    *rows = out;
    return n;
}

long long sqlite_touch_count(struct store_be *st)
{
    sqlite3_stmt *s = NULL;
    long long n = -1;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(st->admin, "SELECT COUNT(*) FROM touches", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    return n;
}

void sqlite_work_finalize(struct store_be *st)
{
    for (int i = 0; i < 6; i++) {
        sqlite3_finalize(st->find_touch[i]);
        st->find_touch[i] = NULL;
    }
    sqlite3_finalize(st->find_visitor);
    sqlite3_finalize(st->consent_q);
    sqlite3_finalize(st->consume);
    sqlite3_finalize(st->promote);
    sqlite3_finalize(st->count_ip_ua);
    sqlite3_finalize(st->has_key);
    sqlite3_finalize(st->get_touch);
    sqlite3_finalize(st->hold);
    st->find_visitor = st->consume = st->promote = NULL;
    st->consent_q = NULL;
    st->count_ip_ua = st->has_key = st->get_touch = st->hold = NULL;
}
