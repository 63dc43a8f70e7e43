/* The SQLite store: group commit under concurrency, business-key uniqueness, durability
 * across reopen, schema version, file permissions and event state changes. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"
#include "tap.h"

#define THREADS 16
#define PER_THREAD 200

static char dir[128];
static char path[256];
static struct store *st;
static int failures[THREADS];

static void conv(struct conversion *c, const char *object_id)
{
    memset(c, 0, sizeof *c);
    STR_SET(c->source_id, "shop");
    c->kind = KIND_ORDER;
    STR_SET(c->object_id, object_id);
    STR_SET(c->value, "9.20");
    c->event_time = time(NULL);
}

static void *writer(void *arg)
{
    int t = (int)(long)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct conversion c;
        char id[64];
        snprintf(id, sizeof id, "t%d-%d", t, i);
        conv(&c, id);
        long long row = 0;
        if (store_add_conversion(st, &c, "CPIX", 0, 0, &row) != STORE_OK || row <= 0)
            failures[t]++;
    }
    return NULL;
}

static void test_group_commit(void)
{
    pthread_t th[THREADS];
    unsigned long long commits = 0, rows = 0;
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, writer, (void *)t);
    int failed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        failed += failures[t];
    }
    store_commit_stats(st, &commits, &rows);
    is_int(failed, 0, "%d concurrent writers all get their row committed", THREADS);
    is_int((long long)rows, THREADS * PER_THREAD, "every row went through the writer");
    ok(commits < rows, "rows were committed in groups (%llu commits for %llu rows)", commits, rows);
    long long counts[EV_STATE_COUNT], oldest;
    store_counts(st, counts, &oldest);
    is_int(counts[EV_HELD], THREADS * PER_THREAD, "all of them are held events");
}

static void test_business_key(void)
{
    struct conversion c;
    long long a = 0, b = 0;
    conv(&c, "dup-1");
    is_int(store_add_conversion(st, &c, "CPIX", 0, 0, &a), STORE_OK,
           "a new business key is stored");
    STR_SET(c.value, "10.00");
    is_int(store_add_conversion(st, &c, "CPIX", 0, 0, &b), STORE_DUPLICATE,
           "the same key again is a duplicate");
    is_int(b, a, "the duplicate reports the first conversion's id");
    c.kind = KIND_CALL;
    is_int(store_add_conversion(st, &c, "CPIX", 0, 0, &b), STORE_OK,
           "another kind is another business fact");
}

static void test_states(void)
{
    struct conversion c;
    long long id = 0;
    struct event_row *rows = NULL, row;
    conv(&c, "state-1");
    is_int(store_add_conversion(st, &c, "CPIX", 0, 0, &id), STORE_OK,
           "a conversion to follow through its states");
    ok(store_promote(st, id, "CompletePayment", "eid-1", "none", 0,
                     "{\"event\":\"CompletePayment\"}", "{\"decision\":\"no_candidates\"}") == 0,
       "a held event is promoted to ready");
    ok(store_promote(st, id, "CompletePayment", "eid-2", "none", 0, "{}", NULL) < 0,
       "an event is promoted once");
    long long now = (long long)time(NULL) * 1000 + 1000;
    int n = store_claim_due(st, "CPIX", now, 10, 60000, "claim-a", &rows);
    int seen = 0;
    for (int i = 0; i < n; i++)
        seen |= rows[i].id == id && rows[i].state == EV_SENDING;
    store_row_free(rows, n);
    ok(seen, "a ready event is claimed for its pixel: sending");
    n = store_claim_due(st, "CPIX", now, 10, 60000, "claim-b", &rows);
    store_row_free(rows, n);
    is_int(n, 0, "a claimed event is not claimed again while its lease runs");
    is_int(store_mark_dead(st, &id, 1, "claim-b", "stale"), 0,
           "a result under another claim's token changes nothing");
    n = store_claim_due(st, "CPIX", now + 61000, 10, 60000, "claim-c", &rows);
    store_row_free(rows, n);
    is_int(n, 1, "an expired lease is claimed again");
    is_int(store_reclaimed(st), 1, "and counted as reclaimed");
    is_int(store_mark_dead(st, &id, 1, "claim-a", "stale"), 0,
           "the first claim, expired, can no longer record a result");
    is_int(store_mark_dead(st, &id, 1, "claim-c", "TikTok code 40002: bad row"), 1,
           "the current claim records its result");
    store_get_event(st, id, &row);
    is_int(row.state, EV_DEAD, "marked dead");
    is_str(row.last_error, "TikTok code 40002: bad row", "with its error");
    store_row_clear(&row);
    is_int(store_replay(st, id, now), 0, "a dead event can be replayed");
    store_get_event(st, id, &row);
    is_int(row.state, EV_READY, "replayed: ready again");
    is_str(row.event_id, "eid-1", "with its original event_id");
    store_row_clear(&row);
    store_mark_sent(st, &id, 1, NULL, "req-1", now);
    is_int(store_replay(st, id, now), 1, "a sent event is not replayable");
}

static void test_purge(void)
{
    struct touch t;
    long long now = time(NULL);
    memset(&t, 0, sizeof t);
    STR_SET(t.vid, "old-visitor");
    STR_SET(t.event, "CompletePayment");
    STR_SET(t.event_id, "old");
    t.ts = now - 200000;
    store_add_touch(st, &t);
    STR_SET(t.vid, "new-visitor");
    STR_SET(t.event_id, "new");
    t.ts = now - 10;
    store_add_touch(st, &t);
    long long before = store_touch_count(st);
    long removed = store_purge(st, now, 172800, 28 * 86400, 30 * 86400);
    ok(removed >= 1, "the purge removes expired rows (%ld)", removed);
    is_int(store_touch_count(st), before - 1,
           "a touch older than the window is gone, a recent one stays");
    struct touch_row *rows = NULL;
    is_int(store_list_touches(st, "new-visitor", 10, &rows), 1, "the recent touch is still listed");
    free(rows);
    ok(store_writable(st), "the store reports itself writable");
}

static void test_reopen(void)
{
    struct stat sb;
    store_close(st);
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the database file is 0600");
    char err[256];
    st = store_open(path, 1, err, sizeof err);
    ok(st != NULL, "reopens: %s", st ? "ok" : err);
    long long counts[EV_STATE_COUNT], oldest;
    store_counts(st, counts, &oldest);
    ok(counts[EV_HELD] >= THREADS * PER_THREAD, "committed rows survive a reopen");
    sqlite3 *db;
    sqlite3_stmt *s;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    sqlite3_step(s);
    is_int(sqlite3_column_int(s, 0), 8, "schema version recorded in user_version");
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    sqlite3_step(s);
    is_str((const char *)sqlite3_column_text(s, 0), "wal", "the store runs in WAL mode");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Version 2 marked dry-run events sent with request_id "dry-run"; step 3 gives them their
 * own state, and leaves really sent events alone. */
static void test_migrate_dry_run(void)
{
    char err[256], p2[300];
    sqlite3 *db;
    struct event_row row;

    snprintf(p2, sizeof p2, "%s/v2.db", dir);
    struct store *s2 = store_open(p2, 0, err, sizeof err);
    store_close(s2);
    sqlite3_open(p2, &db);
    ok(sqlite3_exec(db,
                    "INSERT INTO conversions(id, source, kind, object_id, pixel, state, "
                    "received_ms, due_ms, sent_ms, event_time, request_id, data, payload) VALUES"
                    " (1, 's', 'order', 'a', 'P', 2, 1, 1, 5, 1, 'dry-run', '{}', '{}'),"
                    " (2, 's', 'order', 'b', 'P', 2, 1, 1, 5, 1, 'req-77', '{}', '{}');"
                    "DROP TABLE deliveries; ALTER TABLE visitors DROP COLUMN consent;"
                    " ALTER TABLE conversions DROP COLUMN claim_token;"
                    " ALTER TABLE conversions DROP COLUMN lease_until;"
                    " ALTER TABLE conversions DROP COLUMN reclaims;"
                    " DROP TABLE pixel_pauses; DROP TABLE instances;"
                    " PRAGMA user_version=2;",
                    NULL, NULL, NULL) == SQLITE_OK,
       "a version 2 store with a dry-run event and a sent one");
    sqlite3_close(db);
    s2 = store_open(p2, 0, err, sizeof err);
    ok(s2 != NULL, "it migrates (%s)", s2 ? "ok" : err);
    if (!s2)
        return;
    memset(&row, 0, sizeof row);
    ok(store_get_event(s2, 1, &row) == 1 && row.state == EV_DRY_RUN,
       "the dry-run event is in state dry_run (got %s)", store_state_name(row.state));
    free(row.data);
    free(row.payload);
    memset(&row, 0, sizeof row);
    ok(store_get_event(s2, 2, &row) == 1 && row.state == EV_SENT, "the sent event stays sent");
    free(row.data);
    free(row.payload);
    is_str(store_state_name(EV_DRY_RUN), "dry_run", "the state is named dry_run");
    store_close(s2);
}

static int sql_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Version 8 keeps the references in one b-tree keyed (ref, conv_id). A version 7 store's
 * table and index become it, each pair once, and its references still end holds early. */
static void test_migrate_refs(void)
{
    char err[256], p7[300];
    sqlite3 *db;
    struct conversion c;
    struct touch t;
    struct event_row *rows = NULL;
    long long id = 0, wall_ms = (long long)time(NULL) * 1000;

    snprintf(p7, sizeof p7, "%s/v7.db", dir);
    struct store *s7 = store_open(p7, 0, err, sizeof err);
    conv(&c, "v7-order");
    conversion_add_ref(&c, "tok-v7");
    store_add_conversion(s7, &c, "CPIX", 0, wall_ms + 3600 * 1000, &id);
    store_close(s7);
    sqlite3_open(p7, &db);
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE conv_refs;"
             " CREATE TABLE conv_refs(ref TEXT NOT NULL, conv_id INTEGER NOT NULL);"
             " CREATE INDEX conv_refs_ref ON conv_refs(ref);"
             " INSERT INTO conv_refs VALUES('tok-v7', %lld), ('tok-v7', %lld), ('v7-order', %lld);"
             " PRAGMA user_version=7;",
             id, id, id);
    ok(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
       "a version 7 store with a held order and a reference written twice");
    sqlite3_close(db);
    s7 = store_open(p7, 0, err, sizeof err);
    ok(s7 != NULL, "it migrates (%s)", s7 ? "ok" : err);
    if (!s7)
        return;
    sqlite3_open(p7, &db);
    is_int(sql_count(db, "PRAGMA user_version"), 8, "to version 8");
    is_int(sql_count(db, "SELECT count(*) FROM sqlite_master WHERE name='conv_refs' AND"
                         " sql LIKE '%WITHOUT ROWID%'"),
           1, "conv_refs is one b-tree keyed (ref, conv_id)");
    is_int(sql_count(db, "SELECT count(*) FROM sqlite_master WHERE name='conv_refs_ref'"), 0,
           "its old index is gone");
    is_int(sql_count(db, "SELECT count(*) FROM conv_refs"), 2, "each reference kept once");
    sqlite3_close(db);
    int n = store_held_due(s7, wall_ms + 1000, 10, &rows);
    is_int(n, 0, "the order is held");
    store_row_free(rows, n);
    memset(&t, 0, sizeof t);
    STR_SET(t.vid, "v-v7");
    STR_SET(t.event, "CompletePayment");
    STR_SET(t.event_id, "pix-v7");
    STR_SET(t.order_id, "tok-v7");
    t.ts = time(NULL);
    is_int(store_add_touch(s7, &t), STORE_OK, "a thank-you touch naming the reference");
    n = store_held_due(s7, (long long)time(NULL) * 1000 + 1000, 10, &rows);
    is_int(n, 1, "ends the migrated order's hold early");
    store_row_free(rows, n);
    conv(&c, "v7-order-2");
    conversion_add_ref(&c, "tok-v7b");
    is_int(store_add_conversion(s7, &c, "CPIX", 0, wall_ms + 3600 * 1000, &id), STORE_OK,
           "a new order with a reference is stored");
    store_close(s7);
}

int main(void)
{
    char err[256];
    if (tap_tempdir(dir, sizeof dir, "ttr-store") < 0)
        return 1;
    snprintf(path, sizeof path, "%s/ttrelay.db", dir);
    st = store_open(path, 0, err, sizeof err);
    ok(st != NULL, "store opens: %s", st ? "ok" : err);
    if (!st)
        return tap_done();
    test_group_commit();
    test_business_key();
    test_states();
    test_purge();
    test_reopen();
    test_migrate_dry_run();
    test_migrate_refs();
    store_close(st);
    tap_rmdir(dir);
    return tap_done();
}
