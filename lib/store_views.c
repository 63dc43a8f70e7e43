/* The admin dashboard's side of the SQLite store: filtered event search, the latest
 * activity per source and pixel, and the attempt log the forwarder writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

/* ?1 state (-1 any), ?2 source, ?3 pixel, ?4 kind ("" any), ?5/?6 received range, ?7 the
 * search text ("" none), ?8 include tests. */
#define FILTER_WHERE                                                                               \
    " WHERE (?1<0 OR state=?1) AND (?2='' OR source=?2) AND (?3='' OR pixel=?3)"                   \
    " AND (?4='' OR kind=?4) AND received_ms>=?5 AND received_ms<?6 AND (?8 OR test=0)"            \
    " AND (?7='' OR object_id=?7 OR event_id=?7 OR request_id=?7 OR CAST(id AS TEXT)=?7"           \
    "  OR id IN (SELECT conv_id FROM conv_refs WHERE ref=?7)"                                      \
    "  OR json_extract(data,'$.order_id')=?7 OR json_extract(data,'$.delivery_id')=?7"             \
    "  OR EXISTS (SELECT 1 FROM json_each(data,'$.refs') WHERE value=?7))"

static sqlite3_stmt *prepare_filter(sqlite3 *db, const char *sql, const struct store_filter *f)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(db));
        return NULL;
    }
    sqlite3_bind_int64(s, 1, f->state);
    sqlite3_bind_text(s, 2, f->source ? f->source : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, f->pixel ? f->pixel : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, f->kind ? f->kind : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, f->since_ms);
    sqlite3_bind_int64(s, 6, f->until_ms > 0 ? f->until_ms : (long long)1 << 62);
    sqlite3_bind_text(s, 7, f->q ? f->q : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 8, f->include_test);
    return s;
}

int sqlite_view_find(struct store_be *st, const struct store_filter *f, int offset, int limit,
                    long long **ids, long long *total)
{
    sqlite3_stmt *s = NULL;
    int n = -1;

    *ids = calloc((size_t)(limit > 0 ? limit : 1), sizeof **ids);
    *total = 0;
    if (!*ids)
        return -1;
    pthread_mutex_lock(&st->admin_lock);
    if (!(s = prepare_filter(st->admin, "SELECT count(*) FROM conversions" FILTER_WHERE, f)))
        goto out;
    if (sqlite3_step(s) == SQLITE_ROW)
        *total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = prepare_filter(st->admin,
                       "SELECT id FROM conversions" FILTER_WHERE " ORDER BY id DESC LIMIT ?9 "
                       "OFFSET ?10",
                       f);
    if (!s)
        goto out;
    sqlite3_bind_int(s, 9, limit);
    sqlite3_bind_int(s, 10, offset);
    n = 0;
    while (n < limit && sqlite3_step(s) == SQLITE_ROW)
        (*ids)[n++] = sqlite3_column_int64(s, 0);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    if (n < 0) {
        free(*ids);
        *ids = NULL;
    }
    return n;
}

int sqlite_view_dead_count(struct store_be *st, const struct store_filter *f, long long event_time_min,
                          long long *dead, long long *too_old)
{
    struct store_filter only_dead = *f;
    sqlite3_stmt *s;
    int rc = -1;

    only_dead.state = EV_DEAD;
    *dead = *too_old = 0;
    pthread_mutex_lock(&st->admin_lock);
    s = prepare_filter(
        st->admin, "SELECT count(*), coalesce(sum(event_time<?9),0) FROM conversions" FILTER_WHERE,
        &only_dead);
    if (s) {
        sqlite3_bind_int64(s, 9, event_time_min);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *dead = sqlite3_column_int64(s, 0);
            *too_old = sqlite3_column_int64(s, 1);
            rc = 0;
        }
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->admin_lock);
    return rc;
}

int sqlite_view_latest(struct store_be *st, const char *by, struct store_latest **out)
{
    const char *sql = strcmp(by, "pixel") == 0
                          ? "SELECT pixel, max(sent_ms) FROM conversions WHERE state=2 AND test=0 "
                            "GROUP BY pixel"
                          : "SELECT source, max(received_ms) FROM conversions GROUP BY source";
    sqlite3_stmt *s = NULL;
    int n = 0, cap = 16;

    *out = calloc((size_t)cap, sizeof **out);
    if (!*out)
        return -1;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(st->admin, sql, -1, &s, NULL) != SQLITE_OK) {
        n = -1;
        goto out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            struct store_latest *more = realloc(*out, (size_t)cap * 2 * sizeof **out);
            if (!more)
                break;
            *out = more;
            cap *= 2;
        }
        const unsigned char *name = sqlite3_column_text(s, 0);
        STR_SET((*out)[n].name, name ? (const char *)name : "");
        (*out)[n].ms = sqlite3_column_int64(s, 1);
        n++;
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    if (n < 0) {
        free(*out);
        *out = NULL;
    }
    return n;
}

int sqlite_attempt_record(struct store_be *st, const long long *ids, int n,
                         const struct store_attempt *a)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;

    pthread_mutex_lock(&st->work_lock);
    if (sqlite3_exec(st->work, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(st->work,
                           "INSERT INTO attempts(conv_id,at_ms,http_status,code,message,request_id,"
                           "latency_ms,outcome,batch) VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &s, NULL) != SQLITE_OK)
        goto rollback;
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, a->at_ms);
        sqlite3_bind_int64(s, 3, a->http_status);
        sqlite3_bind_int64(s, 4, a->code);
        sqlite3_bind_text(s, 5, a->message, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, a->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, a->latency_ms);
        sqlite3_bind_text(s, 8, a->outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 9, a->batch);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto rollback;
        sqlite3_reset(s);
    }
    if (sqlite3_exec(st->work, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        rc = 0;
        goto out;
    }
rollback:
    log_warn("attempts not recorded", "error=\"%s\"", sqlite3_errmsg(st->work));
    sqlite3_exec(st->work, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->work_lock);
    return rc;
}

int sqlite_view_attempts(struct store_be *st, long long id, struct store_attempt **out)
{
    sqlite3_stmt *s = NULL;
    int n = 0, cap = 8;

    *out = calloc((size_t)cap, sizeof **out);
    if (!*out)
        return -1;
    pthread_mutex_lock(&st->admin_lock);
    if (sqlite3_prepare_v2(st->admin,
                           "SELECT at_ms,http_status,code,message,request_id,latency_ms,outcome,"
                           "batch FROM attempts WHERE conv_id=?1 ORDER BY at_ms, id LIMIT 500",
                           -1, &s, NULL) != SQLITE_OK) {
        n = -1;
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            struct store_attempt *more = realloc(*out, (size_t)cap * 2 * sizeof **out);
            if (!more)
                break;
            *out = more;
            cap *= 2;
        }
        struct store_attempt *a = &(*out)[n++];
        a->at_ms = sqlite3_column_int64(s, 0);
        a->http_status = (long)sqlite3_column_int64(s, 1);
        a->code = (long)sqlite3_column_int64(s, 2);
        STR_SET(a->message, (const char *)sqlite3_column_text(s, 3));
        STR_SET(a->request_id, (const char *)sqlite3_column_text(s, 4));
        a->latency_ms = (long)sqlite3_column_int64(s, 5);
        STR_SET(a->outcome, (const char *)sqlite3_column_text(s, 6));
        a->batch = sqlite3_column_int(s, 7);
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    if (n < 0) {
        free(*out);
        *out = NULL;
    }
    return n;
}
