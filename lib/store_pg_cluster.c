/* The cluster rows of the PostgreSQL store: pixel pauses every instance obeys, and each
 * instance's heartbeat (ttrelayctl status lists the instances seen recently). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store_pg.h"
#include "store_pg_internal.h"

#define INSTANCE_KEEP_MS (24LL * 3600 * 1000)

int pg_pause_set(struct store_be *st, const struct store_pause *p)
{
    char *reason = pg_utf8_dup(p->reason);
    pthread_mutex_lock(&st->work.lock);
    long long n = reason ? pg_conn_run(&st->work,
                                       "INSERT INTO pixel_pauses(pixel,kind,reason,since_ms,"
                                       "by_instance) VALUES($1,$2,$3,$4,$5) ON CONFLICT(pixel)"
                                       " DO UPDATE SET kind=excluded.kind,"
                                       " reason=excluded.reason, since_ms=excluded.since_ms,"
                                       " by_instance=excluded.by_instance WHERE"
                                       " excluded.kind='operator' OR pixel_pauses.kind<>'operator'",
                                       "sssis", p->pixel, p->kind, reason, p->since_ms, p->by)
                         : -1;
    pthread_mutex_unlock(&st->work.lock);
    free(reason);
    return n < 0 ? -1 : 0;
}

int pg_pause_clear(struct store_be *st, const char *pixel, const char *kind)
{
    pthread_mutex_lock(&st->work.lock);
    long long n = pg_conn_run(&st->work,
                              "DELETE FROM pixel_pauses WHERE ($1::text IS NULL OR pixel=$1)"
                              " AND ($2::text IS NULL OR kind=$2)",
                              "ss", pixel, kind);
    pthread_mutex_unlock(&st->work.lock);
    return n < 0 ? -1 : (int)n;
}

int pg_pauses(struct store_be *st, struct store_pause **out)
{
    *out = NULL;
    pthread_mutex_lock(&st->work.lock);
    PGresult *r = pg_conn_query(&st->work,
                                "SELECT pixel,kind,reason,since_ms,by_instance FROM pixel_pauses"
                                " ORDER BY pixel",
                                "");
    pthread_mutex_unlock(&st->work.lock);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if ((*out = calloc((size_t)n + 1, sizeof **out)) != NULL)
        for (int i = 0; i < n; i++) {
            struct store_pause *p = &(*out)[i];
            STR_SET(p->pixel, pg_value_text(r, i, 0));
            STR_SET(p->kind, pg_value_text(r, i, 1));
            STR_SET(p->reason, pg_value_text(r, i, 2));
            p->since_ms = pg_value_int(r, i, 3);
            STR_SET(p->by, pg_value_text(r, i, 4));
        }
    PQclear(r);
    return *out ? n : -1;
}

int pg_instance_beat(struct store_be *st, const struct store_instance *in)
{
    pthread_mutex_lock(&st->work.lock);
    long long n = pg_conn_run(
        &st->work,
        "INSERT INTO instances(id,host,pid,version,started_ms,seen_ms,stopped_ms,public_port,"
        "admin_port) VALUES($1,$2,$3,$4,$5,$6,0,$7,$8) ON CONFLICT(id) DO UPDATE SET"
        " seen_ms=excluded.seen_ms, public_port=excluded.public_port,"
        " admin_port=excluded.admin_port",
        "ssisiiii", in->id, in->host, (long long)in->pid, in->version, in->started_ms, in->seen_ms,
        (long long)in->public_port, (long long)in->admin_port);
    if (n >= 0)
        pg_conn_run(&st->work, "DELETE FROM instances WHERE seen_ms<$1", "i",
                    in->seen_ms - INSTANCE_KEEP_MS);
    pthread_mutex_unlock(&st->work.lock);
    return n < 0 ? -1 : 0;
}

int pg_instance_stopped(struct store_be *st, const char *id, long long now_ms)
{
    pthread_mutex_lock(&st->work.lock);
    long long n = pg_conn_run(&st->work, "UPDATE instances SET stopped_ms=$2, seen_ms=$2 WHERE id=$1",
                              "si", id, now_ms);
    pthread_mutex_unlock(&st->work.lock);
    return n < 0 ? -1 : 0;
}

int pg_instances(struct store_be *st, long long since_ms, struct store_instance **out)
{
    *out = NULL;
    pthread_mutex_lock(&st->admin.lock);
    PGresult *r = pg_conn_query(&st->admin,
                                "SELECT id,host,pid,version,started_ms,seen_ms,stopped_ms,"
                                "public_port,admin_port FROM instances WHERE seen_ms>=$1"
                                " ORDER BY started_ms DESC, id LIMIT 1000",
                                "i", since_ms);
    pthread_mutex_unlock(&st->admin.lock);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if ((*out = calloc((size_t)n + 1, sizeof **out)) != NULL)
        for (int i = 0; i < n; i++) {
            struct store_instance *in = &(*out)[i];
            STR_SET(in->id, pg_value_text(r, i, 0));
            STR_SET(in->host, pg_value_text(r, i, 1));
            in->pid = (long)pg_value_int(r, i, 2);
            STR_SET(in->version, pg_value_text(r, i, 3));
            in->started_ms = pg_value_int(r, i, 4);
            in->seen_ms = pg_value_int(r, i, 5);
            in->stopped_ms = pg_value_int(r, i, 6);
            in->public_port = (int)pg_value_int(r, i, 7);
            in->admin_port = (int)pg_value_int(r, i, 8);
        }
    PQclear(r);
    return *out ? n : -1;
}
