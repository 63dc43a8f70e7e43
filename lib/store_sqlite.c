/* The SQLite backend (the embedded default): open, schema and the writer's group commit.
 * The front's writer thread owns the writer connection; the forwarder's matcher ("match")
 * and sender ("work") and the admin API each have their own connection behind a mutex.
 * WAL lets them read while the writer commits. Queries: store_query.c, store_views.c. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_internal.h"

#define SCHEMA_VERSION 8
#define WRITER_TICK_MS 1000
#define BUSY_TIMEOUT_MS 10000
/* ~4 MiB of WAL between restarts: the WAL stays in the page cache and its pages are
 * rewritten rather than newly allocated (issue 17 measured +9 % ingest with it). */
#define WAL_RESTART_PAGES 1024
#define WAL_HARD_PAGES (16 * WAL_RESTART_PAGES)
#define WAL_READER_WAIT_MS 20
/* The WAL file is cut back to this after a restart (journal_size_limit). */
#define WAL_KEEP_BYTES (2 * WAL_RESTART_PAGES * 4096)

static const char *schema_v1 =
    "CREATE TABLE conversions("
    " id INTEGER PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, object_id TEXT NOT NULL,"
    " pixel TEXT NOT NULL, state INTEGER NOT NULL, test INTEGER NOT NULL DEFAULT 0,"
    " received_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, sent_ms INTEGER,"
    " event_time INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " event_name TEXT, event_id TEXT, matched_by TEXT, touch_id INTEGER,"
    " last_error TEXT, request_id TEXT, data TEXT NOT NULL, payload TEXT,"
    " UNIQUE(source, kind, object_id));"
    "CREATE INDEX conversions_due ON conversions(state, due_ms);"
    "CREATE INDEX conversions_received ON conversions(received_ms);"
    "CREATE TABLE conv_refs(ref TEXT NOT NULL, conv_id INTEGER NOT NULL);"
    "CREATE INDEX conv_refs_ref ON conv_refs(ref);"
    "CREATE TABLE touches("
    " id INTEGER PRIMARY KEY, vid TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL,"
    " order_id TEXT NOT NULL, ttclid TEXT NOT NULL, ttp TEXT NOT NULL, ip TEXT NOT NULL,"
    " user_agent TEXT NOT NULL, url TEXT NOT NULL, referrer TEXT NOT NULL,"
    " email_hash TEXT NOT NULL, phone_hash TEXT NOT NULL, value TEXT NOT NULL,"
    " currency TEXT NOT NULL, ts INTEGER NOT NULL, consumed_by INTEGER);"
    "CREATE INDEX touches_vid ON touches(vid, ts);"
    "CREATE INDEX touches_order ON touches(order_id) WHERE order_id <> '';"
    "CREATE INDEX touches_event_id ON touches(event_id) WHERE event_id <> '';"
    "CREATE INDEX touches_ip ON touches(ip, ts);"
    "CREATE INDEX touches_ts ON touches(ts);"
    "CREATE TABLE visitors("
    " vid TEXT PRIMARY KEY, ttclid TEXT NOT NULL DEFAULT '', ttp TEXT NOT NULL DEFAULT '',"
    " ip TEXT NOT NULL DEFAULT '', user_agent TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT "
    "'',"
    " referrer TEXT NOT NULL DEFAULT '', last_seen INTEGER NOT NULL);"
    "CREATE INDEX visitors_seen ON visitors(last_seen);"
    "CREATE TABLE visitor_keys(key TEXT NOT NULL, vid TEXT NOT NULL, seen INTEGER NOT NULL,"
    " PRIMARY KEY(key, vid)) WITHOUT ROWID;"
    "CREATE INDEX visitor_keys_seen ON visitor_keys(seen);";

/* v2: the matching engine's explanation of each decision (candidates and why each lost). */
static const char *schema_v2 = "ALTER TABLE conversions ADD COLUMN match_info TEXT;";

/* v3: dry-run events were marked sent with request_id "dry-run"; they get their own state
 * so that they are not counted as sent and can be sent once live. */
static const char *schema_v3 =
    "UPDATE conversions SET state=6, sent_ms=NULL, request_id=NULL WHERE state=2 AND "
    "request_id='dry-run';"
    /* and the delivery log: every request to the webhook routes, for debugging a source. */
    "CREATE TABLE deliveries(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " source TEXT NOT NULL, status INTEGER NOT NULL, result TEXT NOT NULL,"
    " reason TEXT NOT NULL, delivery_id TEXT NOT NULL, conversion_id INTEGER);"
    "CREATE INDEX deliveries_ts ON deliveries(ts_ms);";

/* v4: each visitor's latest consent state as ttr.js reported it (0 unknown, 1 granted,
 * -1 denied).  */
static const char *schema_v4 = "ALTER TABLE visitors ADD COLUMN consent INTEGER NOT NULL DEFAULT 0;";
/* v5: every attempt to send an event (the dashboard's attempt timeline); removed with its
 * conversion. */
static const char *schema_v5 =
    "CREATE TABLE IF NOT EXISTS attempts("
    " id INTEGER PRIMARY KEY, conv_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    " http_status INTEGER NOT NULL, code INTEGER NOT NULL, message TEXT NOT NULL,"
    " request_id TEXT NOT NULL, latency_ms INTEGER NOT NULL, outcome TEXT NOT NULL,"
    " batch INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS attempts_conv ON attempts(conv_id, at_ms);"
    "CREATE TRIGGER IF NOT EXISTS attempts_gone AFTER DELETE ON conversions"
    " BEGIN DELETE FROM attempts WHERE conv_id=old.id; END;";

/* v6: claims. A sending event (state 7) belongs to claim_token until lease_until; reclaims
 * counts how often an expired lease was taken over. */
static const char *schema_v6 =
    "ALTER TABLE conversions ADD COLUMN claim_token TEXT;"
    "ALTER TABLE conversions ADD COLUMN lease_until INTEGER;"
    "ALTER TABLE conversions ADD COLUMN reclaims INTEGER NOT NULL DEFAULT 0;";

/* v7: the cluster's rows. A pixel paused by an operator or by TikTok's refusal of its
 * token stays paused across restarts; each instance's heartbeat (ttrelayctl status). */
static const char *schema_v7 =
    "CREATE TABLE pixel_pauses(pixel TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " reason TEXT NOT NULL, since_ms INTEGER NOT NULL, by_instance TEXT NOT NULL);"
    "CREATE TABLE instances(id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,"
    " version TEXT NOT NULL, started_ms INTEGER NOT NULL, seen_ms INTEGER NOT NULL,"
    " stopped_ms INTEGER NOT NULL DEFAULT 0, public_port INTEGER NOT NULL DEFAULT 0,"
    " admin_port INTEGER NOT NULL DEFAULT 0);";

/* v8: the references as one b-tree keyed (ref, conv_id) instead of a table and its index
 * on ref: every order writes several, and each b-tree is pages to dirty and log. A
 * (ref, conv_id) pair written twice was one reference twice; it is kept once. */
static const char *schema_v8 =
    "CREATE TABLE conv_refs_v8(ref TEXT NOT NULL, conv_id INTEGER NOT NULL,"
    " PRIMARY KEY(ref, conv_id)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO conv_refs_v8(ref, conv_id) SELECT ref, conv_id FROM conv_refs;"
    "DROP TABLE conv_refs;"
    "ALTER TABLE conv_refs_v8 RENAME TO conv_refs;";

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("store statement failed", "error=\"%s\"", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3 *open_conn(const char *path, int sync_full, int cache_kb, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        /* SQLite's "unable to open database file" hides the system's reason. */
        int sys = db ? sqlite3_system_errno(db) : 0;
        snprintf(err, errlen, "cannot open %s: %s%s%s%s", path,
                 db ? sqlite3_errmsg(db) : "out of memory", sys ? " (" : "",
                 sys ? strerror(sys) : "", sys ? ")" : "");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (exec(db, "PRAGMA journal_mode=WAL") < 0 ||
        exec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
        exec(db, "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY") < 0) {
        snprintf(err, errlen, "cannot configure %s", path);
        sqlite3_close(db);
        return NULL;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", cache_kb);
    exec(db, sql);
    /* Whichever connection writes first after a restart cuts the WAL file back. */
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%d", WAL_KEEP_BYTES);
    exec(db, sql);
    return db;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen, "store schema version %d is newer than this ttrelayd (%d)", version,
                 SCHEMA_VERSION);
        return -1;
    }
    if (version == SCHEMA_VERSION)
        return 0;
    if (exec(db, "BEGIN IMMEDIATE") < 0)
        goto fail;
    /* One step per version, in order; each new version appends its own step. */
    if ((version < 1 && exec(db, schema_v1) < 0) || (version < 2 && exec(db, schema_v2) < 0) ||
        (version < 3 && exec(db, schema_v3) < 0) || (version < 4 && exec(db, schema_v4) < 0) ||
        (version < 5 && exec(db, schema_v5) < 0) || (version < 6 && exec(db, schema_v6) < 0) ||
        (version < 7 && exec(db, schema_v7) < 0) || (version < 8 && exec(db, schema_v8) < 0)) {
        exec(db, "ROLLBACK");
        goto fail;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (exec(db, sql) < 0 || exec(db, "COMMIT") < 0) {
        exec(db, "ROLLBACK");
        goto fail;
    }
    log_info("store migrated", "from=%d to=%d", version, SCHEMA_VERSION);
    return 0;
fail:
    snprintf(err, errlen, "cannot migrate the store schema");
    return -1;
}

static int prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
        log_error("store prepare failed", "error=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int prepare_writer(struct store_be *st)
{
    sqlite3 *db = st->wdb;
    return prepare(db, &st->begin, "BEGIN IMMEDIATE") || prepare(db, &st->commit, "COMMIT") ||
                   prepare(
                       db, &st->ins_conv,
                       "INSERT OR IGNORE INTO conversions(source,kind,object_id,pixel,state,test,"
                       "received_ms,due_ms,event_time,data) VALUES(?,?,?,?,0,?,?,?,?,?)") ||
                   prepare(db, &st->find_conv,
                           "SELECT id,state,data FROM conversions WHERE source=? AND kind=? AND "
                           "object_id=?") ||
                   prepare(db, &st->up_data,
                           "UPDATE conversions SET data=?1 WHERE id=?2 AND state=0") ||
                   prepare(db, &st->ins_ref,
                           "INSERT OR IGNORE INTO conv_refs(ref,conv_id) VALUES(?,?)") ||
                   prepare(db, &st->ins_touch,
                           "INSERT INTO "
                           "touches(vid,event,event_id,order_id,ttclid,ttp,ip,user_agent,url,"
                           "referrer,email_hash,phone_hash,value,currency,ts) "
                           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)") ||
                   prepare(
                       db, &st->up_visitor,
                       "INSERT INTO visitors(vid,ttclid,ttp,ip,user_agent,url,referrer,last_seen,"
                       "consent) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(vid) DO UPDATE SET "
                       "consent=CASE WHEN ?9<>0 THEN ?9 ELSE consent END,"
                       "ttclid=CASE WHEN ?2<>'' THEN ?2 ELSE ttclid END,"
                       "ttp=CASE WHEN ?3<>'' THEN ?3 ELSE ttp END,"
                       "ip=CASE WHEN ?4<>'' THEN ?4 ELSE ip END,"
                       "user_agent=CASE WHEN ?5<>'' THEN ?5 ELSE user_agent END,"
                       "url=CASE WHEN ?6<>'' THEN ?6 ELSE url END,"
                       "referrer=CASE WHEN ?7<>'' THEN ?7 ELSE referrer END,"
                       "last_seen=MAX(last_seen,?8)") ||
                   prepare(db, &st->ins_vkey,
                           "INSERT OR REPLACE INTO visitor_keys(key,vid,seen) VALUES(?,?,?)") ||
                   prepare(db, &st->ins_delivery,
                           "INSERT INTO deliveries(ts_ms,source,status,result,reason,"
                           "delivery_id,conversion_id) VALUES(?,?,?,?,?,?,NULLIF(?,0))") ||
                   prepare(
                       db, &st->release,
                       "UPDATE conversions SET due_ms=?1 WHERE id IN "
                       "(SELECT conv_id FROM conv_refs WHERE ref=?2) AND +state=0 AND +due_ms>?1")
               ? -1
               : 0;
}

/* A statement without rows (BEGIN, COMMIT) prepared once: parsed by sqlite3_exec at every
 * group they cost the writer as much as a row. Failures are logged as exec logs them. */
static int exec_prepared(sqlite3 *db, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        log_error("store statement failed", "error=\"%s\"", sqlite3_errmsg(db));
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

/* The references that end a hold early (from index first on). Only those a beacon cannot
 * guess: anyone can post the next order number. */
static int write_refs(struct store_be *st, const struct conversion *c, long long id, int first)
{
    for (int i = first; i < c->nrefs; i++) {
        if ((c->guessable_refs >> i) & 1)
            continue;
        bind_text(st->ins_ref, 1, c->refs[i]);
        sqlite3_bind_int64(st->ins_ref, 2, id);
        if (step_done(st->ins_ref) < 0)
            return -1;
    }
    return 0;
}

/* Folds the keys of a sibling webhook (Stripe's session after its intent, Shopify's
 * orders/paid after orders/create) into the held conversion j->id stored as data. */
static int merge_sibling(struct store_be *st, const struct store_job *j, const char *data)
{
    struct conversion held;
    char *text = NULL;
    int rc = -1;

    if (conversion_from_json(data, &held) < 0)
        return 0; /* unreadable: the forwarder marks it dead; the duplicate stays one */
    int nrefs = held.nrefs;
    if (!conversion_merge(&held, &j->c)) {
        rc = 0;
        goto out;
    }
    if (!(text = conversion_to_json(&held)))
        goto out;
    sqlite3_bind_text(st->up_data, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->up_data, 2, j->id);
    if (step_done(st->up_data) < 0 || write_refs(st, &held, j->id, nrefs) < 0)
        goto out;
    rc = 0;
out:
    free(text);
    conversion_clear(&held);
    return rc;
}

/* A step of the wall clock larger than this is a step, not NTP's slewing (at most 0.5 ms
 * per second between two looks a second apart). */
#define CLOCK_STEP_MS 1000

static void write_conversion(struct store_be *st, struct store_job *j)
{
    const struct conversion *c = &j->c;
    const char *kind = conversion_kind_name(c->kind);
    sqlite3_stmt *s = st->ins_conv;

    j->result = STORE_ERROR;
    bind_text(s, 1, c->source_id);
    bind_text(s, 2, kind);
    bind_text(s, 3, c->object_id);
    bind_text(s, 4, j->pixel);
    sqlite3_bind_int(s, 5, j->test);
    sqlite3_bind_int64(s, 6, clock_wall_ms());
    /* Computed by the submitter: a step of the wall clock since then moves it too (a step
     * only: smaller differences are NTP's slewing, not worth a hold's length). */
    long long step = st->clock_offset_ms - j->clock_offset_ms;
    if (step > -CLOCK_STEP_MS && step < CLOCK_STEP_MS)
        step = 0;
    sqlite3_bind_int64(s, 7, j->due_ms + step);
    sqlite3_bind_int64(s, 8, c->event_time);
    sqlite3_bind_text(s, 9, j->data, -1, SQLITE_STATIC);
    int rc = step_done(s);
    if (rc < 0)
        return;
    if (sqlite3_changes(st->wdb) == 1) {
        j->id = sqlite3_last_insert_rowid(st->wdb);
        if (write_refs(st, c, j->id, 0) < 0)
            return;
        j->result = STORE_OK;
        return;
    }
    bind_text(st->find_conv, 1, c->source_id);
    bind_text(st->find_conv, 2, kind);
    bind_text(st->find_conv, 3, c->object_id);
    if (sqlite3_step(st->find_conv) == SQLITE_ROW) {
        j->id = sqlite3_column_int64(st->find_conv, 0);
        j->result = STORE_DUPLICATE;
        if (sqlite3_column_int(st->find_conv, 1) == EV_HELD) {
            /* A sibling topic while the first is held: its keys join the conversion's. */
            const char *data = (const char *)sqlite3_column_text(st->find_conv, 2);
            char *merged = data ? strdup(data) : NULL;
            sqlite3_reset(st->find_conv);
            if (merged && merge_sibling(st, j, merged) < 0)
                j->result = STORE_ERROR;
            free(merged);
            return;
        }
    }
    sqlite3_reset(st->find_conv);
}

static int write_vkey(struct store_be *st, char prefix, const char *hash, const char *vid,
                      long long ts)
{
    char key[80];
    if (!hash[0])
        return 0;
    snprintf(key, sizeof key, "%c:%s", prefix, hash);
    bind_text(st->ins_vkey, 1, key);
    bind_text(st->ins_vkey, 2, vid);
    sqlite3_bind_int64(st->ins_vkey, 3, ts);
    return step_done(st->ins_vkey);
}

static void write_touch(struct store_be *st, struct store_job *j)
{
    const struct touch *t = &j->t;
    sqlite3_stmt *s = st->ins_touch;

    j->result = STORE_ERROR;
    if (t->event[0] || t->email_hash[0] || t->phone_hash[0]) {
        const char *v[] = {t->vid,        t->event,      t->event_id,   t->order_id, t->ttclid,
                           t->ttp,        t->ip,         t->user_agent, t->url,      t->referrer,
                           t->email_hash, t->phone_hash, t->value,      t->currency};
        for (int i = 0; i < 14; i++)
            bind_text(s, i + 1, v[i]);
        sqlite3_bind_int64(s, 15, t->ts);
        if (step_done(s) < 0)
            return;
        j->id = sqlite3_last_insert_rowid(st->wdb);
    }
    const char *u[] = {t->vid, t->ttclid, t->ttp, t->ip, t->user_agent, t->url, t->referrer};
    for (int i = 0; i < 7; i++)
        bind_text(st->up_visitor, i + 1, u[i]);
    sqlite3_bind_int64(st->up_visitor, 8, t->ts);
    sqlite3_bind_int(st->up_visitor, 9, t->consent);
    if (step_done(st->up_visitor) < 0 || write_vkey(st, 'e', t->email_hash, t->vid, t->ts) < 0 ||
        write_vkey(st, 'p', t->phone_hash, t->vid, t->ts) < 0)
        return;
    if (t->order_id[0] && t->event[0]) {
        sqlite3_bind_int64(st->release, 1, clock_wall_ms());
        bind_text(st->release, 2, t->order_id);
        if (step_done(st->release) < 0)
            return;
    }
    j->result = STORE_OK;
}

/* A log row: its failure does not fail the group's conversions. */
static void write_delivery(struct store_be *st, struct store_job *j)
{
    const struct delivery *d = &j->d;
    sqlite3_stmt *s = st->ins_delivery;

    sqlite3_bind_int64(s, 1, d->ts_ms);
    bind_text(s, 2, d->source);
    sqlite3_bind_int(s, 3, d->status);
    bind_text(s, 4, d->result);
    bind_text(s, 5, d->reason);
    bind_text(s, 6, d->delivery_id);
    sqlite3_bind_int64(s, 7, d->conversion_id);
    j->result = step_done(s) == 0 ? STORE_OK : STORE_ERROR;
}

/* Due times are wall-clock times. When the wall clock steps, every queued event's due time
 * moves with it, so that a hold or a back-off keeps its remaining length: a step back of
 * an hour must not hold delivery for an hour. Runs inside the caller's transaction;
 * returns 0, or -1 when the shift failed (it is tried again at the next look). The
 * forwarder's own retry times are computed an instant before they are written; a step in
 * that instant is the one case not covered. */
static int writer_follow_clock(struct store_be *st)
{
    long long offset = clock_wall_offset_ms(), step = offset - st->clock_offset_ms;
    char sql[96];

    if (step > -CLOCK_STEP_MS && step < CLOCK_STEP_MS) {
        st->clock_offset_ms = offset;
        return 0;
    }
    snprintf(sql, sizeof sql, "UPDATE conversions SET due_ms=due_ms+(%lld) WHERE state IN (0,1,3)",
             step);
    if (exec(st->wdb, sql) < 0)
        return -1;
    log_warn("wall clock stepped: due times of queued events moved with it",
             "step_ms=%lld events=%d", step, sqlite3_changes(st->wdb));
    st->clock_offset_ms = offset;
    return 0;
}

static int sqlite_files_present(struct store_be *st);

/* Runs one group in one transaction. A failed commit fails every job of the group:
 * none of them was acknowledged, so the senders retry. */
static int sqlite_write_group(struct store_be *st, struct store_job *group, int n)
{
    /* Rows committed into deleted files would be acknowledged and lost at the next start. */
    int present = sqlite_files_present(st);
    int ok = present && exec_prepared(st->wdb, st->begin) == 0 && writer_follow_clock(st) == 0;
    (void)n;
    for (struct store_job *j = group; ok && j; j = j->next) {
        if (j->type == JOB_CONVERSION)
            write_conversion(st, j);
        else if (j->type == JOB_DELIVERY)
            write_delivery(st, j);
        else
            write_touch(st, j);
    }
    if (ok && exec_prepared(st->wdb, st->commit) < 0) {
        exec(st->wdb, "ROLLBACK");
        ok = 0;
    }
    if (!ok && sqlite3_get_autocommit(st->wdb) == 0)
        exec(st->wdb, "ROLLBACK");
    if (!present)
        log_error("store files deleted: refusing to commit, restart to recreate the store",
                  "path=%s", st->path);
    return ok ? 0 : -1;
}

/* The WAL starts again from its beginning only after a checkpoint has copied all of it and
 * no reader still uses it, which passive checkpoints never reach under a steady flood: the
 * file grew by gigabytes. So the writer runs a RESTART checkpoint each time the WAL has
 * grown by WAL_RESTART_PAGES, giving readers WAL_READER_WAIT_MS to move on; past
 * WAL_HARD_PAGES it waits as long as its busy timeout allows, and ingest waits with it: the
 * disk does not fill. After a restart, journal_size_limit cuts the file back. */
static void writer_checkpoint(struct store_be *st)
{
    int pages = __atomic_load_n(&st->wal_pages, __ATOMIC_ACQUIRE), rc, log = 0, done = 0;
    int hard = pages >= WAL_HARD_PAGES;

    if (pages < st->wal_next_checkpoint && !hard)
        return;
    if (!hard)
        sqlite3_busy_timeout(st->wdb, WAL_READER_WAIT_MS);
    rc = sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
    if (!hard)
        sqlite3_busy_timeout(st->wdb, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK) {
        __atomic_store_n(&st->wal_pages, 0, __ATOMIC_RELEASE);
        st->wal_next_checkpoint = WAL_RESTART_PAGES;
        return;
    }
    /* Readers kept part of it: try again once it has grown by as much again. */
    st->wal_next_checkpoint = pages + WAL_RESTART_PAGES;
    if (rc != SQLITE_BUSY || hard)
        log_warn("store checkpoint did not restart the WAL", "pages=%d copied=%d error=\"%s\"", log,
                 done, sqlite3_errmsg(st->wdb));
}

/* After a failed commit, readiness stays false until a write goes through; with a load
 * balancer that stops sending to a daemon that is not ready, only a probe can end it.
 * user_version is rewritten unchanged: one page through the WAL and an fsync. */
static int writer_probe(struct store_be *st)
{
    char sql[64];
    int ok;

    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
    ok = sqlite_files_present(st) && exec(st->wdb, "BEGIN IMMEDIATE") == 0;
    if (ok && (exec(st->wdb, sql) < 0 || exec(st->wdb, "COMMIT") < 0))
        ok = 0;
    if (!ok && sqlite3_get_autocommit(st->wdb) == 0)
        exec(st->wdb, "ROLLBACK");
    if (ok)
        log_info("store writable again", "path=%s", st->path);
    return ok ? 0 : -1;
}

/* The writer's idle work: a probe after a failed commit, following a step of the wall
 * clock, and the checkpoint of what the forwarder's writes added meanwhile. */
static int sqlite_tick(struct store_be *st, int failed)
{
    long long step = clock_wall_offset_ms() - st->clock_offset_ms;
    int rc = 0;

    if (failed) {
        rc = writer_probe(st);
    } else if (step <= -CLOCK_STEP_MS || step >= CLOCK_STEP_MS) {
        /* Stepped while idle: shift now rather than at the next webhook. */
        if (exec(st->wdb, "BEGIN IMMEDIATE") == 0 &&
            (writer_follow_clock(st) < 0 || exec(st->wdb, "COMMIT") < 0))
            exec(st->wdb, "ROLLBACK");
    } else {
        st->clock_offset_ms += step; /* slewing: follow it without a write */
    }
    writer_checkpoint(st);
    return rc;
}

/* 1 when fd's file still has a name (or fd is not open). */
static int file_linked(int fd)
{
    struct stat sb;
    return fd < 0 || fstat(fd, &sb) != 0 || sb.st_nlink > 0;
}

static int sqlite_files_present(struct store_be *st)
{
    return file_linked(st->db_fd) && file_linked(st->wal_fd);
}

/* Our own descriptors of the database and its WAL, only ever read by fstat. They are closed
 * after every SQLite connection: closing any descriptor of a file drops the process's POSIX
 * locks on it, SQLite's included. */
static void open_watch(struct store_be *st, const char *path)
{
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    st->db_fd = open(path, O_RDONLY | O_CLOEXEC);
    st->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
}

/* Every connection reports the WAL's length after its commits; the writer acts on it. */
static int wal_grown(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store_be *st = arg;
    __atomic_store_n(&st->wal_pages, pages, __ATOMIC_RELEASE);
    return SQLITE_OK;
}

static void secure_files(const char *path)
{
    char p[600];
    chmod(path, 0600);
    snprintf(p, sizeof p, "%s-wal", path);
    chmod(p, 0600);
    snprintf(p, sizeof p, "%s-shm", path);
    chmod(p, 0600);
}

static void sqlite_close(struct store_be *st);

static struct store_be *sqlite_open(const struct store_options *o, char *err, size_t errlen)
{
    const char *path = o->path;
    int synchronous_full = o->synchronous_full;
    struct store_be *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->db_fd = st->wal_fd = -1;
    st->clock_offset_ms = clock_wall_offset_ms();
    pthread_mutex_init(&st->work_lock, NULL);
    pthread_mutex_init(&st->match_lock, NULL);
    pthread_mutex_init(&st->admin_lock, NULL);

    /* Without allocation statistics SQLite takes no global mutex per allocation. Only
     * possible before SQLite initialises; later calls fail harmlessly. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    mode_t old = umask(077);
    st->wdb = open_conn(path, synchronous_full, 8000, err, errlen);
    if (!st->wdb || migrate(st->wdb, err, errlen) < 0)
        goto fail;
    st->work = open_conn(path, synchronous_full, 4000, err, errlen);
    st->match = st->work ? open_conn(path, synchronous_full, 8000, err, errlen) : NULL;
    st->admin = st->match ? open_conn(path, synchronous_full, 2000, err, errlen) : NULL;
    if (!st->admin)
        goto fail;
    umask(old);
    secure_files(path);
    open_watch(st, path);
    STR_SET(st->path, path);
    /* The writer checkpoints after answering its group (writer_checkpoint), never inside
     * a commit; the forwarder's connections only report the WAL's length. */
    st->wal_next_checkpoint = WAL_RESTART_PAGES;
    sqlite3 *conns[] = {st->wdb, st->work, st->match, st->admin};
    for (size_t i = 0; i < sizeof conns / sizeof conns[0]; i++) {
        exec(conns[i], "PRAGMA wal_autocheckpoint=0");
        sqlite3_wal_hook(conns[i], wal_grown, st);
    }
    if (prepare_writer(st) < 0) {
        snprintf(err, errlen, "cannot prepare store statements");
        goto fail;
    }
    return st;
fail:
    umask(old);
    sqlite_close(st);
    return NULL;
}

static void sqlite_close(struct store_be *st)
{
    if (!st)
        return;
    sqlite3_stmt *stmts[] = {st->ins_conv,   st->find_conv, st->ins_ref, st->ins_touch,
                             st->up_visitor, st->ins_vkey,  st->release, st->ins_delivery,
                             st->up_data,    st->begin,     st->commit};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        sqlite3_finalize(stmts[i]);
    sqlite_work_finalize(st);
    if (st->wdb)
        sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(st->admin);
    sqlite3_close(st->match);
    sqlite3_close(st->work);
    sqlite3_close(st->wdb);
    if (st->db_fd >= 0)
        close(st->db_fd);
    if (st->wal_fd >= 0)
        close(st->wal_fd);
    pthread_mutex_destroy(&st->work_lock);
    pthread_mutex_destroy(&st->match_lock);
    pthread_mutex_destroy(&st->admin_lock);
    free(st);
}

/* The last state change of events failed (disk full), or the files are gone. */
static int sqlite_writable(struct store_be *st)
{
    return sqlite_files_present(st) && !__atomic_load_n(&st->last_update_failed, __ATOMIC_ACQUIRE);
}

const struct store_backend store_backend_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .write_group = sqlite_write_group,
    .writable = sqlite_writable,
    .files_present = sqlite_files_present,
    .oldest_held_due = sqlite_oldest_held_due,
    .tick = sqlite_tick,
    .after_group = writer_checkpoint,
    .held_due = sqlite_held_due,
    .find_touches = sqlite_find_touches,
    .ip_ua_visitors = sqlite_ip_ua_visitors,
    .visitor_has_key = sqlite_visitor_has_key,
    .consent_denied = sqlite_consent_denied,
    .get_touch = sqlite_get_touch,
    .find_visitor = sqlite_find_visitor,
    .promote_begin = sqlite_promote_begin,
    .promote_commit = sqlite_promote_commit,
    .promote = sqlite_promote,
    .hold = sqlite_hold,
    .due_pixels = sqlite_due_pixels,
    .oldest_due_ms = sqlite_oldest_due_ms,
    .claim_due = sqlite_claim_due,
    .reclaimed = sqlite_reclaimed,
    .release = sqlite_release,
    .pixel_lock = sqlite_pixel_lock,
    .pixel_unlock = sqlite_pixel_unlock,
    .mark_sent = sqlite_mark_sent,
    .mark_dry_run = sqlite_mark_dry_run,
    .mark_retry = sqlite_mark_retry,
    .mark_dead = sqlite_mark_dead,
    .mark_ignored = sqlite_mark_ignored,
    .checkpoint = sqlite_checkpoint,
    .purge = sqlite_purge,
    .list_deliveries = sqlite_list_deliveries,
    .list_events = sqlite_list_events,
    .get_event = sqlite_get_event,
    .replay = sqlite_replay,
    .replay_dead = sqlite_replay_dead,
    .replay_dry_run = sqlite_replay_dry_run,
    .counts = sqlite_counts,
    .report_rows = sqlite_report_rows,
    .list_touches = sqlite_list_touches,
    .touch_count = sqlite_touch_count,
    .view_find = sqlite_view_find,
    .view_dead_count = sqlite_view_dead_count,
    .view_latest = sqlite_view_latest,
    .attempt_record = sqlite_attempt_record,
    .view_attempts = sqlite_view_attempts,
    .pause_set = sqlite_pause_set,
    .pause_clear = sqlite_pause_clear,
    .pauses = sqlite_pauses,
    .instance_beat = sqlite_instance_beat,
    .instance_stopped = sqlite_instance_stopped,
    .instances = sqlite_instances,
};
