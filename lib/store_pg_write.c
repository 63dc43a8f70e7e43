/* The PostgreSQL store's ingest: one group of jobs in one transaction, a few multi-row
 * statements per group whatever its size. Rows that lock (business keys, visitors,
 * visitor keys) are written in key order, so that two instances writing overlapping
 * groups do not deadlock; a deadlock or serialization failure is retried. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store_pg.h"
#include "store_pg_internal.h"

/* PostgreSQL takes at most 65535 parameters; a touch row has 15. */
#define PG_GROUP_MAX 4000
#define PG_GROUP_ATTEMPTS 3

/* A conversion's business key, cleaned as stored. leader: index (in the sorted keys) of the
 * first job of the group with this key; the others are its duplicates. */
struct ckey {
    char *source;
    const char *kind;
    char *object;
    int job;
    int leader;
};

static int ckey_cmp(const void *a, const void *b)
{
    const struct ckey *x = a, *y = b;
    int c = strcmp(x->source, y->source);
    if (!c)
        c = strcmp(x->kind, y->kind);
    if (!c)
        c = strcmp(x->object, y->object);
    return c ? c : x->job - y->job;
}

static int ckey_same(const struct ckey *x, const char *source, const char *kind, const char *object)
{
    return !strcmp(x->source, source) && !strcmp(x->kind, kind) && !strcmp(x->object, object);
}

/* Finds the leader with this key among the m sorted keys; -1 if none. */
static int leader_of(struct ckey *keys, int m, const char *source, const char *kind,
                     const char *object)
{
    for (int i = 0; i < m; i++)
        if (keys[i].leader == i && ckey_same(&keys[i], source, kind, object))
            return i;
    return -1;
}

static int insert_conversions(struct pg_conn *pc, struct pg_job *jobs, struct ckey *keys, int m)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    long long now = clock_wall_ms();
    int rc = -1, rows = 0;

    pg_sql_add(&q, "INSERT INTO conversions(source,kind,object_id,pixel,state,test,received_ms,"
                   "due_ms,event_time,data) VALUES");
    for (int i = 0; i < m; i++) {
        if (keys[i].leader != i)
            continue;
        struct pg_job *j = &jobs[keys[i].job];
        int b = p.n;
        pg_sql_add(&q, "%s($%d,$%d,$%d,$%d,0,$%d,$%d,$%d,$%d,$%d)", rows++ ? "," : "", b + 1, b + 2,
                   b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9);
        pg_params_text(&p, keys[i].source);
        pg_params_text(&p, keys[i].kind);
        pg_params_text(&p, keys[i].object);
        pg_params_text(&p, j->pixel);
        pg_params_int(&p, j->test);
        pg_params_int(&p, now);
        pg_params_int(&p, j->due_ms);
        pg_params_int(&p, j->c.event_time);
        pg_params_text(&p, j->data ? j->data : "{}");
    }
    pg_sql_add(&q, " ON CONFLICT (source, kind, object_id) DO NOTHING"
                   " RETURNING id, source, kind, object_id");
    PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
    if (!r)
        goto out;
    for (int row = 0; row < PQntuples(r); row++) {
        int i =
            leader_of(keys, m, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2), PQgetvalue(r, row, 3));
        if (i < 0)
            goto out_clear;
        jobs[keys[i].job].result = STORE_OK;
        jobs[keys[i].job].id = pg_value_int(r, row, 0);
    }
    rc = 0;
out_clear:
    PQclear(r);
out:
    pg_params_free(&p);
    free(q.s);
    return rc;
}

/* Leaders that were not inserted: the key was stored before (or by another instance
 * meanwhile: its commit is visible to this statement). */
static int find_existing(struct pg_conn *pc, struct pg_job *jobs, struct ckey *keys, int m)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rc = -1, rows = 0;

    pg_sql_add(&q, "SELECT id, source, kind, object_id FROM conversions WHERE"
                   " (source, kind, object_id) IN (");
    for (int i = 0; i < m; i++) {
        if (keys[i].leader != i || jobs[keys[i].job].result != STORE_ERROR)
            continue;
        pg_sql_add(&q, "%s($%d,$%d,$%d)", rows++ ? "," : "", p.n + 1, p.n + 2, p.n + 3);
        pg_params_text(&p, keys[i].source);
        pg_params_text(&p, keys[i].kind);
        pg_params_text(&p, keys[i].object);
    }
    pg_sql_add(&q, ")");
    if (rows == 0) {
        rc = 0;
        goto out;
    }
    PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
    if (!r)
        goto out;
    for (int row = 0; row < PQntuples(r); row++) {
        int i =
            leader_of(keys, m, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2), PQgetvalue(r, row, 3));
        if (i >= 0) {
            jobs[keys[i].job].result = STORE_DUPLICATE;
            jobs[keys[i].job].id = pg_value_int(r, row, 0);
        }
    }
    PQclear(r);
    rc = 0;
out:
    pg_params_free(&p);
    free(q.s);
    return rc;
}

/* The new conversions' references that end a hold early (not the guessable ones: anyone
 * can post the next order number). */
static int insert_refs(struct pg_conn *pc, struct pg_job *jobs, struct ckey *keys, int m)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rc = 0, rows = 0;

    pg_sql_add(&q, "INSERT INTO conv_refs(ref, conv_id) VALUES");
    for (int i = 0; i < m; i++) {
        struct pg_job *j = &jobs[keys[i].job];
        if (keys[i].leader != i || j->result != STORE_OK)
            continue;
        for (int k = 0; k < j->c.nrefs; k++) {
            if ((j->c.guessable_refs >> k) & 1)
                continue;
            pg_sql_add(&q, "%s($%d,$%d)", rows++ ? "," : "", p.n + 1, p.n + 2);
            pg_params_text(&p, j->c.refs[k]);
            pg_params_int(&p, j->id);
        }
    }
    if (rows > 0) {
        PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
        rc = r ? 0 : -1;
        PQclear(r);
    }
    pg_params_free(&p);
    free(q.s);
    return rc;
}

/* Folds the keys of a sibling webhook (Stripe's session after its intent, Shopify's
 * orders/paid after orders/create) into the held conversion it duplicates, as the SQLite
 * writer does. The row is locked first: a promotion that commits meanwhile made it ready,
 * and a ready conversion keeps what it was matched with. */
static int merge_sibling(struct pg_conn *pc, const struct pg_job *j)
{
    struct pg_params p = {0};
    struct conversion held;
    char *text = NULL;
    int rc = -1, parsed = 0;

    pg_params_int(&p, j->id);
    pg_params_int(&p, EV_HELD);
    PGresult *r = pg_conn_exec(pc, "SELECT data FROM conversions WHERE id=$1 AND state=$2"
                                   " FOR UPDATE", &p);
    pg_params_free(&p);
    if (!r)
        return -1;
    if (PQntuples(r) != 1 || conversion_from_json(PQgetvalue(r, 0, 0), &held) < 0) {
        /* Not held (any more), or unreadable: the forwarder marks it dead. */
        PQclear(r);
        return 0;
    }
    PQclear(r);
    parsed = 1;
    int nrefs = held.nrefs;
    if (!conversion_merge(&held, &j->c)) {
        rc = 0;
        goto out;
    }
    if (!(text = conversion_to_json(&held)))
        goto out;
    pg_params_text(&p, text);
    pg_params_int(&p, j->id);
    r = pg_conn_exec(pc, "UPDATE conversions SET data=$1 WHERE id=$2", &p);
    pg_params_free(&p);
    if (!r)
        goto out;
    PQclear(r);
    for (int k = nrefs; k < held.nrefs; k++) {
        if ((held.guessable_refs >> k) & 1)
            continue;
        pg_params_text(&p, held.refs[k]);
        pg_params_int(&p, j->id);
        r = pg_conn_exec(pc, "INSERT INTO conv_refs(ref, conv_id) VALUES($1,$2)", &p);
        pg_params_free(&p);
        if (!r)
            goto out;
        PQclear(r);
    }
    rc = 0;
out:
    free(text);
    if (parsed)
        conversion_clear(&held);
    return rc;
}

/* Duplicates merge in key order (the rows they lock), after the group's inserts: a
 * sibling in the same group as its first webhook merges like one that came later. */
static int merge_siblings(struct pg_conn *pc, struct pg_job *jobs, const struct ckey *keys, int m)
{
    for (int i = 0; i < m; i++) {
        struct pg_job *j = &jobs[keys[i].job];
        if (j->result == STORE_DUPLICATE && merge_sibling(pc, j) < 0)
            return -1;
    }
    return 0;
}

static int write_conversions(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    int m = 0, rc = -1;
    for (int i = 0; i < n; i++)
        m += jobs[i].type == PG_JOB_CONVERSION;
    if (m == 0)
        return 0;
    struct ckey *keys = calloc((size_t)m, sizeof *keys);
    if (!keys)
        return -1;
    m = 0;
    for (int i = 0; i < n; i++) {
        if (jobs[i].type != PG_JOB_CONVERSION)
            continue;
        keys[m].source = pg_utf8_dup(jobs[i].c.source_id);
        keys[m].kind = conversion_kind_name(jobs[i].c.kind);
        keys[m].object = pg_utf8_dup(jobs[i].c.object_id);
        keys[m].job = i;
        if (!keys[m].source || !keys[m].object) {
            m++;
            goto out;
        }
        m++;
    }
    qsort(keys, (size_t)m, sizeof *keys, ckey_cmp);
    for (int i = 0; i < m; i++)
        keys[i].leader =
            (i > 0 && ckey_same(&keys[i - 1], keys[i].source, keys[i].kind, keys[i].object))
                ? keys[i - 1].leader
                : i;
    if (insert_conversions(pc, jobs, keys, m) < 0 || find_existing(pc, jobs, keys, m) < 0 ||
        insert_refs(pc, jobs, keys, m) < 0)
        goto out;
    /* The group's own duplicates answer with the first one's row. */
    for (int i = 0; i < m; i++) {
        struct pg_job *lead = &jobs[keys[keys[i].leader].job];
        if (lead->result == STORE_ERROR)
            goto out;
        if (keys[i].leader != i) {
            jobs[keys[i].job].result = STORE_DUPLICATE;
            jobs[keys[i].job].id = lead->id;
        }
    }
    if (merge_siblings(pc, jobs, keys, m) < 0)
        goto out;
    rc = 0;
out:
    for (int i = 0; i < m; i++) {
        free(keys[i].source);
        free(keys[i].object);
    }
    free(keys);
    return rc;
}

static int id_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Touches carrying an event or an identity; their ids in job order (identities are
 * assigned in the order of the VALUES rows). */
static int insert_touches(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rc = -1, rows = 0;

    pg_sql_add(&q, "INSERT INTO touches(vid,event,event_id,order_id,ttclid,ttp,ip,user_agent,"
                   "url,referrer,email_hash,phone_hash,value,currency,ts) VALUES");
    for (int i = 0; i < n; i++) {
        const struct touch *t = &jobs[i].t;
        if (jobs[i].type != PG_JOB_TOUCH || !(t->event[0] || t->email_hash[0] || t->phone_hash[0]))
            continue;
        const char *v[] = {t->vid,        t->event,      t->event_id,   t->order_id, t->ttclid,
                           t->ttp,        t->ip,         t->user_agent, t->url,      t->referrer,
                           t->email_hash, t->phone_hash, t->value,      t->currency};
        pg_sql_add(&q, "%s(", rows++ ? "," : "");
        for (int k = 0; k < 14; k++) {
            pg_sql_add(&q, "$%d,", p.n + 1);
            pg_params_text(&p, v[k]);
        }
        pg_sql_add(&q, "$%d)", p.n + 1);
        pg_params_int(&p, t->ts);
    }
    pg_sql_add(&q, " RETURNING id");
    if (rows == 0) {
        rc = 0;
        goto out;
    }
    PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
    if (!r)
        goto out;
    if (PQntuples(r) == rows) {
        long long *ids = malloc((size_t)rows * sizeof *ids);
        for (int k = 0; ids && k < rows; k++)
            ids[k] = pg_value_int(r, k, 0);
        if (ids) {
            qsort(ids, (size_t)rows, sizeof *ids, id_cmp);
            for (int i = 0, k = 0; i < n; i++) {
                const struct touch *t = &jobs[i].t;
                if (jobs[i].type == PG_JOB_TOUCH &&
                    (t->event[0] || t->email_hash[0] || t->phone_hash[0]))
                    jobs[i].id = ids[k++];
            }
            rc = 0;
        }
        free(ids);
    }
    PQclear(r);
out:
    pg_params_free(&p);
    free(q.s);
    return rc;
}

static int touch_vid_cmp(const void *a, const void *b, void *arg)
{
    const struct pg_job *jobs = arg;
    int x = *(const int *)a, y = *(const int *)b;
    int c = strcmp(jobs[x].t.vid, jobs[y].t.vid);
    return c ? c : x - y;
}

/* One row per visitor, in vid order: the group's latest non-empty values and latest
 * reported consent (what the touches written one by one would leave), last_seen the
 * latest. */
static int upsert_visitors(struct pg_conn *pc, struct pg_job *jobs, const int *idx, int m)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rows = 0;

    pg_sql_add(&q, "INSERT INTO visitors(vid,ttclid,ttp,ip,user_agent,url,referrer,last_seen,"
                   "consent) VALUES");
    for (int a = 0, b; a < m; a = b) {
        const struct touch *first = &jobs[idx[a]].t;
        const char *v[6] = {"", "", "", "", "", ""};
        long long seen = first->ts;
        int consent = 0;
        for (b = a; b < m && !strcmp(jobs[idx[b]].t.vid, first->vid); b++) {
            const struct touch *t = &jobs[idx[b]].t;
            const char *f[6] = {t->ttclid, t->ttp, t->ip, t->user_agent, t->url, t->referrer};
            for (int k = 0; k < 6; k++)
                if (f[k][0])
                    v[k] = f[k];
            if (t->ts > seen)
                seen = t->ts;
            if (t->consent)
                consent = t->consent;
        }
        pg_sql_add(&q, "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", rows++ ? "," : "", p.n + 1,
                   p.n + 2, p.n + 3, p.n + 4, p.n + 5, p.n + 6, p.n + 7, p.n + 8, p.n + 9);
        pg_params_text(&p, first->vid);
        for (int k = 0; k < 6; k++)
            pg_params_text(&p, v[k]);
        pg_params_int(&p, seen);
        pg_params_int(&p, consent);
    }
    pg_sql_add(
        &q, " ON CONFLICT (vid) DO UPDATE SET"
            " consent=CASE WHEN EXCLUDED.consent<>0 THEN EXCLUDED.consent"
            " ELSE visitors.consent END,"
            " ttclid=CASE WHEN EXCLUDED.ttclid<>'' THEN EXCLUDED.ttclid ELSE visitors.ttclid END,"
            " ttp=CASE WHEN EXCLUDED.ttp<>'' THEN EXCLUDED.ttp ELSE visitors.ttp END,"
            " ip=CASE WHEN EXCLUDED.ip<>'' THEN EXCLUDED.ip ELSE visitors.ip END,"
            " user_agent=CASE WHEN EXCLUDED.user_agent<>'' THEN EXCLUDED.user_agent"
            " ELSE visitors.user_agent END,"
            " url=CASE WHEN EXCLUDED.url<>'' THEN EXCLUDED.url ELSE visitors.url END,"
            " referrer=CASE WHEN EXCLUDED.referrer<>'' THEN EXCLUDED.referrer"
            " ELSE visitors.referrer END,"
            " last_seen=GREATEST(visitors.last_seen, EXCLUDED.last_seen)");
    PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
    int rc = r ? 0 : -1;
    PQclear(r);
    pg_params_free(&p);
    free(q.s);
    return rc;
}

struct vkey {
    char key[80];
    const char *vid;
    long long seen;
    int order;
};

static int vkey_cmp(const void *a, const void *b)
{
    const struct vkey *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (!c)
        c = strcmp(x->vid, y->vid);
    return c ? c : x->order - y->order;
}

/* The hashed email/phone each visitor was seen with, in key order; a pair seen twice in
 * the group keeps the later time (as INSERT OR REPLACE row by row would). */
static int upsert_visitor_keys(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    struct vkey *keys = calloc((size_t)n * 2 + 1, sizeof *keys);
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int m = 0, rows = 0, rc = -1;

    if (!keys)
        return -1;
    for (int i = 0; i < n; i++) {
        const struct touch *t = &jobs[i].t;
        if (jobs[i].type != PG_JOB_TOUCH)
            continue;
        const char *hash[2] = {t->email_hash, t->phone_hash};
        for (int k = 0; k < 2; k++) {
            if (!hash[k][0])
                continue;
            snprintf(keys[m].key, sizeof keys[m].key, "%c:%s", k ? 'p' : 'e', hash[k]);
            keys[m].vid = t->vid;
            keys[m].seen = t->ts;
            keys[m].order = m;
            m++;
        }
    }
    if (m == 0) {
        rc = 0;
        goto out;
    }
    qsort(keys, (size_t)m, sizeof *keys, vkey_cmp);
    pg_sql_add(&q, "INSERT INTO visitor_keys(key, vid, seen) VALUES");
    for (int i = 0; i < m; i++) {
        if (i + 1 < m && !strcmp(keys[i].key, keys[i + 1].key) &&
            !strcmp(keys[i].vid, keys[i + 1].vid))
            continue; /* the last of a run is the latest */
        pg_sql_add(&q, "%s($%d,$%d,$%d)", rows++ ? "," : "", p.n + 1, p.n + 2, p.n + 3);
        pg_params_text(&p, keys[i].key);
        pg_params_text(&p, keys[i].vid);
        pg_params_int(&p, keys[i].seen);
    }
    pg_sql_add(&q, " ON CONFLICT (key, vid) DO UPDATE SET seen=EXCLUDED.seen");
    PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
    rc = r ? 0 : -1;
    PQclear(r);
out:
    pg_params_free(&p);
    free(q.s);
    free(keys);
    return rc;
}

/* A pixel event carrying an order reference ends the hold of the conversions it names. */
static int release_holds(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rows = 0, rc = 0;

    pg_params_int(&p, clock_wall_ms());
    pg_sql_add(&q, "UPDATE conversions SET due_ms=$1 WHERE state=0 AND due_ms>$1 AND id IN"
                   " (SELECT conv_id FROM conv_refs WHERE ref IN (");
    for (int i = 0; i < n; i++) {
        if (jobs[i].type != PG_JOB_TOUCH || !jobs[i].t.order_id[0] || !jobs[i].t.event[0])
            continue;
        pg_sql_add(&q, "%s$%d", rows++ ? "," : "", p.n + 1);
        pg_params_text(&p, jobs[i].t.order_id);
    }
    pg_sql_add(&q, "))");
    if (rows > 0) {
        PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
        rc = r ? 0 : -1;
        PQclear(r);
    }
    pg_params_free(&p);
    free(q.s);
    return rc;
}

static int write_touches(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    int m = 0, rc = -1;
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx)
        return -1;
    for (int i = 0; i < n; i++)
        if (jobs[i].type == PG_JOB_TOUCH)
            idx[m++] = i;
    if (m == 0) {
        rc = 0;
        goto out;
    }
    qsort_r(idx, (size_t)m, sizeof *idx, touch_vid_cmp, jobs);
    if (insert_touches(pc, jobs, n) < 0 || upsert_visitors(pc, jobs, idx, m) < 0 ||
        upsert_visitor_keys(pc, jobs, n) < 0 || release_holds(pc, jobs, n) < 0)
        goto out;
    for (int k = 0; k < m; k++)
        jobs[idx[k]].result = STORE_OK;
    rc = 0;
out:
    free(idx);
    return rc;
}

static int write_deliveries(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    struct pg_params p = {0};
    struct pg_sql q = {0};
    int rows = 0, rc = 0;

    pg_sql_add(&q, "INSERT INTO deliveries(ts_ms,source,status,result,reason,delivery_id,"
                   "conversion_id) VALUES");
    for (int i = 0; i < n; i++) {
        const struct delivery *d = &jobs[i].d;
        if (jobs[i].type != PG_JOB_DELIVERY)
            continue;
        pg_sql_add(&q, "%s($%d,$%d,$%d,$%d,$%d,$%d,NULLIF($%d,0))", rows++ ? "," : "", p.n + 1,
                   p.n + 2, p.n + 3, p.n + 4, p.n + 5, p.n + 6, p.n + 7);
        pg_params_int(&p, d->ts_ms);
        pg_params_text(&p, d->source);
        pg_params_int(&p, d->status);
        pg_params_text(&p, d->result);
        pg_params_text(&p, d->reason);
        pg_params_text(&p, d->delivery_id);
        pg_params_int(&p, d->conversion_id);
    }
    if (rows > 0) {
        PGresult *r = q.failed ? NULL : pg_conn_exec(pc, q.s, &p);
        rc = r ? 0 : -1;
        PQclear(r);
        for (int i = 0; rc == 0 && i < n; i++)
            if (jobs[i].type == PG_JOB_DELIVERY)
                jobs[i].result = STORE_OK;
    }
    pg_params_free(&p);
    free(q.s);
    return rc;
}

static int exec_tag(struct pg_conn *pc, const char *sql, const char *want_tag)
{
    PGresult *r = pg_conn_exec(pc, sql, NULL);
    int rc = r && !strcmp(PQcmdStatus(r), want_tag) ? 0 : -1;
    PQclear(r);
    return rc;
}

static int write_once(struct pg_conn *pc, struct pg_job *jobs, int n)
{
    int notify = 0;
    for (int i = 0; i < n; i++) {
        jobs[i].result = STORE_ERROR;
        jobs[i].id = 0;
        notify |= jobs[i].type != PG_JOB_DELIVERY;
    }
    if (exec_tag(pc, "BEGIN", "BEGIN") < 0)
        return -1;
    /* Delivered to the listeners at COMMIT, not before. */
    if (write_conversions(pc, jobs, n) < 0 || write_touches(pc, jobs, n) < 0 ||
        write_deliveries(pc, jobs, n) < 0 ||
        (notify && exec_tag(pc, "NOTIFY " PG_CHANNEL ", 'ingest'", "NOTIFY") < 0) ||
        exec_tag(pc, "COMMIT", "COMMIT") < 0) {
        if (pc->db)
            PQclear(PQexec(pc->db, "ROLLBACK"));
        return -1;
    }
    return 0;
}

int pg_write_group(struct store_be *st, struct pg_job *jobs, int n)
{
    int rc = -1;
    if (n <= 0 || n > PG_GROUP_MAX) {
        for (int i = 0; i < n; i++)
            jobs[i].result = STORE_ERROR;
        return n == 0 ? 0 : -1;
    }
    pthread_mutex_lock(&st->writer.lock);
    for (int attempt = 1; attempt <= PG_GROUP_ATTEMPTS; attempt++) {
        rc = write_once(&st->writer, jobs, n);
        /* Deadlocks and serialization failures (class 40) are worth another try; a lost
         * connection is not: the sender retries after the 503. */
        if (rc == 0 || !st->writer.db || strncmp(st->writer.sqlstate, "40", 2) != 0)
            break;
        log_warn("store group retried", "sqlstate=%s attempt=%d", st->writer.sqlstate, attempt);
    }
    if (rc < 0)
        for (int i = 0; i < n; i++) {
            jobs[i].result = STORE_ERROR;
            jobs[i].id = 0;
        }
    __atomic_store_n(&st->last_write_failed, rc < 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->writer.lock);
    return rc;
}
