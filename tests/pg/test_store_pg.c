/* The PostgreSQL store against a real server (the "pg" ctest fixture): migration by
 * instances starting together, the group write and its duplicates, matching lookups, the
 * touch compare-and-set, claims by concurrent instances, lease expiry, fenced results, the
 * pixel lock, LISTEN/NOTIFY wake-ups and lost connections. Each run uses a database of its
 * own, dropped at the end. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "store_pg.h"
#include "tap.h"

static char base_info[512], conninfo[600], dbname[64];
static PGconn *raw; /* the test's own connection to its database, for assertions */

/* ---- helpers ---- */

static PGresult *sql(const char *q)
{
    PGresult *r = PQexec(raw, q);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        printf("# sql failed: %s: %s", q, PQerrorMessage(raw));
    return r;
}

static void sql_do(const char *q)
{
    PQclear(sql(q));
}

/* The first value of the first row as a number, -1 when none. */
static long long sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_int(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = sql(q);
    long long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static void sql_text(char *out, size_t size, const char *q)
{
    PGresult *r = sql(q);
    snprintf(out, size, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "(none)");
    PQclear(r);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ends every backend of this database whose application_name is ttrelayd-<role>: what a
 * restarted server or a network cut does to an instance. */
static int kill_role(const char *role)
{
    /* With a timeout the call waits until the backend has exited (and released its
     * locks), so that what follows does not race its departure. */
    return (int)sql_int("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM "
                        "pg_stat_activity WHERE datname=current_database() AND "
                        "application_name='ttrelayd-%s'",
                        role);
}

static void conv_job(struct pg_job *j, const char *object_id, long long due_ms)
{
    memset(j, 0, sizeof *j);
    j->type = PG_JOB_CONVERSION;
    STR_SET(j->c.source_id, "shop");
    j->c.kind = KIND_ORDER;
    STR_SET(j->c.object_id, object_id);
    j->c.event_time = time(NULL);
    j->data = "{\"value\":\"9.20\"}";
    STR_SET(j->pixel, "CPIX");
    j->due_ms = due_ms;
}

static void touch_job(struct pg_job *j, const char *vid, const char *event, long long ts)
{
    memset(j, 0, sizeof *j);
    j->type = PG_JOB_TOUCH;
    STR_SET(j->t.vid, vid);
    STR_SET(j->t.event, event);
    j->t.ts = ts;
}

/* A new conversion of pixel in state held (due: due_ms); its id. */
static long long add_conv(struct store_be *st, const char *object_id, const char *pixel,
                          long long due_ms)
{
    struct pg_job j;
    conv_job(&j, object_id, due_ms);
    STR_SET(j.pixel, pixel);
    return pg_write_group(st, &j, 1) == 0 && j.result == STORE_OK ? j.id : -1;
}

/* ---- migration ---- */

#define OPENERS 4
static struct store_be *opened[OPENERS];
static pthread_barrier_t start_line;

static void *open_one(void *arg)
{
    char err[256] = "";
    pthread_barrier_wait(&start_line);
    opened[(long)arg] = pg_open(conninfo, err, sizeof err);
    if (!opened[(long)arg])
        printf("# pg_open: %s\n", err);
    return NULL;
}

static void test_migration(void)
{
    pthread_t th[OPENERS];
    char err[256] = "";
    pthread_barrier_init(&start_line, NULL, OPENERS);
    for (long i = 0; i < OPENERS; i++)
        pthread_create(&th[i], NULL, open_one, (void *)i);
    int ok_n = 0;
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(th[i], NULL);
        ok_n += opened[i] != NULL;
        pg_close(opened[i]);
    }
    pthread_barrier_destroy(&start_line);
    is_int(ok_n, OPENERS, "%d instances starting together on an empty database all open", OPENERS);
    is_int(sql_int("SELECT version FROM schema_version"), 7, "the schema is at version 7");
    is_int(sql_int("SELECT count(*) FROM schema_version"), 1, "one version row");
    is_int(sql_int("SELECT count(*) FROM pg_indexes WHERE tablename='conversions'"), 5,
           "conversions has its key, unique key and three indexes, created once");

    struct store_be *again = pg_open(conninfo, err, sizeof err);
    ok(again != NULL, "opening a current schema again works (%s)", err);
    pg_close(again);

    sql_do("UPDATE schema_version SET version=99");
    again = pg_open(conninfo, err, sizeof err);
    ok(again == NULL && strstr(err, "newer"), "a newer schema is refused: %s", err);
    pg_close(again);
    sql_do("UPDATE schema_version SET version=7");

    again = pg_open("host=127.0.0.1 port=1 dbname=none connect_timeout=2", err, sizeof err);
    ok(again == NULL && strstr(err, "cannot connect"), "no server: %s", err);
}

/* ---- the group write ---- */

static void test_group_write(struct store_be *st)
{
    struct pg_job j[6];
    long long now = clock_wall_ms();

    conv_job(&j[0], "A", now + 3600000);
    conversion_add_ref(&j[0].c, "tok-A");
    conversion_add_guessable_ref(&j[0].c, "#1001");
    conv_job(&j[1], "A", now); /* the same business key again in the group */
    conv_job(&j[2], "B", now);
    j[2].c.kind = KIND_CALL;
    STR_SET(j[2].c.object_id, "A"); /* same object id, another kind: another fact */
    touch_job(&j[3], "v-group", "ViewContent", now / 1000);
    memset(&j[4], 0, sizeof j[4]);
    j[4].type = PG_JOB_DELIVERY;
    j[4].d.ts_ms = now;
    STR_SET(j[4].d.source, "shop");
    j[4].d.status = 200;
    STR_SET(j[4].d.result, "accepted");
    conv_job(&j[5], "C", now);

    is_int(pg_write_group(st, j, 6), 0, "a mixed group commits");
    is_int(j[0].result, STORE_OK, "a new business key is stored");
    ok(j[0].id > 0, "with its id");
    is_int(j[1].result, STORE_DUPLICATE, "the same key twice in one group is a duplicate");
    is_int(j[1].id, j[0].id, "of the first one's row");
    is_int(j[2].result, STORE_OK, "another kind is another business fact");
    ok(j[2].id != j[0].id, "with its own row");
    is_int(j[3].result, STORE_OK, "the touch is stored");
    ok(j[3].id > 0, "with its id");
    is_int(j[4].result, STORE_OK, "the delivery is logged");
    is_int(j[5].result, STORE_OK, "and the last conversion stored");
    is_int(sql_int("SELECT count(*) FROM conv_refs WHERE conv_id=%lld", j[0].id), 1,
           "one reference kept: the unguessable one, not the order number");
    is_int(sql_int("SELECT count(*) FROM conv_refs WHERE ref='tok-A'"), 1, "tok-A");

    long long first = j[0].id;
    struct pg_job k[2];
    conv_job(&k[0], "A", now);
    conv_job(&k[1], "D", now);
    is_int(pg_write_group(st, k, 2), 0, "a second group commits");
    is_int(k[0].result, STORE_DUPLICATE, "a key stored by an earlier group is a duplicate");
    is_int(k[0].id, first, "of the stored row");
    is_int(k[1].result, STORE_OK, "beside a new one");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE source='shop'"), 4,
           "four conversions (A as an order and as a call, C, D), none twice");
    is_int(sql_int("SELECT state FROM conversions WHERE id=%lld", first), EV_HELD,
           "stored conversions are held");
}

/* Two instances write the same business key at the same moment. */
struct racer {
    struct store_be *st;
    char key[32];
    struct pg_job job;
    int rc;
};

static void *race_write(void *arg)
{
    struct racer *r = arg;
    conv_job(&r->job, r->key, 0);
    pthread_barrier_wait(&start_line);
    r->rc = pg_write_group(r->st, &r->job, 1);
    return NULL;
}

static void test_concurrent_duplicates(struct store_be *a, struct store_be *b)
{
    int one_ok = 0, same_id = 0, committed = 0;
    pthread_barrier_init(&start_line, NULL, 2);
    for (int round = 0; round < 10; round++) {
        struct racer r[2] = {{.st = a}, {.st = b}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            snprintf(r[i].key, sizeof r[i].key, "race-%d", round);
            pthread_create(&th[i], NULL, race_write, &r[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        committed += r[0].rc == 0 && r[1].rc == 0;
        one_ok += (r[0].job.result == STORE_OK) + (r[1].job.result == STORE_OK) == 1 &&
                  (r[0].job.result == STORE_DUPLICATE || r[1].job.result == STORE_DUPLICATE);
        same_id += r[0].job.id == r[1].job.id && r[0].job.id > 0;
    }
    pthread_barrier_destroy(&start_line);
    is_int(committed, 10, "two instances writing one key: both groups commit (10 rounds)");
    is_int(one_ok, 10, "exactly one stores it, the other gets a duplicate");
    is_int(same_id, 10, "both answer with the same row");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE object_id LIKE 'race-%%'"), 10,
           "one row per key");
}

/* The conversion stored under object_id, parsed. */
static int stored_conv(const char *object_id, struct conversion *out)
{
    char q[256], *data = malloc(65536);
    snprintf(q, sizeof q, "SELECT data FROM conversions WHERE object_id='%s'", object_id);
    sql_text(data, 65536, q);
    int rc = conversion_from_json(data, out);
    free(data);
    return rc;
}

/* A sibling webhook (Shopify's orders/paid after orders/create, Stripe's session after
 * its intent) folds its keys into the held conversion, as the SQLite writer does: from a
 * later group, and from the same group as the first. A conversion no longer held keeps
 * what it was matched with. */
static void test_sibling_merge(struct store_be *st)
{
    struct conversion first, sib;
    struct pg_job j[2];
    char *t1, *t2;
    long long due = clock_wall_ms() + 60000;

    memset(&first, 0, sizeof first);
    STR_SET(first.source_id, "shop");
    first.kind = KIND_ORDER;
    first.event_time = time(NULL);
    STR_SET(first.object_id, "sib-1");
    sib = first;
    STR_SET(sib.vid, "v-sib");
    STR_SET(sib.email_hash, "e-sib");
    conversion_add_ref(&sib, "cs_test_sib");
    t1 = conversion_to_json(&first);
    t2 = conversion_to_json(&sib);
    conv_job(&j[0], "sib-1", due);
    j[0].c = first;
    j[0].data = t1;
    ok(pg_write_group(st, j, 1) == 0 && j[0].result == STORE_OK, "the first topic is stored");
    long long id = j[0].id;
    conv_job(&j[1], "sib-1", due);
    j[1].c = sib;
    j[1].data = t2;
    ok(pg_write_group(st, &j[1], 1) == 0 && j[1].result == STORE_DUPLICATE && j[1].id == id,
       "the sibling topic is a duplicate of it");
    struct conversion got;
    memset(&got, 0, sizeof got);
    ok(stored_conv("sib-1", &got) == 0, "the held conversion reads");
    is_str(got.vid, "v-sib", "the sibling's visitor id joined the held conversion");
    is_str(got.email_hash, "e-sib", "and its email hash");
    conversion_clear(&got);
    is_int(sql_int("SELECT count(*) FROM conv_refs WHERE ref='cs_test_sib' AND conv_id=%lld", id),
           1, "its unguessable reference can end the hold early");

    /* Both topics in one group. */
    STR_SET(first.object_id, "sib-2");
    STR_SET(sib.object_id, "sib-2");
    conv_job(&j[0], "sib-2", due);
    j[0].c = first;
    j[0].data = t1;
    conv_job(&j[1], "sib-2", due);
    j[1].c = sib;
    j[1].data = t2;
    ok(pg_write_group(st, j, 2) == 0 && j[0].result == STORE_OK &&
           j[1].result == STORE_DUPLICATE && j[1].id == j[0].id,
       "in one group: stored, then its duplicate");
    memset(&got, 0, sizeof got);
    ok(stored_conv("sib-2", &got) == 0, "the conversion reads");
    is_str(got.vid, "v-sib", "the sibling of the same group merged too");
    conversion_clear(&got);

    /* Not held any more: nothing changes. */
    STR_SET(first.object_id, "sib-3");
    STR_SET(sib.object_id, "sib-3");
    conv_job(&j[0], "sib-3", due);
    j[0].c = first;
    j[0].data = t1;
    pg_write_group(st, j, 1);
    sql_do("UPDATE conversions SET state=1 WHERE object_id='sib-3'");
    conv_job(&j[1], "sib-3", due);
    j[1].c = sib;
    j[1].data = t2;
    ok(pg_write_group(st, &j[1], 1) == 0 && j[1].result == STORE_DUPLICATE,
       "a sibling of a ready conversion is a duplicate");
    memset(&got, 0, sizeof got);
    ok(stored_conv("sib-3", &got) == 0, "the conversion reads");
    is_str(got.vid, "", "and the ready conversion keeps what it was matched with");
    conversion_clear(&got);
    conversion_clear(&sib);
    free(t1);
    free(t2);
}

/* ---- matching lookups ---- */

static void test_matching(struct store_be *st)
{
    long long now_ms = clock_wall_ms(), now = now_ms / 1000;
    long long held = add_conv(st, "held-ref", "CPIX", now_ms + 3600000);
    struct pg_job hj;
    conv_job(&hj, "held-ref-2", now_ms + 3600000);
    conversion_add_ref(&hj.c, "ord-1");
    pg_write_group(st, &hj, 1);

    struct pg_job j[4];
    touch_job(&j[0], "v1", "CompletePayment", now - 100);
    STR_SET(j[0].t.event_id, "e1");
    STR_SET(j[0].t.order_id, "ord-1");
    STR_SET(j[0].t.ip, "1.2.3.4");
    STR_SET(j[0].t.user_agent, "UA");
    STR_SET(j[0].t.email_hash, "H1");
    STR_SET(j[0].t.ttclid, "clk1");
    STR_SET(j[0].t.url, "https://shop.example/thanks");
    touch_job(&j[1], "v1", "", now - 50); /* an identify: phone only, no enrichment */
    STR_SET(j[1].t.phone_hash, "P1");
    touch_job(&j[2], "v2", "Purchase", now - 10);
    STR_SET(j[2].t.ip, "1.2.3.4");
    STR_SET(j[2].t.user_agent, "UA");
    touch_job(&j[3], "v3", "Purchase", now - 5);
    STR_SET(j[3].t.user_agent, "bad \xff\xfe agent \xed\xa0\x80 end");
    is_int(pg_write_group(st, j, 4), 0, "touches commit (one with invalid UTF-8)");
    char ua[64];
    sql_text(ua, sizeof ua, "SELECT user_agent FROM touches WHERE vid='v3'");
    is_str(ua, "bad ?? agent ??? end", "invalid UTF-8 is stored with each bad byte as '?'");
    ok(sql_int("SELECT due_ms FROM conversions WHERE id=%lld", hj.id) <= clock_wall_ms(),
       "a touch with the order reference ends that conversion's hold");
    ok(sql_int("SELECT due_ms FROM conversions WHERE id=%lld", held) > now_ms + 3000000,
       "and no other's");

    const char *orders[] = {"CompletePayment", "Purchase", "PlaceAnOrder"};
    struct touch_row out[8];
    int n = pg_find_touches(st, MKEY_EVENT_ID, "e1", NULL, orders, 3, 0, out, 8);
    ok(n == 1 && out[0].id == j[0].id, "by event_id (%d)", n);
    n = pg_find_touches(st, MKEY_ORDER_REF, "ord-1", NULL, orders, 3, 0, out, 8);
    ok(n == 1 && out[0].id == j[0].id && out[0].consumed_by == 0, "by order reference (%d)", n);
    n = pg_find_touches(st, MKEY_VID, "v1", NULL, orders, 3, 0, out, 8);
    ok(n == 1 && out[0].id == j[0].id, "by vid, only the alias group's events (%d)", n);
    n = pg_find_touches(st, MKEY_EMAIL, "H1", NULL, orders, 3, 0, out, 8);
    ok(n == 1 && out[0].id == j[0].id, "by email hash through the visitor (%d)", n);
    n = pg_find_touches(st, MKEY_PHONE, "P1", NULL, orders, 3, 0, out, 8);
    ok(n == 1 && out[0].id == j[0].id, "by phone hash, seen on an identify (%d)", n);
    n = pg_find_touches(st, MKEY_IP_UA, "1.2.3.4", "UA", orders, 3, 0, out, 8);
    ok(n == 2 && out[0].id == j[2].id && out[1].id == j[0].id, "by IP+UA, newest first (%d)", n);
    is_str(out[1].t.email_hash, "H1", "rows carry their fields");
    n = pg_find_touches(st, MKEY_IP_UA, "1.2.3.4", "UA", orders, 3, now - 20, out, 8);
    ok(n == 1 && out[0].id == j[2].id, "since excludes older touches (%d)", n);
    n = pg_find_touches(st, MKEY_IP_UA, "1.2.3.4", "UA", orders, 3, 0, out, 1);
    is_int(n, 1, "max bounds the rows");
    const char *calls[] = {"Contact", "Schedule"};
    is_int(pg_find_touches(st, MKEY_VID, "v1", NULL, calls, 2, 0, out, 8), 0,
           "other event names do not match");

    is_int(pg_ip_ua_visitors(st, "1.2.3.4", "UA", 0), 2, "two visitors share that IP+UA");
    is_int(pg_ip_ua_visitors(st, "1.2.3.4", "UA", now - 20), 1, "one since then");
    is_int(pg_visitor_has_key(st, "v1", "e:H1"), 1, "v1 was seen with the email");
    is_int(pg_visitor_has_key(st, "v2", "e:H1"), 0, "v2 was not");

    struct touch_row tr;
    is_int(pg_get_touch(st, j[0].id, &tr), 1, "a touch by id");
    is_str(tr.t.event_id, "e1", "its event_id");
    is_int(pg_get_touch(st, 987654321, &tr), 0, "no such touch");

    struct touch v;
    is_int(pg_find_visitor(st, "v1", &v), 1, "the visitor");
    is_str(v.ttclid, "clk1", "keeps its ttclid: a later touch without one does not erase it");
    is_str(v.url, "https://shop.example/thanks", "and its page");
    is_int(v.ts, now - 50, "last seen: the latest touch");
    is_int(pg_find_visitor(st, "nobody", &v), 0, "no such visitor");

    struct touch_row *rows = NULL;
    n = pg_list_touches(st, "v1", 10, &rows);
    ok(n == 2 && rows[0].id == j[1].id, "a visitor's touches, newest first (%d)", n);
    free(rows);
    is_int(pg_touch_count(st), 5, "five touches in all (identifies without keys are not kept)");

    is_int(pg_consent_denied(st, "v1", "", "", ""), 0, "no visitor denied consent yet");
    struct pg_job cj[3];
    touch_job(&cj[0], "v1", "", now);
    cj[0].t.consent = -1;
    touch_job(&cj[1], "v2", "", now);
    cj[1].t.consent = 1;
    touch_job(&cj[2], "v1", "", now); /* unknown after denied: denied stands */
    is_int(pg_write_group(st, cj, 3), 0, "consent reports commit");
    is_int(pg_consent_denied(st, "v1", "", "", ""), 1, "v1 denied consent");
    is_int(pg_consent_denied(st, "", "nobody", "H1", ""), 1, "found through v1's email hash");
    is_int(pg_consent_denied(st, "", "", "", "P1"), 1, "and through its phone hash");
    is_int(pg_consent_denied(st, "v2", "", "", ""), 0, "v2 granted it");
    is_int(pg_consent_denied(st, "", "", "", ""), 0, "empty arguments link nobody");
    cj[0].t.consent = 1;
    pg_write_group(st, cj, 1);
    is_int(pg_consent_denied(st, "v1", "", "H1", ""), 0, "granted later: no longer denied");

    struct event_row *due = NULL;
    n = pg_held_due(st, clock_wall_ms(), 100, &due);
    int found = 0;
    for (int i = 0; i < n; i++)
        found |= due[i].id == hj.id;
    ok(found, "the released conversion is due for matching (%d due)", n);
    store_row_free(due, n);
}

/* ---- promotion ---- */

struct promoter {
    struct store_be *st;
    long long conv, touch;
    int rc, done;
};

static void *promote_one(void *arg)
{
    struct promoter *p = arg;
    pthread_barrier_wait(&start_line);
    p->rc = pg_promote(p->st, p->conv, "CompletePayment", "ev", "vid", p->touch, "{}", "{}");
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static long long new_touch(struct store_be *st, const char *vid)
{
    struct pg_job j;
    touch_job(&j, vid, "CompletePayment", time(NULL));
    return pg_write_group(st, &j, 1) == 0 ? j.id : -1;
}

static void test_promote(struct store_be *a, struct store_be *b)
{
    long long t = new_touch(a, "v-promote");
    long long c1 = add_conv(a, "p1", "CPIX", 0), c2 = add_conv(a, "p2", "CPIX", 0);

    /* a holds the touch in an open promotion; b's promotion must wait, then lose. */
    is_int(pg_promote_begin(a), 0, "a begins a promotion batch");
    is_int(pg_promote(a, c1, "CompletePayment", "ev-1", "vid", t, "{\"p\":1}", "{}"), 0,
           "a takes the touch");
    struct promoter p = {.st = b, .conv = c2, .touch = t};
    pthread_t th;
    pthread_barrier_init(&start_line, NULL, 2);
    pthread_create(&th, NULL, promote_one, &p);
    pthread_barrier_wait(&start_line);
    sleep_ms(300);
    is_int(__atomic_load_n(&p.done, __ATOMIC_ACQUIRE), 0, "b waits for a's transaction");
    is_int(pg_promote_commit(a), 0, "a commits");
    pthread_join(th, NULL);
    pthread_barrier_destroy(&start_line);
    is_int(p.rc, -1, "b's promotion with the consumed touch fails");
    is_int(sql_int("SELECT consumed_by FROM touches WHERE id=%lld", t), c1, "consumed by a's");
    is_int(sql_int("SELECT state FROM conversions WHERE id=%lld", c1), EV_READY, "a's is ready");
    is_int(sql_int("SELECT state FROM conversions WHERE id=%lld", c2), EV_HELD, "b's still held");
    sql_do("UPDATE touches SET ts=ts-600 WHERE vid='v-promote'");
    struct event_row e1, e2;
    pg_get_event(b, c1, &e1);
    pg_get_event(b, c2, &e2);
    is_int(e1.origin_ms, sql_int("SELECT ts*1000 FROM touches WHERE id=%lld", t),
           "a matched event began at its touch's capture (earlier than the webhook)");
    is_int(e2.origin_ms, e2.received_ms, "an unmatched one at the webhook's receipt");
    store_row_clear(&e1);
    store_row_clear(&e2);
    is_int(pg_hold(b, c2, 12345), 0, "a failed promotion's hold is moved");
    is_int(sql_int("SELECT due_ms FROM conversions WHERE id=%lld", c2), 12345, "to due_ms");
    is_int(pg_promote(b, c2, "CompletePayment", "ttr_x", "none", 0, "{}", "{}"), 0,
           "promoted without a touch");
    is_int(pg_promote(b, c2, "CompletePayment", "ttr_x", "none", 0, "{}", "{}"), -1, "not twice");

    /* Simultaneous promotions of one touch, each in its own transaction. */
    int exactly_one = 0;
    pthread_barrier_init(&start_line, NULL, 2);
    for (int round = 0; round < 10; round++) {
        char o1[32], o2[32];
        snprintf(o1, sizeof o1, "cas-%d-a", round);
        snprintf(o2, sizeof o2, "cas-%d-b", round);
        long long touch = new_touch(a, "v-cas");
        struct promoter ps[2] = {{.st = a, .conv = add_conv(a, o1, "CPIX", 0), .touch = touch},
                                 {.st = b, .conv = add_conv(a, o2, "CPIX", 0), .touch = touch}};
        pthread_t ts[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&ts[i], NULL, promote_one, &ps[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(ts[i], NULL);
        long long by = sql_int("SELECT consumed_by FROM touches WHERE id=%lld", touch);
        exactly_one += (ps[0].rc == 0) + (ps[1].rc == 0) == 1 &&
                       by == (ps[0].rc == 0 ? ps[0].conv : ps[1].conv);
    }
    pthread_barrier_destroy(&start_line);
    is_int(exactly_one, 10, "two instances promoting with one touch: exactly one wins (10 rounds)");
}

/* ---- claims, leases and fences ---- */

struct claimer {
    struct store_be *st;
    const char *token;
    long long now;
    int n;
    struct event_row *rows;
};

static void *claim_one(void *arg)
{
    struct claimer *c = arg;
    pthread_barrier_wait(&start_line);
    c->n = pg_claim_due(c->st, "CLAIM", c->now, 8, 30000, c->token, &c->rows);
    return NULL;
}

static int contains(const struct event_row *rows, int n, long long id)
{
    for (int i = 0; i < n; i++)
        if (rows[i].id == id)
            return 1;
    return 0;
}

static void ids_of(const struct event_row *rows, int n, long long *ids)
{
    for (int i = 0; i < n; i++)
        ids[i] = rows[i].id;
}

/* Holds row locks on the five oldest CLAIM rows until told (or 3 s: a claim that waits
 * for them instead of skipping them fails its check rather than hanging). */
struct locker {
    pthread_mutex_t m;
    pthread_cond_t c;
    int locked, release;
};

static void *lock_rows(void *arg)
{
    struct locker *lk = arg;
    struct timespec deadline;
    PGconn *db = PQconnectdb(conninfo);
    PQclear(PQexec(db, "BEGIN"));
    PQclear(PQexec(db, "SELECT id FROM conversions WHERE pixel='CLAIM' ORDER BY id LIMIT 5 "
                       "FOR UPDATE"));
    clock_deadline(&deadline, 3000);
    pthread_mutex_lock(&lk->m);
    lk->locked = 1;
    pthread_cond_broadcast(&lk->c);
    /* clock_deadline is a CLOCK_MONOTONIC time. */
    while (!lk->release &&
           pthread_cond_clockwait(&lk->c, &lk->m, CLOCK_MONOTONIC, &deadline) == 0)
        ;
    pthread_mutex_unlock(&lk->m);
    PQclear(PQexec(db, "ROLLBACK"));
    PQfinish(db);
    return NULL;
}

static void test_claims(struct store_be *a, struct store_be *b)
{
    long long now = clock_wall_ms();
    for (int i = 0; i < 30; i++) {
        char o[32];
        snprintf(o, sizeof o, "claim-%02d", i);
        add_conv(a, o, "CLAIM", 0);
    }
    add_conv(a, "other-pixel", "OTHER", 0);
    sql_do("UPDATE conversions SET state=1, payload='{}' WHERE pixel IN ('CLAIM','OTHER')");

    is_int(pg_oldest_due_ms(a),
           sql_int("SELECT min(received_ms) FROM conversions WHERE state IN (1,3)"),
           "the oldest event waiting to be sent");

    /* Another session locks the five oldest: a claim skips them instead of waiting. */
    struct locker lk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t lt;
    pthread_create(&lt, NULL, lock_rows, &lk);
    pthread_mutex_lock(&lk.m);
    while (!lk.locked)
        pthread_cond_wait(&lk.c, &lk.m);
    pthread_mutex_unlock(&lk.m);
    long long locked_min = sql_int("SELECT min(id) FROM conversions WHERE pixel='CLAIM'");
    struct event_row *ra = NULL;
    double t0 = clock_mono_s();
    int na = pg_claim_due(a, "CLAIM", now, 10, 30000, "tok-a", &ra);
    double took = clock_mono_s() - t0;
    pthread_mutex_lock(&lk.m);
    lk.release = 1;
    pthread_cond_signal(&lk.c);
    pthread_mutex_unlock(&lk.m);
    pthread_join(lt, NULL);
    is_int(na, 10, "a claims 10 rows");
    ok(took < 2.0, "without waiting for the locked rows (%.3f s)", took);
    ok(!contains(ra, na, locked_min), "skipping the rows another session holds");
    ok(na > 0 && ra[0].state == EV_SENDING && !strcmp(ra[0].pixel, "CLAIM"),
       "claimed rows are sending, of the pixel asked");

    struct claimer c[2] = {{b, "tok-b", now, 0, NULL}, {a, "tok-c", now, 0, NULL}};
    pthread_t th[2];
    pthread_barrier_init(&start_line, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, claim_one, &c[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    int overlap = 0;
    for (int i = 0; i < c[0].n; i++)
        overlap += contains(c[1].rows, c[1].n, c[0].rows[i].id) + contains(ra, na, c[0].rows[i].id);
    for (int i = 0; i < c[1].n; i++)
        overlap += contains(ra, na, c[1].rows[i].id);
    ok(c[0].n == 8 && c[1].n == 8, "two concurrent claimers get 8 each (%d, %d)", c[0].n, c[1].n);
    is_int(overlap, 0, "disjoint rows");
    struct event_row *rd = NULL;
    int nd = pg_claim_due(b, "CLAIM", now, 10, 30000, "tok-d", &rd);
    is_int(nd, 4, "the remaining 4 to the next claim");
    store_row_free(rd, nd);
    nd = pg_claim_due(b, "CLAIM", now + 29000, 10, 30000, "tok-d", &rd);
    is_int(nd, 0, "nothing while the leases run");
    store_row_free(rd, nd);
    is_int(sql_int("SELECT count(*) FROM conversions WHERE pixel='OTHER' AND state=1"), 1,
           "another pixel's event is not claimed");

    char **pixels = NULL;
    int np = pg_due_pixels(a, now, &pixels), other = 0, claim = 0;
    for (int i = 0; i < np; i++) {
        other += !strcmp(pixels[i], "OTHER");
        claim += !strcmp(pixels[i], "CLAIM");
        free(pixels[i]);
    }
    free(pixels);
    ok(other == 1 && claim == 0, "due pixels: the unclaimed one, not the claimed (%d)", np);
    np = pg_due_pixels(a, now + 31000, &pixels);
    claim = 0;
    for (int i = 0; i < np; i++) {
        claim += !strcmp(pixels[i], "CLAIM");
        free(pixels[i]);
    }
    free(pixels);
    is_int(claim, 1, "and the claimed pixel once its leases expire");

    /* Lease expiry: e takes over every claim; the old owners' results change nothing. */
    struct event_row *re = NULL;
    long long before = pg_reclaimed(b);
    int ne = pg_claim_due(b, "CLAIM", now + 31000, 100, 30000, "tok-e", &re);
    is_int(ne, 30, "expired claims are reclaimed");
    is_int(pg_reclaimed(b) - before, 30, "and counted");
    ok(ne > 0 && re[0].origin_ms == re[0].received_ms && re[0].payload,
       "claimed rows carry what sending needs");
    is_int(sql_int("SELECT sum(reclaims) FROM conversions WHERE pixel='CLAIM'"), 30, "per row too");
    long long ids_a[10], ids_e[30];
    ids_of(ra, na, ids_a);
    ids_of(re, ne, ids_e);
    is_int(pg_mark_sent(a, ids_a, na, "tok-a", "req-stale", now), 0,
           "a stale instance's sent result changes nothing");
    is_int(pg_mark_dead(a, ids_a, na, "tok-a", "stale"), 0, "nor its dead");
    is_int(pg_mark_retry(a, ids_a, na, "tok-a", now, "stale"), 0, "nor its retry");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE pixel='CLAIM' AND state=7 AND "
                   "claim_token='tok-e'"),
           30, "every row is still the new owner's");
    is_int(pg_mark_sent(b, ids_e, 10, "tok-e", "req-1", now), 10, "the owner marks 10 sent");
    is_int(pg_mark_retry(b, ids_e + 10, 5, "tok-e", now + 60000, "HTTP 503"), 5, "5 retry");
    is_int(pg_mark_dead(b, ids_e + 15, 5, "tok-e", "40002 bad"), 5, "5 dead");
    is_int(pg_mark_ignored(b, ids_e + 20, 5, "tok-e", "test order"), 5, "5 ignored");
    is_int(pg_mark_dry_run(b, ids_e + 25, 5, "tok-e", now), 5, "5 dry run");
    is_int(pg_mark_sent(b, ids_e, 10, "tok-e", "req-2", now), 0,
           "a result is recorded once: the rows are no longer sending");
    char req[32];
    sql_text(req, sizeof req,
             "SELECT string_agg(DISTINCT request_id, ',') FROM conversions "
             "WHERE pixel='CLAIM' AND state=2");
    is_str(req, "req-1", "the first result stands");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE pixel='CLAIM' AND state=3 AND "
                   "attempts=1 AND lease_until IS NULL"),
           5, "retried rows count an attempt and drop the lease");
    is_int(pg_mark_dead(b, ids_e, 1, NULL, "by hand"), 1, "an unfenced mark (admin) applies");

    struct event_row *rr = NULL;
    int nr = pg_claim_due(a, "CLAIM", now + 59000, 100, 30000, "tok-f", &rr);
    is_int(nr, 0, "a retry is not claimed before its time");
    store_row_free(rr, nr);
    before = pg_reclaimed(a);
    nr = pg_claim_due(a, "CLAIM", now + 61000, 100, 30000, "tok-f", &rr);
    is_int(nr, 5, "but once due");
    is_int(pg_reclaimed(a) - before, 0, "which is no reclaim");
    store_row_free(rr, nr);
    struct event_row *due = NULL;
    int ndue = pg_due_events(a, "OTHER", now, 10, &due);
    ok(ndue == 1 && due[0].data == NULL && due[0].payload != NULL,
       "due events without claiming: payload, no stored conversion (%d)", ndue);
    store_row_free(due, ndue);

    store_row_free(ra, na);
    store_row_free(re, ne);
    for (int i = 0; i < 2; i++)
        store_row_free(c[i].rows, c[i].n);
}

/* A claim whose owner lost its pixel lock (its session ended: a crash, a cut connection)
 * is taken over at once by the instance that holds the lock now, not when its lease
 * expires; the old owner's results are fenced. */
static void test_orphan_takeover(struct store_be *a, struct store_be *b)
{
    long long now = clock_wall_ms();
    for (int i = 0; i < 4; i++) {
        char o[32];
        snprintf(o, sizeof o, "orphan-%d", i);
        add_conv(a, o, "ORPH", 0);
    }
    sql_do("UPDATE conversions SET state=1, payload='{}' WHERE pixel='ORPH'");
    is_int(pg_pixel_lock(a, "ORPH"), 1, "a holds pixel ORPH");
    struct event_row *ra = NULL, *rb = NULL;
    int na = pg_claim_due(a, "ORPH", now, 10, 600000, "ia.ORPH.1", &ra);
    is_int(na, 4, "a claims its four events with a 10-minute lease");
    is_int(pg_pixel_lock(b, "ORPH"), 0, "b cannot take the pixel while a holds it");
    int nb = pg_claim_due(b, "ORPH", now, 10, 600000, "ib.ORPH.1", &rb);
    is_int(nb, 0, "and without its lock b leaves a's live claims alone");
    store_row_free(rb, nb);
    ok(kill_role("sender") >= 2, "the senders' sessions end (a's lock with it)");
    int locked = pg_pixel_lock(b, "ORPH");
    if (locked < 0) /* b's own connection was cut too: the next call reconnects */
        locked = pg_pixel_lock(b, "ORPH");
    is_int(locked, 1, "b takes the pixel");
    long long before = pg_reclaimed(b);
    nb = pg_claim_due(b, "ORPH", now + 1000, 10, 600000, "ib.ORPH.2", &rb);
    is_int(nb, 4, "and at once a's orphaned claims, long before their lease ends");
    is_int(pg_reclaimed(b) - before, 4, "counted as taken over");
    long long ids[4];
    ids_of(ra, na > 4 ? 4 : na, ids);
    int marked = pg_mark_sent(a, ids, na > 4 ? 4 : na, "ia.ORPH.1", "req-orphan", now);
    if (marked < 0) /* a's connection was cut: its next call reconnects */
        marked = pg_mark_sent(a, ids, na > 4 ? 4 : na, "ia.ORPH.1", "req-orphan", now);
    is_int(marked, 0, "a's late result changes nothing");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE pixel='ORPH' AND state=7 AND "
                   "claim_token='ib.ORPH.2'"),
           4, "the rows are b's");
    store_row_free(ra, na);
    store_row_free(rb, nb);
    pg_pixel_unlock(b, "ORPH");
}

/* ---- pixel lock ---- */

static void test_pixel_lock(struct store_be *a, struct store_be *b)
{
    is_int(pg_pixel_lock(a, "PX"), 1, "a takes pixel PX");
    is_int(pg_pixel_lock(a, "PX"), 1, "again: still a's");
    is_int(pg_pixel_lock(b, "PX"), 0, "b cannot while a holds it");
    is_int(pg_pixel_lock(b, "PY"), 1, "b takes another pixel");
    is_int(pg_pixel_unlock(a, "PX"), 0, "a releases PX");
    is_int(pg_pixel_lock(b, "PX"), 1, "b takes it now");
    is_int(pg_pixel_lock(a, "PX"), 0, "a cannot");
    is_int(pg_pixel_unlock(a, "PX"), 0, "releasing what a does not hold is harmless");
    is_int(pg_pixel_lock(a, "PX"), 0, "and does not release b's");
    ok(kill_role("sender") >= 2, "the senders' connections are cut");
    is_int(pg_pixel_lock(a, "PX"), -1, "a's next call fails on the lost connection");
    is_int(pg_pixel_lock(a, "PX"), 1, "then reconnects: b's lock died with its session");
    is_int(pg_pixel_lock(b, "PY"), -1, "b finds its connection lost");
    is_int(pg_pixel_lock(b, "PX"), 0, "and, reconnected, does not believe it holds PX");
    is_int(pg_pixel_lock(b, "PY"), 1, "PY is free again");
    pg_pixel_unlock(a, "PX");
    pg_pixel_unlock(b, "PY");
}

/* ---- wake-ups ---- */

struct waiter {
    struct store_be *st;
    long long timeout;
    int rc;
    double took;
};

static void *wait_one(void *arg)
{
    struct waiter *w = arg;
    double t0 = clock_mono_s();
    w->rc = pg_wait(w->st, w->timeout);
    w->took = clock_mono_s() - t0;
    return NULL;
}

/* Takes the notifications still on their way (a commit's NOTIFY reaches listeners a
 * moment later): returns after 100 ms without one. */
static void drain(struct store_be *st)
{
    for (int i = 0; i < 50 && pg_wait(st, 100) != 0; i++)
        ;
}

static void test_wait(struct store_be *a, struct store_be *b)
{
    drain(a);
    struct waiter w = {a, 300, 0, 0};
    wait_one(&w);
    ok(w.rc == 0 && w.took >= 0.25, "nothing happens: the timeout (%d after %.3f s)", w.rc, w.took);

    pthread_t th;
    w = (struct waiter){a, 10000, 0, 0};
    pthread_create(&th, NULL, wait_one, &w);
    sleep_ms(200);
    add_conv(b, "wake-1", "CPIX", 0);
    pthread_join(th, NULL);
    ok(w.rc == 1 && w.took < 3.0, "another instance's ingest commit wakes the wait (%d, %.3f s)",
       w.rc, w.took);

    long long dead = add_conv(b, "wake-dead", "CPIX", 0);
    struct pg_job d;
    (void)d;
    char q[160];
    snprintf(q, sizeof q, "UPDATE conversions SET state=4, payload='{}' WHERE id=%lld", dead);
    sql_do(q);
    drain(a);
    w = (struct waiter){a, 10000, 0, 0};
    pthread_create(&th, NULL, wait_one, &w);
    sleep_ms(200);
    is_int(pg_replay(b, dead, clock_wall_ms()), 0, "a dead event is replayed");
    pthread_join(th, NULL);
    ok(w.rc == 1 && w.took < 3.0, "the replay wakes the wait (%d, %.3f s)", w.rc, w.took);

    drain(a);
    ok(kill_role("listener") >= 1, "the listener's connection is cut");
    w = (struct waiter){a, 200, 0, 0};
    wait_one(&w);
    is_int(w.rc, -1, "the wait reports the lost connection");
    ok(w.took >= 0.15, "after the timeout, not at once (%.3f s)", w.took);
    w = (struct waiter){a, 300, 0, 0};
    wait_one(&w); /* reconnects and listens again */
    w = (struct waiter){a, 10000, 0, 0};
    pthread_create(&th, NULL, wait_one, &w);
    sleep_ms(200);
    add_conv(b, "wake-2", "CPIX", 0);
    pthread_join(th, NULL);
    ok(w.rc == 1 && w.took < 3.0, "and listens again once reconnected (%d, %.3f s)", w.rc, w.took);
}

/* ---- dashboard views and attempts ---- */

static void test_views(struct store_be *st)
{
    struct pg_job j;
    long long now = clock_wall_ms();
    conv_job(&j, "view-1", now);
    STR_SET(j.c.order_id, "ORD-77");
    STR_SET(j.c.delivery_id, "dlv-9");
    conversion_add_ref(&j.c, "tok-77");
    conversion_add_guessable_ref(&j.c, "#77");
    char *json = conversion_to_json(&j.c);
    j.data = json;
    STR_SET(j.pixel, "VIEWPIX");
    is_int(pg_write_group(st, &j, 1), 0, "a conversion for the views");
    free(json);

    struct store_filter f = {.state = -1};
    long long *ids = NULL, total = 0;
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", j.id);
    const char *qs[] = {"ORD-77", "dlv-9", "tok-77", "#77", "view-1", idtext};
    int found = 0;
    for (int i = 0; i < 6; i++) {
        f.q = qs[i];
        int n = pg_view_find(st, &f, 0, 10, &ids, &total);
        found += n == 1 && total == 1 && ids[0] == j.id;
        free(ids);
    }
    is_int(found, 6, "found by order id, delivery id, reference, guessable ref, object, id");
    f.q = "no-such-thing";
    is_int(pg_view_find(st, &f, 0, 10, &ids, &total), 0, "a search that matches nothing");
    free(ids);
    f.q = NULL;
    f.pixel = "CLAIM";
    int n = pg_view_find(st, &f, 2, 5, &ids, &total);
    ok(n == 5 && total == 30 && ids[0] > ids[1], "a pixel's events, paged, newest first (%d/%lld)",
       n, total);
    free(ids);
    f.state = EV_SENT;
    pg_view_find(st, &f, 0, 50, &ids, &total);
    is_int(total, sql_int("SELECT count(*) FROM conversions WHERE pixel='CLAIM' AND state=2"),
           "and of a state");
    free(ids);
    struct store_filter tf = {.state = -1, .pixel = "VIEWPIX"};
    sql_do("UPDATE conversions SET test=1 WHERE pixel='VIEWPIX'");
    is_int(pg_view_find(st, &tf, 0, 10, &ids, &total), 0, "test events are left out");
    free(ids);
    tf.include_test = 1;
    is_int(pg_view_find(st, &tf, 0, 10, &ids, &total), 1, "unless asked for");
    free(ids);

    long long dead = 0, too_old = 0;
    struct store_filter df = {.state = -1, .pixel = "CLAIM"};
    is_int(pg_view_dead_count(st, &df, time(NULL) + 10, &dead, &too_old), 0, "dead count");
    ok(dead == 6 && too_old == 6, "dead events and those past the age limit (%lld, %lld)", dead,
       too_old);
    pg_view_dead_count(st, &df, 0, &dead, &too_old);
    is_int(too_old, 0, "none older than the epoch");

    struct store_latest *latest = NULL;
    n = pg_view_latest(st, "pixel", &latest);
    int claim = 0;
    for (int i = 0; i < n; i++)
        claim += !strcmp(latest[i].name, "CLAIM") && latest[i].ms > 0;
    is_int(claim, 1, "latest send per pixel");
    free(latest);
    n = pg_view_latest(st, "source", &latest);
    ok(n == 1 && !strcmp(latest[0].name, "shop"), "latest receive per source (%d)", n);
    free(latest);

    long long sent = sql_int("SELECT min(id) FROM conversions WHERE state=2 AND pixel='CLAIM'");
    long long pair[2] = {sent, j.id};
    struct store_attempt a = {now, 503, -1, "Service Unavailable", "", 120, "retry", 2};
    is_int(pg_attempt_record(st, pair, 2, &a), 0, "an attempt recorded for a batch");
    a = (struct store_attempt){now + 1000, 200, 0, "OK", "req-9", 80, "sent", 2};
    is_int(pg_attempt_record(st, pair, 2, &a), 0, "and the next one");
    struct store_attempt *at = NULL;
    n = pg_view_attempts(st, sent, &at);
    ok(n == 2 && at[0].http_status == 503 && at[0].code == -1 &&
           !strcmp(at[1].request_id, "req-9") && !strcmp(at[1].outcome, "sent") && at[1].batch == 2,
       "an event's attempts, oldest first, with their fields (%d)", n);
    free(at);
    is_int(pg_view_attempts(st, 987654321, &at), 0, "none for an unknown event");
    free(at);
}

/* ---- admin ---- */

static void test_admin(struct store_be *st)
{
    long long now = clock_wall_ms();
    struct event_row *rows = NULL;
    int n = pg_list_events(st, EV_DEAD, 100, &rows);
    ok(n >= 1, "dead events listed (%d)", n);
    int all_dead = 1;
    for (int i = 0; i < n; i++)
        all_dead &= rows[i].state == EV_DEAD;
    ok(all_dead, "only dead ones");
    store_row_free(rows, n);
    n = pg_list_events(st, -1, 3, &rows);
    ok(n == 3 && rows[0].id > rows[1].id, "any state, newest first, limited (%d)", n);
    long long newest = n > 0 ? rows[0].id : 0;
    store_row_free(rows, n);

    struct event_row e;
    is_int(pg_get_event(st, newest, &e), 1, "one event by id");
    ok(e.data && strstr(e.data, "9.20"), "with its stored conversion");
    store_row_clear(&e);
    is_int(pg_get_event(st, 987654321, &e), 0, "no such event");

    long long counts[EV_STATE_COUNT], oldest = 0;
    is_int(pg_counts(st, counts, &oldest), 0, "counts");
    is_int(counts[EV_DRY_RUN], sql_int("SELECT count(*) FROM conversions WHERE state=6"),
           "per state");
    ok(oldest > 0 && oldest <= now, "oldest queued receive time");

    is_int(pg_replay(st, newest, now), 1, "a held event is not replayable");
    long long dead_claim = sql_int("SELECT count(*) FROM conversions WHERE state=4 AND "
                                   "pixel='CLAIM' AND payload IS NOT NULL");
    is_int(pg_replay_dead(st, "CLAIM", 0, now + 1000, now), dead_claim,
           "replay of a pixel's dead events");
    is_int(pg_replay_dead(st, "CLAIM", 0, now + 1000, now), 0, "done once");
    is_int(pg_replay_dry_run(st, NULL, 0, 0, now), 0, "dry run replay: received in the window");
    is_int(pg_replay_dry_run(st, NULL, 0, now + 1000, now), 5, "dry run events replayed");

    n = pg_report_rows(st, 0, &rows);
    is_int(n, sql_int("SELECT count(*) FROM conversions"), "report rows: every conversion");
    store_row_free(rows, n);

    struct pg_job d[3];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 3; i++) {
        d[i].type = PG_JOB_DELIVERY;
        d[i].d.ts_ms = now + i;
        STR_SET(d[i].d.source, i == 2 ? "woo" : "shop");
        d[i].d.status = i == 1 ? 401 : 200;
        STR_SET(d[i].d.result, i == 1 ? "unauthorized" : "accepted");
    }
    d[0].d.conversion_id = 42;
    pg_write_group(st, d, 3);
    struct delivery *dl = NULL;
    n = pg_list_deliveries(st, "shop", 0, 10, &dl);
    ok(n == 3 && dl[0].status == 401 && dl[1].conversion_id == 42,
       "deliveries of a source, newest first (%d)", n);
    free(dl);
    n = pg_list_deliveries(st, NULL, 401, 10, &dl);
    ok(n == 1 && !strcmp(dl[0].result, "unauthorized"), "of a status (%d)", n);
    free(dl);

    /* Purge: one instance at a time. */
    sql_do("UPDATE conversions SET received_ms=1000 WHERE state=2");
    PGconn *other = PQconnectdb(conninfo);
    PQclear(PQexec(other, "BEGIN"));
    PQclear(PQexec(other, "SELECT pg_advisory_xact_lock(1953759234, 0)"));
    is_int(pg_purge(st, now / 1000, 172800, 2592000, 3600), 0,
           "purge skips while another instance purges");
    PQclear(PQexec(other, "COMMIT"));
    PQfinish(other);
    long long sent = sql_int("SELECT count(*) FROM conversions WHERE state=2");
    ok(sent > 0, "old sent events exist (%lld)", sent);
    ok(pg_purge(st, now / 1000, 172800, 2592000, 3600) >= sent, "purge removes them");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE state=2"), 0, "gone");
    is_int(sql_int("SELECT count(*) FROM attempts"), 2, "with their attempts (the others stay)");
    pg_checkpoint(st, now);
}

/* ---- lost connections ---- */

static void test_connection_loss(struct store_be *st)
{
    struct pg_job j[2];
    conv_job(&j[0], "after-loss", 0);
    touch_job(&j[1], "v-loss", "ViewContent", time(NULL));
    ok(kill_role("writer") >= 1, "the writers' connections are cut");
    is_int(pg_write_group(st, j, 2), -1, "the group fails: nothing acknowledged");
    ok(j[0].result == STORE_ERROR && j[1].result == STORE_ERROR, "every job says so");
    is_int(sql_int("SELECT count(*) FROM conversions WHERE object_id='after-loss'"), 0,
           "nothing was written");
    is_int(pg_writable(st), 1, "readiness probes and reconnects");
    is_int(pg_write_group(st, j, 2), 0, "the sender's retry commits");
    is_int(j[0].result, STORE_OK, "as a new conversion");

    ok(kill_role("admin") >= 1, "the admin connections are cut");
    struct event_row *rows = NULL;
    is_int(pg_list_events(st, -1, 1, &rows), -1, "an admin call fails once");
    int n = pg_list_events(st, -1, 1, &rows);
    is_int(n, 1, "then reconnects");
    store_row_free(rows, n);

    long long c = add_conv(st, "loss-promote", "CPIX", 0);
    is_int(pg_promote_begin(st), 0, "a promotion batch begins");
    ok(kill_role("matcher") >= 1, "the matcher's connection is cut");
    is_int(pg_promote(st, c, "Purchase", "x", "none", 0, "{}", "{}"), -1,
           "a promotion inside the lost transaction fails");
    is_int(pg_promote(st, c, "Purchase", "x", "none", 0, "{}", "{}"), -1,
           "and keeps failing until the batch ends");
    is_int(pg_promote_commit(st), -1, "the batch commits nothing");
    is_int(pg_promote(st, c, "Purchase", "x", "none", 0, "{}", "{}"), 0,
           "the next promotion reconnects");
}

static int setup(void)
{
    const char *info = getenv("TTR_PG_CONNINFO");
    const char *file = getenv("TTR_PG_CONNINFO_FILE");
    if (info) {
        snprintf(base_info, sizeof base_info, "%s", info);
    } else if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(base_info, sizeof base_info, f)) {
            printf("# cannot read %s\n", file);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        base_info[strcspn(base_info, "\n")] = '\0';
    } else {
        return 1;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(dbname, sizeof dbname, "ttr_test_%d_%d", (int)getpid(), rand() % 100000);
    PGconn *admin = PQconnectdb(base_info);
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", dbname);
    PGresult *r = PQexec(admin, q);
    int ok_ = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok_)
        printf("# %s: %s", q, PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    /* A later keyword wins: the same server, this test's database. */
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", base_info, dbname);
    raw = PQconnectdb(conninfo);
    return ok_ && PQstatus(raw) == CONNECTION_OK ? 0 : -1;
}

static void teardown(void)
{
    PQfinish(raw);
    PGconn *admin = PQconnectdb(base_info);
    char q[128];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    PQclear(PQexec(admin, q));
    PQfinish(admin);
}

int main(void)
{
    char err[256] = "";
    int s = setup();
    if (s == 1) {
        printf("1..0 # SKIP no PostgreSQL (TTR_PG_CONNINFO or TTR_PG_CONNINFO_FILE)\n");
        return 77;
    }
    ok(s == 0, "a database of this test's own");
    if (s < 0)
        return tap_done();
    double t0 = clock_mono_s();
    test_migration();
    struct store_be *a = pg_open(conninfo, err, sizeof err);
    struct store_be *b = pg_open(conninfo, err, sizeof err);
    ok(a && b, "two instances open (%s)", err);
    if (a && b) {
        test_group_write(a);
        test_concurrent_duplicates(a, b);
        test_sibling_merge(a);
        test_matching(a);
        test_promote(a, b);
        test_claims(a, b);
        test_views(a);
        test_pixel_lock(a, b);
        test_orphan_takeover(a, b);
        test_wait(a, b);
        test_admin(a);
        test_connection_loss(a);
    }
    pg_close(a);
    pg_close(b);
    printf("# %.1f s\n", clock_mono_s() - t0);
    teardown();
    return tap_done();
}
