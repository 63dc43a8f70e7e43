/* The PostgreSQL store's matcher side (lookups, promotion with a compare-and-set on the
 * touch) and admin side (listings, replay, counts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store_pg.h"
#include "store_pg_internal.h"

#define NAMES_MAX 8

#define TOUCH_COLS                                                                                 \
    "id,vid,event,event_id,order_id,ttclid,ttp,ip,user_agent,url,referrer,email_hash,phone_hash,"  \
    "value,currency,ts,consumed_by"

long long pg_limit(int limit)
{
    return limit < 0 ? (1LL << 62) : limit;
}

static void read_event(const PGresult *r, int i, struct event_row *e)
{
    memset(e, 0, sizeof *e);
    e->id = pg_value_int(r, i, 0);
    STR_SET(e->source, pg_value_text(r, i, 1));
    STR_SET(e->kind, pg_value_text(r, i, 2));
    STR_SET(e->object_id, pg_value_text(r, i, 3));
    STR_SET(e->pixel, pg_value_text(r, i, 4));
    e->state = (enum event_state)pg_value_int(r, i, 5);
    e->test = (int)pg_value_int(r, i, 6);
    e->received_ms = pg_value_int(r, i, 7);
    e->due_ms = pg_value_int(r, i, 8);
    e->sent_ms = pg_value_int(r, i, 9);
    e->event_time = pg_value_int(r, i, 10);
    e->attempts = (int)pg_value_int(r, i, 11);
    STR_SET(e->event_name, pg_value_text(r, i, 12));
    STR_SET(e->event_id, pg_value_text(r, i, 13));
    STR_SET(e->matched_by, pg_value_text(r, i, 14));
    e->touch_id = pg_value_int(r, i, 15);
    STR_SET(e->last_error, pg_value_text(r, i, 16));
    STR_SET(e->request_id, pg_value_text(r, i, 17));
    e->data = pg_value_dup(r, i, 18);
    e->payload = pg_value_dup(r, i, 19);
    e->match_info = pg_value_dup(r, i, 20);
    e->origin_ms = pg_value_int(r, i, 21);
}

static void read_touch(const PGresult *r, int i, struct touch_row *out)
{
    struct touch *t = &out->t;
    memset(out, 0, sizeof *out);
    out->id = pg_value_int(r, i, 0);
    STR_SET(t->vid, pg_value_text(r, i, 1));
    STR_SET(t->event, pg_value_text(r, i, 2));
    STR_SET(t->event_id, pg_value_text(r, i, 3));
    STR_SET(t->order_id, pg_value_text(r, i, 4));
    STR_SET(t->ttclid, pg_value_text(r, i, 5));
    STR_SET(t->ttp, pg_value_text(r, i, 6));
    STR_SET(t->ip, pg_value_text(r, i, 7));
    STR_SET(t->user_agent, pg_value_text(r, i, 8));
    STR_SET(t->url, pg_value_text(r, i, 9));
    STR_SET(t->referrer, pg_value_text(r, i, 10));
    STR_SET(t->email_hash, pg_value_text(r, i, 11));
    STR_SET(t->phone_hash, pg_value_text(r, i, 12));
    STR_SET(t->value, pg_value_text(r, i, 13));
    STR_SET(t->currency, pg_value_text(r, i, 14));
    t->ts = pg_value_int(r, i, 15);
    out->consumed_by = pg_value_int(r, i, 16);
}

int pg_take_events(PGresult *r, struct event_row **rows)
{
    *rows = NULL;
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct event_row *out = calloc((size_t)n + 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++)
        read_event(r, i, &out[i]);
    PQclear(r);
    *rows = out;
    return n;
}

/* Event rows of a statement on pc (locking it). Count or -1. */
static int run_events(struct pg_conn *pc, struct event_row **rows, const char *sql, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&pc->lock);
    PGresult *r = pg_conn_vquery(pc, sql, fmt, ap);
    pthread_mutex_unlock(&pc->lock);
    va_end(ap);
    return pg_take_events(r, rows);
}

/* Rows changed by a statement on pc (locking it), or -1. */
static long long run_locked(struct pg_conn *pc, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&pc->lock);
    PGresult *r = pg_conn_vquery(pc, sql, fmt, ap);
    pthread_mutex_unlock(&pc->lock);
    va_end(ap);
    if (!r)
        return -1;
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : atoll(PQcmdTuples(r));
    PQclear(r);
    return n;
}

/* A statement prepared on pc (whose lock the caller holds): see pg_conn_exec_prepared. */
static PGresult *query_prepared(struct pg_conn *pc, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = pg_conn_vquery_prepared(pc, sql, fmt, ap);
    va_end(ap);
    return r;
}

/* The first column of the first row of a one-row query on pc (locking it; prepared: sql
 * is a constant), or -1. */
static long long scalar_locked(struct pg_conn *pc, const char *sql, const char *fmt, ...)
{
    va_list ap;
    long long v = -1;
    va_start(ap, fmt);
    pthread_mutex_lock(&pc->lock);
    PGresult *r = pg_conn_vquery_prepared(pc, sql, fmt, ap);
    pthread_mutex_unlock(&pc->lock);
    va_end(ap);
    if (r && PQntuples(r) == 1)
        v = pg_value_int(r, 0, 0);
    PQclear(r);
    return v;
}

/* ---- matcher ---- */

int pg_held_due(struct store_be *st, long long now, int limit, struct event_row **rows)
{
    return run_events(&st->match, rows,
                      "SELECT " PG_EVENT_COLS " FROM conversions WHERE state=0 AND due_ms<=$1 "
                      "ORDER BY due_ms LIMIT $2",
                      "ii", now, pg_limit(limit));
}

/* Consumed touches come back too (with consumed_by), so that the matching engine can say
 * why they were not taken. Parameters are typed: $2 may go unused. */
#define FIND_SQL(where)                                                                            \
    "SELECT " TOUCH_COLS " FROM touches WHERE " where " AND ts>=$3 "                               \
    "AND event IN ($4,$5,$6,$7,$8,$9,$10,$11) ORDER BY ts DESC, id DESC LIMIT $12"

static const char *const find_sql[] = {
    [MKEY_EVENT_ID] = FIND_SQL("event_id=$1 AND event_id<>''"),
    [MKEY_ORDER_REF] = FIND_SQL("order_id=$1 AND order_id<>''"),
    [MKEY_VID] = FIND_SQL("vid=$1"),
    [MKEY_EMAIL] = FIND_SQL("vid IN (SELECT vid FROM visitor_keys WHERE key='e:'||$1)"),
    [MKEY_PHONE] = FIND_SQL("vid IN (SELECT vid FROM visitor_keys WHERE key='p:'||$1)"),
    [MKEY_IP_UA] = FIND_SQL("ip=$1 AND user_agent=$2"),
};

int pg_find_touches(struct store_be *st, enum match_key key, const char *k1, const char *k2,
                    const char *const *names, int nnames, long long since, struct touch_row *out,
                    int max)
{
    struct pg_params p = {0};
    int n = -1;

    if ((int)key < 0 || key > MKEY_IP_UA || max <= 0)
        return max == 0 ? 0 : -1;
    pg_params_text(&p, k1 ? k1 : "");
    pg_params_text(&p, k2 ? k2 : "");
    pg_params_int(&p, since);
    for (int i = 0; i < NAMES_MAX; i++)
        pg_params_text(&p, i < nnames ? names[i] : NULL);
    pg_params_int(&p, max);
    pthread_mutex_lock(&st->match.lock);
    PGresult *r = pg_conn_exec_prepared(&st->match, find_sql[key], &p);
    pthread_mutex_unlock(&st->match.lock);
    if (r) {
        for (n = 0; n < PQntuples(r) && n < max; n++)
            read_touch(r, n, &out[n]);
        PQclear(r);
    }
    pg_params_free(&p);
    return n;
}

int pg_ip_ua_visitors(struct store_be *st, const char *ip, const char *user_agent, long long since)
{
    /* Two are enough to know the pair is shared. */
    long long n = scalar_locked(&st->match,
                                "SELECT count(*) FROM (SELECT DISTINCT vid FROM touches "
                                "WHERE ip=$1 AND user_agent=$2 AND ts>=$3 LIMIT 2) AS v",
                                "ssi", ip ? ip : "", user_agent ? user_agent : "", since);
    return n < 0 ? -1 : (int)n;
}

int pg_visitor_has_key(struct store_be *st, const char *vid, const char *key)
{
    long long n =
        scalar_locked(&st->match, "SELECT count(*) FROM visitor_keys WHERE key=$2 AND vid=$1", "ss",
                      vid ? vid : "", key ? key : "");
    return n < 0 ? -1 : n > 0;
}

int pg_consent_denied(struct store_be *st, const char *vid1, const char *vid2,
                      const char *email_hash, const char *phone_hash)
{
    const char *v[4] = {vid1, vid2, email_hash, phone_hash};
    /* An empty value names no visitor: '' is no vid, and 'e:' alone is no key. */
    for (int i = 0; i < 4; i++)
        v[i] = v[i] && v[i][0] ? v[i] : "\x01";
    /* Two probes by key, not one OR across them: PostgreSQL answers the OR by reading every
     * visitor. */
    long long n = scalar_locked(&st->match,
                                "SELECT (EXISTS (SELECT 1 FROM visitors WHERE vid IN ($1,$2) AND "
                                "consent<0) OR EXISTS (SELECT 1 FROM visitor_keys k JOIN visitors v "
                                "ON v.vid=k.vid WHERE k.key IN ('e:'||$3,'p:'||$4) AND "
                                "v.consent<0))::int",
                                "ssss", v[0], v[1], v[2], v[3]);
    return n < 0 ? -1 : n > 0;
}

int pg_get_touch(struct store_be *st, long long id, struct touch_row *out)
{
    pthread_mutex_lock(&st->match.lock);
    PGresult *r =
        query_prepared(&st->match, "SELECT " TOUCH_COLS " FROM touches WHERE id=$1", "i", id);
    pthread_mutex_unlock(&st->match.lock);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        read_touch(r, 0, out);
    PQclear(r);
    return found;
}

int pg_find_visitor(struct store_be *st, const char *vid, struct touch *out)
{
    pthread_mutex_lock(&st->match.lock);
    PGresult *r = query_prepared(
        &st->match,
        "SELECT ttclid,ttp,ip,user_agent,url,referrer,last_seen FROM visitors WHERE vid=$1", "s",
        vid ? vid : "");
    pthread_mutex_unlock(&st->match.lock);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        memset(out, 0, sizeof *out);
        STR_SET(out->vid, vid);
        STR_SET(out->ttclid, pg_value_text(r, 0, 0));
        STR_SET(out->ttp, pg_value_text(r, 0, 1));
        STR_SET(out->ip, pg_value_text(r, 0, 2));
        STR_SET(out->user_agent, pg_value_text(r, 0, 3));
        STR_SET(out->url, pg_value_text(r, 0, 4));
        STR_SET(out->referrer, pg_value_text(r, 0, 5));
        out->ts = pg_value_int(r, 0, 6);
    }
    PQclear(r);
    return found;
}

/* A statement on the match connection whose command tag must be want. 0 or -1. */
static int match_tag(struct store_be *st, const char *sql, const char *want)
{
    PGresult *r = pg_conn_exec(&st->match, sql, NULL);
    int rc = r && !strcmp(PQcmdStatus(r), want) ? 0 : -1;
    PQclear(r);
    return rc;
}

int pg_promote_begin(struct store_be *st)
{
    pthread_mutex_lock(&st->match.lock);
    int rc = match_tag(st, "BEGIN", "BEGIN");
    st->in_match_tx = rc == 0;
    st->match_tx_promoted = 0;
    st->match_tx_generation = st->match.generation;
    pthread_mutex_unlock(&st->match.lock);
    return rc;
}

int pg_promote_commit(struct store_be *st)
{
    int rc = -1;
    pthread_mutex_lock(&st->match.lock);
    /* A connection lost meanwhile took the transaction with it: nothing was promoted. One
     * NOTIFY for the whole transaction: the senders see its events at its commit. */
    if (st->in_match_tx && st->match.db && st->match.generation == st->match_tx_generation) {
        rc = (st->match_tx_promoted == 0 ||
              match_tag(st, "NOTIFY " PG_CHANNEL ", 'ready'", "NOTIFY") == 0)
                 ? match_tag(st, "COMMIT", "COMMIT")
                 : -1;
        if (rc < 0 && st->match.db)
            PQclear(PQexec(st->match.db, "ROLLBACK"));
    }
    st->in_match_tx = 0;
    pthread_mutex_unlock(&st->match.lock);
    return rc;
}

/* The compare-and-set in one statement: the touch is locked while still unconsumed (of two
 * instances taking one touch, the second waits for the first's commit, then finds
 * consumed_by set and changes nothing), the event becomes ready only with it, and the
 * touch is consumed only with the event. Either both rows change or neither. */
#define PROMOTE_SQL                                                                                \
    "WITH tl AS (SELECT id FROM touches WHERE id=$5 AND consumed_by IS NULL FOR UPDATE),"          \
    " c AS (UPDATE conversions SET state=1, event_name=$2, event_id=$3, matched_by=$4,"            \
    " touch_id=$5, payload=$6, match_info=$7 WHERE id=$1 AND state=0 AND"                          \
    " ($5<=0 OR EXISTS (SELECT 1 FROM tl)) RETURNING id),"                                        \
    " t AS (UPDATE touches SET consumed_by=$1 WHERE id=(SELECT id FROM tl) AND"                    \
    " EXISTS (SELECT 1 FROM c) RETURNING id)"                                                      \
    " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM t)"

int pg_promote(struct store_be *st, long long id, const char *event_name, const char *event_id,
               const char *matched_by, long long touch_id, const char *payload,
               const char *match_info)
{
    int rc = -1;
    pthread_mutex_lock(&st->match.lock);
    int own_tx = !st->in_match_tx;
    if (!own_tx && (!st->match.db || st->match.generation != st->match_tx_generation))
        goto out;
    /* In a chunk's transaction, the savepoint keeps one failed statement from aborting the
     * others' promotions. */
    if (match_tag(st, own_tx ? "BEGIN" : "SAVEPOINT promote", own_tx ? "BEGIN" : "SAVEPOINT") < 0)
        goto out;
    unsigned generation = st->match.generation;
    PGresult *r = query_prepared(&st->match, PROMOTE_SQL, "isssiss", id, event_name, event_id,
                                 matched_by, touch_id, payload, match_info);
    int done = r && PQntuples(r) == 1 && pg_value_int(r, 0, 0) == 1 &&
               pg_value_int(r, 0, 1) == (touch_id > 0);
    PQclear(r);
    if (!done ||
        (own_tx && match_tag(st, "NOTIFY " PG_CHANNEL ", 'ready'", "NOTIFY") < 0) ||
        match_tag(st, own_tx ? "COMMIT" : "RELEASE promote", own_tx ? "COMMIT" : "RELEASE") < 0)
        goto rollback;
    if (!own_tx)
        st->match_tx_promoted++;
    rc = 0;
    goto out;
rollback:
    if (st->match.db && st->match.generation == generation) {
        PQclear(PQexec(st->match.db, own_tx ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT promote"));
        if (!own_tx)
            PQclear(PQexec(st->match.db, "RELEASE SAVEPOINT promote"));
    }
out:
    pthread_mutex_unlock(&st->match.lock);
    return rc;
}

int pg_hold(struct store_be *st, long long id, long long due_ms)
{
    return run_locked(&st->match, "UPDATE conversions SET due_ms=$2 WHERE id=$1 AND state=0", "ii",
                      id, due_ms) < 0
               ? -1
               : 0;
}

/* ---- admin ---- */

int pg_list_deliveries(struct store_be *st, const char *source, int status, int limit,
                       struct delivery **rows)
{
    int n = -1;
    *rows = calloc((size_t)(limit > 0 ? limit : 0) + 1, sizeof **rows);
    if (!*rows)
        return -1;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_query(&st->admin,
                                "SELECT ts_ms, source, status, result, reason, delivery_id, "
                                "COALESCE(conversion_id, 0) FROM deliveries WHERE ($1='' OR "
                                "source=$1) AND ($2=0 OR status=$2) ORDER BY id DESC LIMIT $3",
                                "sii", source ? source : "", (long long)status,
                                (long long)(limit > 0 ? limit : 0));
    pthread_mutex_unlock(&st->admin.lock);
    if (r) {
        for (n = 0; n < PQntuples(r); n++) {
            struct delivery *d = &(*rows)[n];
            d->ts_ms = pg_value_int(r, n, 0);
            STR_SET(d->source, pg_value_text(r, n, 1));
            d->status = (int)pg_value_int(r, n, 2);
            STR_SET(d->result, pg_value_text(r, n, 3));
            STR_SET(d->reason, pg_value_text(r, n, 4));
            STR_SET(d->delivery_id, pg_value_text(r, n, 5));
            d->conversion_id = pg_value_int(r, n, 6);
        }
        PQclear(r);
    }
    if (n < 0) {
        free(*rows);
        *rows = NULL;
    }
    return n;
}

int pg_list_events(struct store_be *st, int state, int limit, struct event_row **rows)
{
    return run_events(&st->admin, rows,
                      "SELECT " PG_EVENT_COLS " FROM conversions WHERE ($1<0 OR state=$1) "
                      "ORDER BY id DESC LIMIT $2",
                      "ii", (long long)state, pg_limit(limit));
}

int pg_get_event(struct store_be *st, long long id, struct event_row *row)
{
    struct event_row *rows = NULL;
    int n = run_events(&st->admin, &rows, "SELECT " PG_EVENT_COLS " FROM conversions WHERE id=$1",
                       "i", id);
    if (n == 1) {
        *row = rows[0];
        free(rows);
        return 1;
    }
    store_row_free(rows, n);
    return n < 0 ? -1 : 0;
}

/* Replay is a row change every instance's sender sees; the NOTIFY wakes them now. */
static long long replay_run(struct store_be *st, const char *sql, const char *fmt, long long a,
                            const char *pixel, long long b, long long c)
{
    pthread_mutex_lock(&st->admin.lock);
    long long n = fmt[1] == 's' ? pg_conn_run(&st->admin, sql, fmt, a, pixel, b, c)
                                : pg_conn_run(&st->admin, sql, fmt, a, b);
    if (n > 0)
        PQclear(pg_conn_exec(&st->admin, "NOTIFY " PG_CHANNEL ", 'replay'", NULL));
    pthread_mutex_unlock(&st->admin.lock);
    return n;
}

int pg_replay(struct store_be *st, long long id, long long now)
{
    long long n = replay_run(st,
                             "UPDATE conversions SET state=1, due_ms=$2, last_error='' "
                             "WHERE id=$1 AND state IN (3,4) AND payload IS NOT NULL",
                             "ii", id, NULL, now, 0);
    return n < 0 ? -1 : n == 1 ? 0 : 1;
}

int pg_replay_dead(struct store_be *st, const char *pixel, long long since_ms, long long until_ms,
                   long long now)
{
    return (int)replay_run(st,
                           "UPDATE conversions SET state=1, due_ms=$1, last_error='' WHERE state=4 "
                           "AND payload IS NOT NULL AND ($2='' OR pixel=$2) AND received_ms>=$3 "
                           "AND received_ms<=$4",
                           "isii", now, pixel ? pixel : "", since_ms, until_ms);
}

int pg_replay_dry_run(struct store_be *st, const char *pixel, long long since_ms,
                      long long until_ms, long long now)
{
    return (int)replay_run(st,
                           "UPDATE conversions SET state=1, due_ms=$1, last_error='' WHERE state=6 "
                           "AND payload IS NOT NULL AND ($2='' OR pixel=$2) AND received_ms>=$3 "
                           "AND received_ms<=$4",
                           "isii", now, pixel ? pixel : "", since_ms, until_ms);
}

int pg_counts(struct store_be *st, long long counts[EV_STATE_COUNT], long long *oldest)
{
    memset(counts, 0, sizeof(long long) * EV_STATE_COUNT);
    *oldest = 0;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_query(
        &st->admin, "SELECT state, count(*), min(received_ms) FROM conversions GROUP BY state", "");
    pthread_mutex_unlock(&st->admin.lock);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int state = (int)pg_value_int(r, i, 0);
        long long min = pg_value_int(r, i, 2);
        if (state >= 0 && state < EV_STATE_COUNT)
            counts[state] = pg_value_int(r, i, 1);
        if ((state == EV_HELD || state == EV_READY || state == EV_RETRY ||
             state == (int)EV_SENDING) &&
            (!*oldest || min < *oldest))
            *oldest = min;
    }
    PQclear(r);
    return 0;
}

int pg_report_rows(struct store_be *st, long long since_ms, struct event_row **rows)
{
    return run_events(&st->admin, rows,
                      "SELECT " PG_EVENT_COLS " FROM conversions WHERE received_ms>=$1 ORDER BY id",
                      "i", since_ms);
}

int pg_list_touches(struct store_be *st, const char *vid, int limit, struct touch_row **rows)
{
    int n = -1;
    struct touch_row *out = calloc((size_t)(limit > 0 ? limit : 0) + 1, sizeof *out);

    *rows = NULL;
    if (!out)
        return -1;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_query(&st->admin,
                                "SELECT " TOUCH_COLS " FROM touches WHERE vid=$1 "
                                "ORDER BY id DESC LIMIT $2",
                                "si", vid ? vid : "", (long long)(limit > 0 ? limit : 0));
    pthread_mutex_unlock(&st->admin.lock);
    if (r) {
        for (n = 0; n < PQntuples(r); n++)
            read_touch(r, n, &out[n]);
        PQclear(r);
    }
    if (n < 0) {
        free(out);
        return -1;
    }
    *rows = out;
    return n;
}

long long pg_touch_count(struct store_be *st)
{
    return scalar_locked(&st->admin, "SELECT count(*) FROM touches", "");
}
