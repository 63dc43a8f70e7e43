/* The PostgreSQL store's sender side: claims with a token and a lease, results fenced by
 * the token, one sender per pixel across instances (a session advisory lock), purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_pg.h"
#include "store_pg_internal.h"

int pg_due_events(struct store_be *st, const char *pixel, long long now, int limit,
                  struct event_row **rows)
{
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_query(&st->work,
                                "SELECT " PG_EVENT_COLS_NO_DATA " FROM conversions WHERE state IN "
                                "(1,3) AND due_ms<=$1 AND pixel=$2 ORDER BY id LIMIT $3",
                                "isi", now, pixel ? pixel : "", pg_limit(limit));
    pthread_mutex_unlock(&st->work.lock);
    return pg_take_events(r, rows);
}

int pg_due_pixels(struct store_be *st, long long now, char ***pixels)
{
    *pixels = NULL;
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_query(&st->work,
                                "SELECT pixel FROM conversions WHERE (state IN (1,3) AND "
                                "due_ms<=$1) OR (state=7 AND lease_until<=$1) GROUP BY pixel "
                                "ORDER BY min(CASE WHEN state=7 THEN lease_until ELSE due_ms END), "
                                "pixel",
                                "i", now);
    pthread_mutex_unlock(&st->work.lock);
    if (!r)
        return -1;
    int n = PQntuples(r);
    char **out = calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; out && i < n; i++)
        if (!(out[i] = strdup(PQgetvalue(r, i, 0)))) {
            for (int k = 0; k < i; k++)
                free(out[k]);
            free(out);
            out = NULL;
        }
    PQclear(r);
    *pixels = out;
    return out ? n : -1;
}

long long pg_oldest_due_ms(struct store_be *st)
{
    pthread_mutex_lock(&st->work.lock);
    /* Claimed rows still wait for their result: SQLite's stay ready while being sent. */
    PGresult *r = pg_conn_query(
        &st->work, "SELECT min(received_ms) FROM conversions WHERE state IN (1,3,7)", "");
    pthread_mutex_unlock(&st->work.lock);
    long long oldest = r && PQntuples(r) == 1 ? pg_value_int(r, 0, 0) : -1;
    PQclear(r);
    return oldest;
}

int pg_oldest_held_due(struct store_be *st, long long *due_ms)
{
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_query(&st->work, "SELECT min(due_ms) FROM conversions WHERE state=0", "");
    pthread_mutex_unlock(&st->work.lock);
    int rc = -1;
    *due_ms = 0;
    if (r && PQntuples(r) == 1) {
        rc = !PQgetisnull(r, 0, 0);
        *due_ms = rc ? pg_value_int(r, 0, 0) : 0;
    }
    PQclear(r);
    return rc;
}

int pg_claim_due(struct store_be *st, const char *pixel, long long now_ms, int limit,
                 long long lease_ms, const char *token, struct event_row **rows)
{
    char owner[128];
    *rows = NULL;
    if (!token || !token[0] || limit <= 0)
        return limit == 0 ? 0 : -1;
    const char *dot = strrchr(token, '.');
    /* "<owner>." : the prefix of every token of this owner (see store_claim_due). */
    snprintf(owner, sizeof owner, "%.*s", dot ? (int)(dot - token + 1) : 0, token);
    pthread_mutex_lock(&st->work.lock);
    /* Holding the pixel's lock in this very session (one sender per pixel across the
     * cluster; checked in the statement, so a reconnect in between cannot fake it) means
     * that any other owner's claim on this pixel is an orphan: its owner's session, and so
     * its lock, ended (a crash, a lost connection). Those claims are taken over at once
     * rather than when their lease expires; the old owner's late results are fenced by the
     * token. */
    /* SKIP LOCKED: rows another instance is claiming right now are left to it rather than
     * waited for; the lock lasts only this statement, the lease what follows. */
    PGresult *r = pg_conn_query(
        &st->work,
        "WITH c AS (SELECT id, state AS was, claim_token AS old FROM conversions WHERE pixel=$1"
        " AND ((state IN (1,3) AND due_ms<=$2) OR (state=7 AND (lease_until<=$2 OR EXISTS (SELECT 1"
        " FROM pg_locks l WHERE l.locktype='advisory' AND l.pid=pg_backend_pid() AND l.granted"
        " AND l.classid=$7::int4::oid AND l.objid=hashtext($1)::oid AND l.objsubid=2) OR"
        " ($6<>'' AND left(claim_token, length($6))=$6))))"
        " ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE conversions v SET state=7, claim_token=$4, lease_until=$2+$5,"
        " reclaims=v.reclaims+(c.was=7 AND NOT ($6<>'' AND left(c.old, length($6))=$6))::int"
        " FROM c WHERE v.id=c.id"
        " RETURNING v.*, (c.was=7 AND NOT ($6<>'' AND left(c.old, length($6))=$6))::int AS was)"
        " SELECT " PG_EVENT_COLS_NO_DATA ", was FROM u ORDER BY id",
        "siisisi", pixel ? pixel : "", now_ms, (long long)limit, token, lease_ms, owner,
        (long long)PG_LOCK_PIXEL);
    pthread_mutex_unlock(&st->work.lock);
    long long reclaimed = 0;
    for (int i = 0; r && i < PQntuples(r); i++)
        reclaimed += pg_value_int(r, i, 22) == 1;
    if (reclaimed > 0) {
        __atomic_add_fetch(&st->reclaimed, reclaimed, __ATOMIC_RELAXED);
        log_warn("claims of another instance taken over (its lock or lease ended); they are "
                 "resent with their event_ids",
                 "pixel=%s events=%lld", pixel ? pixel : "", reclaimed);
    }
    return pg_take_events(r, rows);
}

int pg_release(struct store_be *st, const char *token)
{
    pthread_mutex_lock(&st->work.lock);
    long long n = pg_conn_run(&st->work,
                              "UPDATE conversions SET state=1, lease_until=NULL WHERE state=7 AND "
                              "claim_token=$1",
                              "s", token ? token : "");
    pthread_mutex_unlock(&st->work.lock);
    return n < 0 ? -1 : (int)n;
}

long long pg_reclaimed(struct store_be *st)
{
    return __atomic_load_n(&st->reclaimed, __ATOMIC_RELAXED);
}

/* Applies set to the rows of ids: $2 is text, $3 a number; with a token only to rows this
 * claim still holds. Rows changed or -1. */
static int mark(struct store_be *st, const char *set, const long long *ids, int n,
                const char *token, const char *text, long long num)
{
    struct pg_params p = {0};
    char sql[512];

    if (n <= 0)
        return 0;
    snprintf(sql, sizeof sql, "UPDATE conversions SET %s, lease_until=NULL WHERE id=ANY($1)%s", set,
             token ? " AND state=7 AND claim_token=$4" : "");
    pg_params_ids(&p, ids, n);
    pg_params_text(&p, text ? text : "");
    pg_params_int(&p, num);
    pg_params_text(&p, token);
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_exec(&st->work, sql, &p);
    pthread_mutex_unlock(&st->work.lock);
    pg_params_free(&p);
    if (!r)
        return -1;
    int changed = atoi(PQcmdTuples(r));
    PQclear(r);
    if (token && changed < n)
        log_warn("stale claim: results not recorded", "events=%d claim_lost=%d", n, n - changed);
    return changed;
}

int pg_mark_sent(struct store_be *st, const long long *ids, int n, const char *token,
                 const char *request_id, long long now)
{
    return mark(st, "state=2, request_id=$2, sent_ms=$3, attempts=attempts+1, last_error=''", ids,
                n, token, request_id, now);
}

int pg_mark_retry(struct store_be *st, const long long *ids, int n, const char *token,
                  long long due_ms, const char *error)
{
    return mark(st, "state=3, last_error=$2, due_ms=$3, attempts=attempts+1", ids, n, token, error,
                due_ms);
}

int pg_mark_dead(struct store_be *st, const long long *ids, int n, const char *token,
                 const char *error)
{
    return mark(st, "state=4, last_error=$2", ids, n, token, error, 0);
}

int pg_mark_dry_run(struct store_be *st, const long long *ids, int n, const char *token,
                    long long now)
{
    return mark(st, "state=6, due_ms=$3, last_error='', request_id=NULLIF($2, '')", ids, n, token,
                "", now);
}

int pg_mark_ignored(struct store_be *st, const long long *ids, int n, const char *token,
                    const char *reason)
{
    return mark(st, "state=5, last_error=$2", ids, n, token, reason, 0);
}

/* Forgets the locks of a connection that was lost (the server released them). */
static int held_index(struct store_be *st, const char *pixel)
{
    if (st->held_generation != st->work.generation) {
        st->nheld = 0;
        st->held_generation = st->work.generation;
    }
    for (int i = 0; i < st->nheld; i++)
        if (!strcmp(st->held[i], pixel))
            return i;
    return -1;
}

int pg_pixel_lock(struct store_be *st, const char *pixel)
{
    int rc = -1;
    pthread_mutex_lock(&st->work.lock);
    if (pg_conn_ready(&st->work) < 0)
        goto out;
    int held = held_index(st, pixel) >= 0;
    if (!held && st->nheld == PG_PIXELS_HELD_MAX) {
        log_error("too many pixel locks held", "max=%d", PG_PIXELS_HELD_MAX);
        goto out;
    }
    /* A round trip even when held: it proves the session (and so the lock) still lives.
     * Taking a lock already held stacks it, so the second hold is released at once. */
    PGresult *r = pg_conn_query(&st->work,
                                "SELECT CASE WHEN pg_try_advisory_lock($1::int4, hashtext($2)) "
                                "THEN CASE WHEN $3 = 1 THEN pg_advisory_unlock($1::int4, "
                                "hashtext($2)) ELSE true END ELSE false END",
                                "isi", (long long)PG_LOCK_PIXEL, pixel, (long long)held);
    if (r && PQntuples(r) == 1) {
        rc = PQgetvalue(r, 0, 0)[0] == 't';
        if (rc == 1 && held_index(st, pixel) < 0)
            STR_SET(st->held[st->nheld++], pixel);
    }
    PQclear(r);
out:
    pthread_mutex_unlock(&st->work.lock);
    return rc;
}

int pg_pixel_unlock(struct store_be *st, const char *pixel)
{
    int rc = 0;
    pthread_mutex_lock(&st->work.lock);
    int i = st->work.db ? held_index(st, pixel) : -1;
    if (i >= 0) {
        PGresult *r = pg_conn_query(&st->work, "SELECT pg_advisory_unlock($1::int4, hashtext($2))",
                                    "is", (long long)PG_LOCK_PIXEL, pixel);
        rc = r ? 0 : -1;
        PQclear(r);
        st->held[i][0] = '\0';
        memmove(st->held[i], st->held[i + 1], (size_t)(st->nheld - i - 1) * sizeof st->held[0]);
        st->nheld--;
    }
    pthread_mutex_unlock(&st->work.lock);
    return rc;
}

void pg_checkpoint(struct store_be *st, long long now_ms)
{
}

#define DELIVERY_KEEP_S (7 * 86400)
#define DELIVERY_KEEP_ROWS 100000

long pg_purge(struct store_be *st, long long now_s, long touch_window_s, long visitor_window_s,
              long retention_s)
{
    struct pg_conn *pc = &st->work;
    long total = -1;
    long long n;

    pthread_mutex_lock(&pc->lock);
    PGresult *r = pg_conn_exec(pc, "BEGIN", NULL);
    if (!r)
        goto out;
    PQclear(r);
    /* One instance purges at a time; the others find the lock taken and skip. */
    r = pg_conn_query(pc, "SELECT pg_try_advisory_xact_lock($1::int4, 0)", "i",
                      (long long)PG_LOCK_PURGE);
    if (!r)
        goto rollback;
    int mine = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!mine) {
        total = 0;
        goto rollback;
    }
    long long before_ms = (now_s - retention_s) * 1000;
    struct {
        const char *sql;
        long long arg;
    } steps[] = {
        {"DELETE FROM touches WHERE ts<$1", now_s - touch_window_s},
        {"DELETE FROM visitors WHERE last_seen<$1", now_s - visitor_window_s},
        {"DELETE FROM visitor_keys WHERE seen<$1", now_s - visitor_window_s},
        /* Business keys outlive every sender's retries; only finished events go. */
        {"DELETE FROM conv_refs WHERE conv_id IN (SELECT id FROM conversions "
         "WHERE state IN (2,4,5) AND received_ms<$1)",
         before_ms},
        {"DELETE FROM conversions WHERE state IN (2,4,5) AND received_ms<$1", before_ms},
        /* The delivery log: a week, and a bounded number of rows whatever a flood does. */
        {"DELETE FROM deliveries WHERE ts_ms<$1", (now_s - DELIVERY_KEEP_S) * 1000},
        {"DELETE FROM deliveries WHERE id<=(SELECT max(id) FROM deliveries)-$1",
         DELIVERY_KEEP_ROWS},
    };
    long removed = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if ((n = pg_conn_run(pc, steps[i].sql, "i", steps[i].arg)) < 0)
            goto rollback;
        removed += (long)n;
    }
    r = pg_conn_exec(pc, "COMMIT", NULL);
    if (r && !strcmp(PQcmdStatus(r), "COMMIT"))
        total = removed;
    PQclear(r);
    goto out;
rollback:
    if (pc->db)
        PQclear(PQexec(pc->db, "ROLLBACK"));
out:
    pthread_mutex_unlock(&pc->lock);
    return total;
}
