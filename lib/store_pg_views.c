/* The admin dashboard's side of the PostgreSQL store: filtered event search, the latest
 * activity per source and pixel, and the attempt log the forwarder writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store_pg.h"
#include "store_pg_internal.h"

/* $1 state (-1 any), $2 source, $3 pixel, $4 kind ("" any), $5/$6 received range, $7 the
 * search text ("" none), $8 include tests. The stored conversion is JSON text. */
#define FILTER_WHERE                                                                               \
    " WHERE ($1<0 OR state=$1) AND ($2='' OR source=$2) AND ($3='' OR pixel=$3)"                   \
    " AND ($4='' OR kind=$4) AND received_ms>=$5 AND received_ms<$6 AND ($8<>0 OR test=0)"         \
    " AND ($7='' OR object_id=$7 OR event_id=$7 OR request_id=$7 OR id::text=$7"                   \
    "  OR id IN (SELECT conv_id FROM conv_refs WHERE ref=$7)"                                      \
    "  OR data::jsonb->>'order_id'=$7 OR data::jsonb->>'delivery_id'=$7"                           \
    "  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN"                               \
    "   jsonb_typeof(data::jsonb->'refs')='array' THEN data::jsonb->'refs' END) AS r WHERE r=$7))"

static void filter_params(struct pg_params *p, const struct store_filter *f)
{
    pg_params_int(p, f->state);
    pg_params_text(p, f->source ? f->source : "");
    pg_params_text(p, f->pixel ? f->pixel : "");
    pg_params_text(p, f->kind ? f->kind : "");
    pg_params_int(p, f->since_ms);
    pg_params_int(p, f->until_ms > 0 ? f->until_ms : (long long)1 << 62);
    pg_params_text(p, f->q ? f->q : "");
    pg_params_int(p, f->include_test);
}

/* A filtered statement on the admin connection; extra values follow as $9, $10. */
static PGresult *run_filter(struct store_be *st, const char *sql, const struct store_filter *f,
                            int nextra, long long e1, long long e2)
{
    struct pg_params p = {0};
    filter_params(&p, f);
    if (nextra > 0)
        pg_params_int(&p, e1);
    if (nextra > 1)
        pg_params_int(&p, e2);
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_exec(&st->admin, sql, &p);
    pthread_mutex_unlock(&st->admin.lock);
    pg_params_free(&p);
    return r;
}

int pg_view_find(struct store_be *st, const struct store_filter *f, int offset, int limit,
                 long long **ids, long long *total)
{
    int n = -1;
    *ids = calloc((size_t)(limit > 0 ? limit : 1), sizeof **ids);
    *total = 0;
    if (!*ids)
        return -1;
    PGresult *r = run_filter(st, "SELECT count(*) FROM conversions" FILTER_WHERE, f, 0, 0, 0);
    if (r && PQntuples(r) == 1) {
        *total = pg_value_int(r, 0, 0);
        PQclear(r);
        r = run_filter(
            st, "SELECT id FROM conversions" FILTER_WHERE " ORDER BY id DESC LIMIT $9 OFFSET $10",
            f, 2, limit > 0 ? limit : 0, offset > 0 ? offset : 0);
        if (r)
            for (n = 0; n < PQntuples(r) && n < limit; n++)
                (*ids)[n] = pg_value_int(r, n, 0);
    }
    PQclear(r);
    if (n < 0) {
        free(*ids);
        *ids = NULL;
    }
    return n;
}

int pg_view_dead_count(struct store_be *st, const struct store_filter *f, long long event_time_min,
                       long long *dead, long long *too_old)
{
    struct store_filter only_dead = *f;
    only_dead.state = EV_DEAD;
    *dead = *too_old = 0;
    PGresult *r = run_filter(st,
                             "SELECT count(*), coalesce(sum((event_time<$9)::int),0) FROM "
                             "conversions" FILTER_WHERE,
                             &only_dead, 1, event_time_min, 0);
    int rc = r && PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0) {
        *dead = pg_value_int(r, 0, 0);
        *too_old = pg_value_int(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

int pg_view_latest(struct store_be *st, const char *by, struct store_latest **out)
{
    const char *sql = strcmp(by, "pixel") == 0
                          ? "SELECT pixel, max(sent_ms) FROM conversions WHERE state=2 AND test=0 "
                            "GROUP BY pixel"
                          : "SELECT source, max(received_ms) FROM conversions GROUP BY source";
    *out = NULL;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_exec(&st->admin, sql, NULL);
    pthread_mutex_unlock(&st->admin.lock);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if ((*out = calloc((size_t)n + 1, sizeof **out)) != NULL)
        for (int i = 0; i < n; i++) {
            STR_SET((*out)[i].name, pg_value_text(r, i, 0));
            (*out)[i].ms = pg_value_int(r, i, 1);
        }
    PQclear(r);
    return *out ? n : -1;
}

int pg_attempt_record(struct store_be *st, const long long *ids, int n,
                      const struct store_attempt *a)
{
    struct pg_params p = {0};
    if (n <= 0)
        return 0;
    /* One statement for the whole batch: every id gets the same answer. */
    pg_params_ids(&p, ids, n);
    pg_params_int(&p, a->at_ms);
    pg_params_int(&p, a->http_status);
    pg_params_int(&p, a->code);
    pg_params_text(&p, a->message);
    pg_params_text(&p, a->request_id);
    pg_params_int(&p, a->latency_ms);
    pg_params_text(&p, a->outcome);
    pg_params_int(&p, a->batch);
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_exec(&st->work,
                               "INSERT INTO attempts(conv_id,at_ms,http_status,code,message,"
                               "request_id,latency_ms,outcome,batch) SELECT c.id,$2,$3,$4,$5,$6,"
                               "$7,$8,$9 FROM conversions c WHERE c.id=ANY($1)",
                               &p);
    pthread_mutex_unlock(&st->work.lock);
    pg_params_free(&p);
    if (!r)
        log_warn("attempts not recorded", "events=%d", n);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_view_attempts(struct store_be *st, long long id, struct store_attempt **out)
{
    *out = NULL;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_query(&st->admin,
                                "SELECT at_ms,http_status,code,message,request_id,latency_ms,"
                                "outcome,batch FROM attempts WHERE conv_id=$1 ORDER BY at_ms, id "
                                "LIMIT 500",
                                "i", id);
    pthread_mutex_unlock(&st->admin.lock);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if ((*out = calloc((size_t)n + 1, sizeof **out)) != NULL)
        for (int i = 0; i < n; i++) {
            struct store_attempt *a = &(*out)[i];
            a->at_ms = pg_value_int(r, i, 0);
            a->http_status = (long)pg_value_int(r, i, 1);
            a->code = (long)pg_value_int(r, i, 2);
            STR_SET(a->message, pg_value_text(r, i, 3));
            STR_SET(a->request_id, pg_value_text(r, i, 4));
            a->latency_ms = (long)pg_value_int(r, i, 5);
            STR_SET(a->outcome, pg_value_text(r, i, 6));
            a->batch = (int)pg_value_int(r, i, 7);
        }
    PQclear(r);
    return *out ? n : -1;
}
