/* The PostgreSQL store: connections per role, statement helpers, the schema and its
 * migration, and wake-ups by LISTEN/NOTIFY. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store_backend.h"
#include "store_pg.h"
#include "store_pg_internal.h"

#define PG_SCHEMA_VERSION 7

/* ---- parameters and SQL text ---- */

static void params_push(struct pg_params *p, char *v, Oid type, int is_null)
{
    if (!p->failed && p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        char **nv = realloc(p->v, (size_t)cap * sizeof *nv);
        if (nv)
            p->v = nv;
        Oid *nt = nv ? realloc(p->types, (size_t)cap * sizeof *nt) : NULL;
        if (nt)
            p->types = nt;
        if (!nv || !nt)
            p->failed = 1;
        else
            p->cap = cap;
    }
    if (p->failed || (!v && !is_null)) {
        p->failed = 1;
        free(v);
        return;
    }
    p->v[p->n] = v;
    p->types[p->n++] = type;
}

void pg_params_text(struct pg_params *p, const char *s)
{
    params_push(p, s ? pg_utf8_dup(s) : NULL, PG_TEXT, !s);
}

void pg_params_int(struct pg_params *p, long long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", v);
    params_push(p, strdup(buf), PG_INT8, 0);
}

void pg_params_ids(struct pg_params *p, const long long *ids, int n)
{
    struct pg_sql q = {0};
    pg_sql_add(&q, "{");
    for (int i = 0; i < n; i++)
        pg_sql_add(&q, "%s%lld", i ? "," : "", ids[i]);
    pg_sql_add(&q, "}");
    if (q.failed) {
        free(q.s);
        q.s = NULL;
    }
    params_push(p, q.s, 1016 /* int8[] */, 0);
}

void pg_params_free(struct pg_params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    free(p->types);
    memset(p, 0, sizeof *p);
}

void pg_sql_add(struct pg_sql *q, const char *fmt, ...)
{
    va_list ap;
    if (q->failed)
        return;
    for (;;) {
        size_t room = q->cap - q->len;
        va_start(ap, fmt);
        int w = q->s ? vsnprintf(q->s + q->len, room, fmt, ap) : -2;
        va_end(ap);
        if (w >= 0 && (size_t)w < room) {
            q->len += (size_t)w;
            return;
        }
        if (w == -1) {
            q->failed = 1;
            return;
        }
        size_t cap = q->cap ? q->cap * 2 : 256;
        while (w > 0 && cap < q->len + (size_t)w + 1)
            cap *= 2;
        char *s = realloc(q->s, cap);
        if (!s) {
            q->failed = 1;
            return;
        }
        q->s = s;
        q->cap = cap;
    }
}

/* Length of the valid UTF-8 sequence at s (PostgreSQL's rules: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static int utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int n = s[0] >= 0xc2 && s[0] <= 0xdf   ? 2
            : s[0] >= 0xe0 && s[0] <= 0xef ? 3
            : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                           : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

char *pg_utf8_dup(const char *s)
{
    char *out = strdup(s);
    if (!out)
        return NULL;
    for (unsigned char *p = (unsigned char *)out; *p;) {
        int n = utf8_len(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
    return out;
}

/* ---- connections and statements ---- */

static void conn_close(struct pg_conn *pc)
{
    if (pc->db)
        PQfinish(pc->db);
    pc->db = NULL;
}

/* The server's notices (and an error between queries, such as the end of a terminated
 * session) go to the log, not to stderr unformatted. */
static void notice_to_log(void *arg, const char *message)
{
    const struct pg_conn *pc = arg;
    char msg[300];
    log_warn("store notice", "role=%s message=%s", pc->role, log_quote(message, msg, sizeof msg));
}

int pg_conn_ready(struct pg_conn *pc)
{
    if (pc->db && PQstatus(pc->db) == CONNECTION_OK)
        return 0;
    conn_close(pc);
    char app[64];
    snprintf(app, sizeof app, "ttrelayd-%s", pc->role);
    /* Defaults first: what the operator's conninfo (expanded from dbname) says wins. */
    const char *keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", NULL};
    const char *vals[] = {"5", app, "UTF8", pc->conninfo, NULL};
    pc->db = PQconnectdbParams(keys, vals, 1);
    if (!pc->db || PQstatus(pc->db) != CONNECTION_OK) {
        char msg[256];
        log_error("store connection failed", "role=%s error=%s", pc->role,
                  log_quote(pc->db ? PQerrorMessage(pc->db) : "out of memory", msg, sizeof msg));
        conn_close(pc);
        return -1;
    }
    PQsetNoticeProcessor(pc->db, notice_to_log, pc);
    pc->generation++;
    return 0;
}

/* A statement's result, or NULL when it failed (logged; a lost connection is closed). */
static PGresult *conn_result(struct pg_conn *pc, PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(pc->sqlstate, sizeof pc->sqlstate, "%s", state ? state : "");
    char msg[300];
    log_error("store statement failed", "role=%s sqlstate=%s error=%s", pc->role,
              pc->sqlstate[0] ? pc->sqlstate : "none",
              log_quote(PQerrorMessage(pc->db), msg, sizeof msg));
    PQclear(r);
    if (PQstatus(pc->db) != CONNECTION_OK)
        conn_close(pc);
    return NULL;
}

PGresult *pg_conn_exec(struct pg_conn *pc, const char *sql, const struct pg_params *p)
{
    pc->sqlstate[0] = '\0';
    if ((p && p->failed) || pg_conn_ready(pc) < 0)
        return NULL;
    return conn_result(pc, PQexecParams(pc->db, sql, p ? p->n : 0, p ? p->types : NULL,
                                        p ? (const char *const *)p->v : NULL, NULL, NULL, 0));
}

PGresult *pg_conn_exec_prepared(struct pg_conn *pc, const char *sql, const struct pg_params *p)
{
    char name[16];
    int i;

    pc->sqlstate[0] = '\0';
    if ((p && p->failed) || pg_conn_ready(pc) < 0)
        return NULL;
    if (pc->prepared_generation != pc->generation) {
        pc->nprepared = 0;
        pc->prepared_generation = pc->generation;
    }
    for (i = 0; i < pc->nprepared && pc->prepared[i] != sql; i++)
        ;
    if (i == PG_PREPARED_MAX)
        return pg_conn_exec(pc, sql, p);
    snprintf(name, sizeof name, "ttr%d", i);
    if (i == pc->nprepared) {
        PGresult *r = conn_result(pc, PQprepare(pc->db, name, sql, p ? p->n : 0,
                                                p ? p->types : NULL));
        if (!r)
            return NULL;
        PQclear(r);
        pc->prepared[pc->nprepared++] = sql;
    }
    return conn_result(pc, PQexecPrepared(pc->db, name, p ? p->n : 0,
                                          p ? (const char *const *)p->v : NULL, NULL, NULL, 0));
}

static PGresult *conn_vquery(struct pg_conn *pc, int prepared, const char *sql, const char *fmt,
                             va_list ap)
{
    struct pg_params p = {0};
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 'i')
            pg_params_int(&p, va_arg(ap, long long));
        else
            pg_params_text(&p, va_arg(ap, const char *));
    }
    PGresult *r = prepared ? pg_conn_exec_prepared(pc, sql, &p) : pg_conn_exec(pc, sql, &p);
    pg_params_free(&p);
    return r;
}

PGresult *pg_conn_vquery(struct pg_conn *pc, const char *sql, const char *fmt, va_list ap)
{
    return conn_vquery(pc, 0, sql, fmt, ap);
}

PGresult *pg_conn_vquery_prepared(struct pg_conn *pc, const char *sql, const char *fmt,
                                  va_list ap)
{
    return conn_vquery(pc, 1, sql, fmt, ap);
}

PGresult *pg_conn_query(struct pg_conn *pc, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = pg_conn_vquery(pc, sql, fmt, ap);
    va_end(ap);
    return r;
}

long long pg_conn_run(struct pg_conn *pc, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = pg_conn_vquery(pc, sql, fmt, ap);
    va_end(ap);
    if (!r)
        return -1;
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : atoll(PQcmdTuples(r));
    PQclear(r);
    return n;
}

long long pg_value_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *pg_value_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

char *pg_value_dup(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* libpq's messages span lines and end in a newline; the caller's error is one line. */
static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        s[--len] = '\0';
}

/* ---- schema ---- */

/* The SQLite store's schema, versions 1-5, in PostgreSQL's types (identity columns take
 * explicit ids, so that an SQLite store can be copied in), then what claims need. */
static const char *const schema_steps[PG_SCHEMA_VERSION] = {
    "CREATE TABLE conversions("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, source TEXT NOT NULL,"
    " kind TEXT NOT NULL, object_id TEXT NOT NULL, pixel TEXT NOT NULL, state INTEGER NOT NULL,"
    " test INTEGER NOT NULL DEFAULT 0, received_ms BIGINT NOT NULL, due_ms BIGINT NOT NULL,"
    " sent_ms BIGINT, event_time BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " event_name TEXT, event_id TEXT, matched_by TEXT, touch_id BIGINT, last_error TEXT,"
    " request_id TEXT, data TEXT NOT NULL, payload TEXT, UNIQUE(source, kind, object_id));"
    "CREATE INDEX conversions_due ON conversions(state, due_ms);"
    "CREATE INDEX conversions_received ON conversions(received_ms);"
    "CREATE TABLE conv_refs(ref TEXT NOT NULL, conv_id BIGINT NOT NULL);"
    "CREATE INDEX conv_refs_ref ON conv_refs(ref);"
    "CREATE INDEX conv_refs_conv ON conv_refs(conv_id);"
    "CREATE TABLE touches("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, vid TEXT NOT NULL,"
    " event TEXT NOT NULL, event_id TEXT NOT NULL, order_id TEXT NOT NULL, ttclid TEXT NOT NULL,"
    " ttp TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL, url TEXT NOT NULL,"
    " referrer TEXT NOT NULL, email_hash TEXT NOT NULL, phone_hash TEXT NOT NULL,"
    " value TEXT NOT NULL, currency TEXT NOT NULL, ts BIGINT NOT NULL, consumed_by BIGINT);"
    "CREATE INDEX touches_vid ON touches(vid, ts);"
    "CREATE INDEX touches_order ON touches(order_id) WHERE order_id <> '';"
    "CREATE INDEX touches_event_id ON touches(event_id) WHERE event_id <> '';"
    "CREATE INDEX touches_ip ON touches(ip, ts);"
    "CREATE INDEX touches_ts ON touches(ts);"
    "CREATE TABLE visitors("
    " vid TEXT PRIMARY KEY, ttclid TEXT NOT NULL DEFAULT '', ttp TEXT NOT NULL DEFAULT '',"
    " ip TEXT NOT NULL DEFAULT '', user_agent TEXT NOT NULL DEFAULT '',"
    " url TEXT NOT NULL DEFAULT '', referrer TEXT NOT NULL DEFAULT '',"
    " last_seen BIGINT NOT NULL);"
    "CREATE INDEX visitors_seen ON visitors(last_seen);"
    "CREATE TABLE visitor_keys(key TEXT NOT NULL, vid TEXT NOT NULL, seen BIGINT NOT NULL,"
    " PRIMARY KEY(key, vid));"
    "CREATE INDEX visitor_keys_seen ON visitor_keys(seen);",

    "ALTER TABLE conversions ADD COLUMN match_info TEXT;",

    "UPDATE conversions SET state=6, sent_ms=NULL, request_id=NULL WHERE state=2 AND "
    "request_id='dry-run';"
    "CREATE TABLE deliveries(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " ts_ms BIGINT NOT NULL, source TEXT NOT NULL, status INTEGER NOT NULL,"
    " result TEXT NOT NULL, reason TEXT NOT NULL, delivery_id TEXT NOT NULL,"
    " conversion_id BIGINT);"
    "CREATE INDEX deliveries_ts ON deliveries(ts_ms);",

    /* v4: each visitor's latest consent as ttr.js reported it (0 unknown, 1 granted,
     * -1 denied). */
    "ALTER TABLE visitors ADD COLUMN consent INTEGER NOT NULL DEFAULT 0;",

    /* v5: every attempt to send an event (the dashboard's timeline), removed with its
     * conversion. */
    "CREATE TABLE attempts(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " conv_id BIGINT NOT NULL REFERENCES conversions(id) ON DELETE CASCADE,"
    " at_ms BIGINT NOT NULL, http_status BIGINT NOT NULL, code BIGINT NOT NULL,"
    " message TEXT NOT NULL, request_id TEXT NOT NULL, latency_ms BIGINT NOT NULL,"
    " outcome TEXT NOT NULL, batch INTEGER NOT NULL);"
    "CREATE INDEX attempts_conv ON attempts(conv_id, at_ms);",

    /* v6: claims. A sending event belongs to claim_token until lease_until; reclaims
     * counts the claims taken over from an expired lease (a possible second send). */
    "ALTER TABLE conversions ADD COLUMN claim_token TEXT,"
    " ADD COLUMN lease_until BIGINT, ADD COLUMN reclaims INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX conversions_claim ON conversions(pixel, id) WHERE state IN (1, 3, 7);",

    /* v7: the cluster's rows: pixel pauses every instance obeys, instances' heartbeats. */
    "CREATE TABLE pixel_pauses(pixel TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " reason TEXT NOT NULL, since_ms BIGINT NOT NULL, by_instance TEXT NOT NULL);"
    "CREATE TABLE instances(id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL,"
    " version TEXT NOT NULL, started_ms BIGINT NOT NULL, seen_ms BIGINT NOT NULL,"
    " stopped_ms BIGINT NOT NULL DEFAULT 0, public_port INTEGER NOT NULL DEFAULT 0,"
    " admin_port INTEGER NOT NULL DEFAULT 0);",
};

static int exec_plain(struct pg_conn *pc, const char *sql)
{
    PGresult *r = PQexec(pc->db, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0) {
        char msg[300];
        log_error("store statement failed", "role=%s error=%s", pc->role,
                  log_quote(PQerrorMessage(pc->db), msg, sizeof msg));
    }
    PQclear(r);
    return rc;
}

/* Instances starting together: the first takes the lock and migrates, the others wait for
 * its commit and find the schema current. */
static int migrate(struct pg_conn *pc, char *err, size_t errlen)
{
    int version = 0;
    PGresult *r = NULL;

    if (exec_plain(pc, "BEGIN") < 0)
        goto fail;
    if (!(r = pg_conn_query(pc, "SELECT pg_advisory_xact_lock($1::int4, 0)", "i",
                            (long long)PG_LOCK_MIGRATE)))
        goto rollback;
    PQclear(r);
    if (exec_plain(pc, "SET LOCAL client_min_messages=warning;"
                       "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)") < 0 ||
        !(r = pg_conn_query(pc, "SELECT COALESCE(MAX(version), 0) FROM schema_version", "")))
        goto rollback;
    version = (int)pg_value_int(r, 0, 0);
    PQclear(r);
    if (version > PG_SCHEMA_VERSION) {
        exec_plain(pc, "ROLLBACK");
        snprintf(err, errlen, "store schema version %d is newer than this ttrelayd (%d)", version,
                 PG_SCHEMA_VERSION);
        return -1;
    }
    /* One step per version, in order; each new version appends its own step. */
    for (int v = version; v < PG_SCHEMA_VERSION; v++)
        if (exec_plain(pc, schema_steps[v]) < 0)
            goto rollback;
    if (pg_conn_run(pc, "DELETE FROM schema_version", "") < 0 ||
        pg_conn_run(pc, "INSERT INTO schema_version(version) VALUES($1)", "i",
                    (long long)PG_SCHEMA_VERSION) < 0 ||
        exec_plain(pc, "COMMIT") < 0)
        goto rollback;
    if (version < PG_SCHEMA_VERSION)
        log_info("store migrated", "from=%d to=%d", version, PG_SCHEMA_VERSION);
    return 0;
rollback:
    if (pc->db)
        exec_plain(pc, "ROLLBACK");
fail:
    snprintf(err, errlen, "cannot migrate the store schema%s%s", pc->db ? ": " : "",
             pc->db ? PQerrorMessage(pc->db) : "");
    one_line(err);
    return -1;
}

static void conn_init(struct pg_conn *pc, const char *role, const char *conninfo)
{
    pthread_mutex_init(&pc->lock, NULL);
    pc->role = role;
    pc->conninfo = conninfo;
}

struct store_be *pg_open(const char *conninfo, char *err, size_t errlen)
{
    struct store_be *st = calloc(1, sizeof *st);
    if (!st || !(st->conninfo = strdup(conninfo))) {
        free(st);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    conn_init(&st->writer, "writer", st->conninfo);
    conn_init(&st->match, "matcher", st->conninfo);
    conn_init(&st->work, "sender", st->conninfo);
    conn_init(&st->admin, "admin", st->conninfo);
    conn_init(&st->listen, "listener", st->conninfo);

    struct pg_conn *all[] = {&st->writer, &st->match, &st->work, &st->admin, &st->listen};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (pg_conn_ready(all[i]) < 0) {
            PGconn *probe = PQconnectdb(conninfo);
            snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                     probe ? PQerrorMessage(probe) : "out of memory");
            PQfinish(probe);
            one_line(err);
            goto fail;
        }
        if (i == 0 && migrate(&st->writer, err, errlen) < 0)
            goto fail;
    }
    return st;
fail:
    pg_close(st);
    return NULL;
}

void pg_close(struct store_be *st)
{
    if (!st)
        return;
    struct pg_conn *all[] = {&st->writer, &st->match, &st->work, &st->admin, &st->listen};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        conn_close(all[i]);
        pthread_mutex_destroy(&all[i]->lock);
    }
    free(st->conninfo);
    free(st);
}

/* The writer's idle second: after a failed group, a probe brings readiness back without
 * waiting for traffic. */
static int pg_tick(struct store_be *st, int failed)
{
    return !failed || pg_writable(st) ? 0 : -1;
}

int pg_writable(struct store_be *st)
{
    if (!__atomic_load_n(&st->last_write_failed, __ATOMIC_ACQUIRE))
        return 1;
    /* After a failure, probe the writer's connection when it is idle (a group in progress
     * must not block /readyz), so that readiness returns without waiting for traffic. */
    if (pthread_mutex_trylock(&st->writer.lock) != 0)
        return 0;
    long long n = pg_conn_run(&st->writer, "SELECT 1", "");
    if (n == 1)
        __atomic_store_n(&st->last_write_failed, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->writer.lock);
    return n == 1;
}

/* ---- wake-ups ---- */

/* Notifications received so far, freed. */
static int drain_notifies(PGconn *db)
{
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(db)) != NULL) {
        n++;
        PQfreemem(note);
    }
    return n;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int pg_wait(struct store_be *st, long long timeout_ms)
{
    struct pg_conn *pc = &st->listen;
    int rc = 0;

    pthread_mutex_lock(&pc->lock);
    if (pg_conn_ready(pc) < 0)
        goto lost;
    if (st->listen_generation != pc->generation) {
        PGresult *r = pg_conn_exec(pc, "LISTEN " PG_CHANNEL, NULL);
        if (!r)
            goto lost;
        PQclear(r);
        st->listen_generation = pc->generation;
    }
    double deadline = clock_mono_s() + (double)timeout_ms / 1000.0;
    for (;;) {
        if (!PQconsumeInput(pc->db))
            goto lost;
        if (drain_notifies(pc->db) > 0) {
            rc = 1;
            break;
        }
        long long left = (long long)((deadline - clock_mono_s()) * 1000.0);
        if (left <= 0)
            break;
        struct pollfd pfd = {PQsocket(pc->db), POLLIN, 0};
        if (poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left) < 0 && errno != EINTR)
            goto lost;
    }
    pthread_mutex_unlock(&pc->lock);
    return rc;
lost:
    /* No connection: the timeout is still the poll backstop, not a busy loop. */
    conn_close(pc);
    pthread_mutex_unlock(&pc->lock);
    sleep_ms(timeout_ms);
    return -1;
}

/* ---- the backend operations (store_backend.h) ---- */

static struct store_be *pg_open_options(const struct store_options *o, char *err, size_t errlen)
{
    if (!o->conninfo || !o->conninfo[0]) {
        snprintf(err, errlen, "store.backend = \"postgresql\" needs store.conninfo");
        return NULL;
    }
    return pg_open(o->conninfo, err, errlen);
}

/* The front's group is a list of its jobs; the PostgreSQL writer works on an array. */
static int pg_write_list(struct store_be *st, struct store_job *group, int n)
{
    struct pg_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    struct store_job *j;
    int i = 0, rc = -1;

    if (!jobs)
        return -1;
    for (j = group; j && i < n; j = j->next, i++) {
        jobs[i].type = j->type == JOB_CONVERSION ? PG_JOB_CONVERSION
                       : j->type == JOB_TOUCH    ? PG_JOB_TOUCH
                                                 : PG_JOB_DELIVERY;
        jobs[i].c = j->c;
        jobs[i].data = j->data;
        STR_SET(jobs[i].pixel, j->pixel);
        jobs[i].test = j->test;
        jobs[i].due_ms = j->due_ms;
        jobs[i].t = j->t;
        jobs[i].d = j->d;
    }
    rc = pg_write_group(st, jobs, i);
    for (j = group, i = 0; j && i < n; j = j->next, i++) {
        j->result = jobs[i].result;
        j->id = jobs[i].id;
    }
    free(jobs);
    return rc;
}

const struct store_backend store_backend_pg = {
    .name = "postgresql",
    .open = pg_open_options,
    .write_group = pg_write_list,
    .close = pg_close,
    .writable = pg_writable,
    .tick = pg_tick,
    .wait = pg_wait,
    .held_due = pg_held_due,
    .find_touches = pg_find_touches,
    .ip_ua_visitors = pg_ip_ua_visitors,
    .visitor_has_key = pg_visitor_has_key,
    .consent_denied = pg_consent_denied,
    .get_touch = pg_get_touch,
    .find_visitor = pg_find_visitor,
    .promote_begin = pg_promote_begin,
    .promote_commit = pg_promote_commit,
    .promote = pg_promote,
    .hold = pg_hold,
    .oldest_held_due = pg_oldest_held_due,
    .due_pixels = pg_due_pixels,
    .oldest_due_ms = pg_oldest_due_ms,
    .claim_due = pg_claim_due,
    .reclaimed = pg_reclaimed,
    .release = pg_release,
    .pixel_lock = pg_pixel_lock,
    .pixel_unlock = pg_pixel_unlock,
    .mark_sent = pg_mark_sent,
    .mark_dry_run = pg_mark_dry_run,
    .mark_retry = pg_mark_retry,
    .mark_dead = pg_mark_dead,
    .mark_ignored = pg_mark_ignored,
    .checkpoint = pg_checkpoint,
    .purge = pg_purge,
    .list_deliveries = pg_list_deliveries,
    .list_events = pg_list_events,
    .get_event = pg_get_event,
    .replay = pg_replay,
    .replay_dead = pg_replay_dead,
    .replay_dry_run = pg_replay_dry_run,
    .counts = pg_counts,
    .report_rows = pg_report_rows,
    .list_touches = pg_list_touches,
    .touch_count = pg_touch_count,
    .view_find = pg_view_find,
    .view_dead_count = pg_view_dead_count,
    .view_latest = pg_view_latest,
    .attempt_record = pg_attempt_record,
    .view_attempts = pg_view_attempts,
    .pause_set = pg_pause_set,
    .pause_clear = pg_pause_clear,
    .pauses = pg_pauses,
    .instance_beat = pg_instance_beat,
    .instance_stopped = pg_instance_stopped,
    .instances = pg_instances,
};
