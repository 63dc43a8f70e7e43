/* The cluster rows of the SQLite store: pixel pauses and the instances' heartbeats. One
 * process uses a SQLite store, but the rows keep the same meaning as on PostgreSQL: a pause
 * outlives a restart, and `ttrelayctl status` lists the instance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

#define INSTANCE_KEEP_MS (24LL * 3600 * 1000)

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

static const char *col_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? (const char *)t : "";
}

/* Steps s on the work connection (its lock held) to the end; changes or -1. */
static int finish(struct store_be *st, sqlite3_stmt *s)
{
    int rc = s && sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(st->work) : -1;
    if (s && rc < 0)
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(st->work));
    sqlite3_finalize(s);
    return rc;
}

int sqlite_pause_set(struct store_be *st, const struct store_pause *p)
{
    pthread_mutex_lock(&st->work_lock);
    sqlite3_stmt *s = prepare(
        st->work, "INSERT INTO pixel_pauses(pixel,kind,reason,since_ms,by_instance)"
                  " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(pixel) DO UPDATE SET kind=excluded.kind,"
                  " reason=excluded.reason, since_ms=excluded.since_ms,"
                  " by_instance=excluded.by_instance"
                  " WHERE excluded.kind='operator' OR pixel_pauses.kind<>'operator'");
    if (s) {
        sqlite3_bind_text(s, 1, p->pixel, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, p->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, p->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, p->since_ms);
        sqlite3_bind_text(s, 5, p->by, -1, SQLITE_STATIC);
    }
    int rc = finish(st, s);
    pthread_mutex_unlock(&st->work_lock);
    return rc < 0 ? -1 : 0;
}

int sqlite_pause_clear(struct store_be *st, const char *pixel, const char *kind)
{
    pthread_mutex_lock(&st->work_lock);
    sqlite3_stmt *s = prepare(st->work, "DELETE FROM pixel_pauses WHERE (?1 IS NULL OR pixel=?1)"
                                        " AND (?2 IS NULL OR kind=?2)");
    if (s) {
        sqlite3_bind_text(s, 1, pixel, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    }
    int rc = finish(st, s);
    pthread_mutex_unlock(&st->work_lock);
    return rc;
}

int sqlite_pauses(struct store_be *st, struct store_pause **out)
{
    int n = 0, cap = 0;
    *out = NULL;
    pthread_mutex_lock(&st->work_lock);
    sqlite3_stmt *s = prepare(
        st->work, "SELECT pixel,kind,reason,since_ms,by_instance FROM pixel_pauses ORDER BY pixel");
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct store_pause *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown)
                break;
            *out = grown;
        }
        struct store_pause *p = &(*out)[n++];
        memset(p, 0, sizeof *p);
        STR_SET(p->pixel, col_text(s, 0));
        STR_SET(p->kind, col_text(s, 1));
        STR_SET(p->reason, col_text(s, 2));
        p->since_ms = sqlite3_column_int64(s, 3);
        STR_SET(p->by, col_text(s, 4));
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->work_lock);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return n;
}

int sqlite_instance_beat(struct store_be *st, const struct store_instance *in)
{
    pthread_mutex_lock(&st->work_lock);
    sqlite3_stmt *s = prepare(
        st->work,
        "INSERT INTO instances(id,host,pid,version,started_ms,seen_ms,stopped_ms,public_port,"
        "admin_port) VALUES(?1,?2,?3,?4,?5,?6,0,?7,?8) ON CONFLICT(id) DO UPDATE SET"
        " seen_ms=excluded.seen_ms, public_port=excluded.public_port,"
        " admin_port=excluded.admin_port");
    if (s) {
        sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, in->host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, in->pid);
        sqlite3_bind_text(s, 4, in->version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, in->started_ms);
        sqlite3_bind_int64(s, 6, in->seen_ms);
        sqlite3_bind_int(s, 7, in->public_port);
        sqlite3_bind_int(s, 8, in->admin_port);
    }
    int rc = finish(st, s);
    if (rc >= 0) {
        s = prepare(st->work, "DELETE FROM instances WHERE seen_ms<?1");
        if (s)
            sqlite3_bind_int64(s, 1, in->seen_ms - INSTANCE_KEEP_MS);
        finish(st, s);
    }
    pthread_mutex_unlock(&st->work_lock);
    return rc < 0 ? -1 : 0;
}

int sqlite_instance_stopped(struct store_be *st, const char *id, long long now_ms)
{
    pthread_mutex_lock(&st->work_lock);
    sqlite3_stmt *s =
        prepare(st->work, "UPDATE instances SET stopped_ms=?2, seen_ms=?2 WHERE id=?1");
    if (s) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now_ms);
    }
    int rc = finish(st, s);
    pthread_mutex_unlock(&st->work_lock);
    return rc < 0 ? -1 : 0;
}

int sqlite_instances(struct store_be *st, long long since_ms, struct store_instance **out)
{
    int n = 0, cap = 0;
    *out = NULL;
    pthread_mutex_lock(&st->admin_lock);
    sqlite3_stmt *s = prepare(st->admin,
                              "SELECT id,host,pid,version,started_ms,seen_ms,stopped_ms,"
                              "public_port,admin_port FROM instances WHERE seen_ms>=?1"
                              " ORDER BY started_ms DESC, id LIMIT 1000");
    if (s)
        sqlite3_bind_int64(s, 1, since_ms);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct store_instance *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown)
                break;
            *out = grown;
        }
        struct store_instance *in = &(*out)[n++];
        memset(in, 0, sizeof *in);
        STR_SET(in->id, col_text(s, 0));
        STR_SET(in->host, col_text(s, 1));
        in->pid = (long)sqlite3_column_int64(s, 2);
        STR_SET(in->version, col_text(s, 3));
        in->started_ms = sqlite3_column_int64(s, 4);
        in->seen_ms = sqlite3_column_int64(s, 5);
        in->stopped_ms = sqlite3_column_int64(s, 6);
        in->public_port = sqlite3_column_int(s, 7);
        in->admin_port = sqlite3_column_int(s, 8);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->admin_lock);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return n;
}
