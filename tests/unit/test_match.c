/* The matching engine against a real SQLite store: every rule, its precedence, alias
 * groups, the window, consume-once, hold/re-match and enrichment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "match.h"
#include "normalize.h"
#include "store.h"
#include "tap.h"

static char dir[128];
static struct config *cfg;
static long long now_s;

static struct config *load_config(void)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/ttrelay.conf", dir);
    FILE *f = fopen(path, "w");
    fprintf(
        f, "admin = { token = \"0123456789abcdef\"; };\n"
           "tiktok = { default_pixel = \"CPIX\"; dry_run = true; pixels = ( { code = \"CPIX\"; } "
           "); };\n"
           "events = { order = \"CompletePayment\"; call = \"Contact\"; lead = \"SubmitForm\"; };\n"
           "match = { hold_s = 0; window_s = 172800; ip_ua_window_s = 1800; };\n"
           "sources = ( { id = \"shop\"; type = \"shopify\"; secret = \"s\"; } );\n");
    fclose(f);
    struct config *c = config_load(path, err, sizeof err);
    if (!c)
        printf("# config: %s\n", err);
    return c;
}

static struct store *fresh_store(const char *name)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    struct store *st = store_open(path, 0, err, sizeof err);
    if (!st)
        printf("# store: %s\n", err);
    return st;
}

static void add_touch(struct store *st, const char *vid, const char *event, const char *event_id,
                      const char *order_id, const char *email, long long age_s)
{
    struct touch t;
    memset(&t, 0, sizeof t);
    STR_SET(t.vid, vid);
    STR_SET(t.event, event);
    STR_SET(t.event_id, event_id);
    STR_SET(t.order_id, order_id);
    STR_SET(t.ip, "203.0.113.7");
    STR_SET(t.user_agent, "UA-touch");
    STR_SET(t.ttp, "ttp-of-visitor");
    STR_SET(t.url, "https://shop.example/thanks");
    if (email)
        normalize_hash_email(email, t.email_hash);
    t.ts = now_s - age_s;
    store_add_touch(st, &t);
}

static void order(struct conversion *c, const char *object_id)
{
    memset(c, 0, sizeof *c);
    STR_SET(c->source_id, "shop");
    c->kind = KIND_ORDER;
    STR_SET(c->object_id, object_id);
    c->event_time = now_s;
}

/* Matches and, like the forwarder, promotes so that the touch is consumed. */
static void match_and_consume(struct store *st, const struct conversion *c, struct match_result *m)
{
    long long id = 0;
    memset(m, 0, sizeof *m);
    if (store_add_conversion(st, c, "CPIX", 0, 0, &id) != STORE_OK)
        printf("# add_conversion failed\n");
    if (match_conversion(st, cfg, c, now_s, m) < 0)
        printf("# match failed\n");
    store_promote(st, id, m->event_name, m->event_id, m->matched_by, m->touch_id, "{}");
}

static void test_rules_and_precedence(void)
{
    struct store *st = fresh_store("rules");
    struct conversion c;
    struct match_result m;

    add_touch(st, "v1", "CompletePayment", "pix-ref", "#1001", NULL, 60);
    add_touch(st, "v1", "Purchase", "pix-vid", "", NULL, 30);
    add_touch(st, "v2", "PlaceAnOrder", "pix-email", "", "Buyer@Example.com", 20);
    add_touch(st, "v3", "CompletePayment", "pix-ipua", "", NULL, 10);

    order(&c, "1");
    STR_SET(c.event_id, "explicit-1");
    conversion_add_ref(&c, "#1001");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "event_id", "rule 1: an explicit event_id wins over an order reference");
    is_str(m.event_id, "explicit-1", "rule 1: the webhook's event_id is used as is");
    is_str(m.event_name, "CompletePayment", "rule 1 without a touch: the configured name");

    order(&c, "2");
    conversion_add_ref(&c, "#1001");
    STR_SET(c.vid, "v1");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "order_ref", "rule 2: order reference beats the visitor id");
    is_str(m.event_id, "pix-ref", "rule 2: the touch's event_id is reused");

    order(&c, "3");
    STR_SET(c.vid, "v1");
    normalize_hash_email("buyer@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "vid", "rule 3: visitor id beats email");
    is_str(m.event_id, "pix-vid", "rule 3: the visitor's latest touch in the group");
    is_str(m.event_name, "Purchase", "the server event takes the touch's alias name");

    order(&c, "4");
    normalize_hash_email(" BUYER@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "email", "rule 4: hashed email finds the visitor seen with it");
    is_str(m.event_id, "pix-email", "rule 4: that visitor's touch");

    order(&c, "5");
    STR_SET(c.ip, "203.0.113.7");
    STR_SET(c.user_agent, "UA-touch");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "ip_ua", "rule 6: same IP and user agent within the window");
    is_str(m.event_id, "pix-ipua", "rule 6: the latest touch with them");

    order(&c, "6");
    STR_SET(c.ip, "203.0.113.7");
    STR_SET(c.user_agent, "UA-touch");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "every touch consumed: nothing left to match");
    char want[80];
    match_default_event_id(&c, want, sizeof want);
    is_str(m.event_id, want, "no match: the deterministic id");
    ok(strncmp(m.event_id, "ttr_", 4) == 0 && strlen(m.event_id) == 68,
       "deterministic id is ttr_ + 64 hex");
    store_close(st);
}

static void test_phone_rule(void)
{
    struct store *st = fresh_store("phone");
    struct touch t;
    struct conversion c;
    struct match_result m;

    memset(&t, 0, sizeof t);
    STR_SET(t.vid, "vp");
    normalize_hash_phone("+1 404 555 0123", NULL, t.phone_hash);
    t.ts = now_s - 100;
    store_add_touch(st, &t); /* an identify: phone only */
    add_touch(st, "vp", "CompletePayment", "pix-phone", "", NULL, 50);
    order(&c, "p1");
    normalize_hash_phone("(404) 555-0123", "US", c.phone_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "phone",
           "rule 5: a national phone with the order's country matches E.164");
    is_str(m.event_id, "pix-phone", "rule 5: the touch of the visitor seen with that phone");
    store_close(st);
}

static void test_alias_groups_and_window(void)
{
    struct store *st = fresh_store("alias");
    struct conversion c;
    struct match_result m;

    add_touch(st, "va", "ViewContent", "pix-view", "", NULL, 10);
    add_touch(st, "va", "Contact", "pix-contact", "", NULL, 20);
    add_touch(st, "vb", "CompletePayment", "pix-old", "", NULL, 172800 + 60);

    order(&c, "a1");
    STR_SET(c.vid, "va");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "an order ignores ViewContent and Contact touches");

    memset(&c, 0, sizeof c);
    STR_SET(c.source_id, "shop");
    c.kind = KIND_CALL;
    STR_SET(c.object_id, "call-1");
    STR_SET(c.vid, "va");
    c.event_time = now_s;
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-contact", "a call matches the Contact touch");
    is_str(m.event_name, "Contact", "a call keeps the touch's name");

    order(&c, "b1");
    STR_SET(c.vid, "vb");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a touch older than window_s does not count");

    ok(match_name_in_group(cfg, KIND_LEAD, "SubmitForm"),
       "the configured lead name is in its group");
    ok(match_name_in_group(cfg, KIND_LEAD, "CompleteRegistration"),
       "CompleteRegistration is a lead alias");
    ok(!match_name_in_group(cfg, KIND_LEAD, "Contact"), "Contact is not a lead alias");
    ok(match_name_in_group(cfg, KIND_CALL, "Schedule"), "Schedule is a call alias");
    store_close(st);
}

static void test_consume_once(void)
{
    struct store *st = fresh_store("once");
    struct conversion c;
    struct match_result m1, m2;

    add_touch(st, "vc", "CompletePayment", "pix-first", "", "repeat@example.com", 100);
    order(&c, "order-1");
    normalize_hash_email("repeat@example.com", c.email_hash);
    match_and_consume(st, &c, &m1);
    order(&c, "order-2");
    normalize_hash_email("repeat@example.com", c.email_hash);
    match_and_consume(st, &c, &m2);
    is_str(m1.event_id, "pix-first", "the first order takes the touch's event_id");
    ok(strcmp(m1.event_id, m2.event_id) != 0,
       "a customer's second order gets a different event_id");
    is_str(m2.matched_by, "none", "the consumed touch is not matched again");
    store_close(st);
}

static void test_hold_and_rematch(void)
{
    struct store *st = fresh_store("hold");
    struct conversion c;
    struct match_result m;
    struct event_row *rows = NULL;
    long long id = 0, now_ms = now_s * 1000;

    order(&c, "held-1");
    conversion_add_ref(&c, "#2002");
    store_add_conversion(st, &c, "CPIX", 0, now_ms + 30000, &id);
    int n = store_held_due(st, now_ms, 10, &rows);
    is_int(n, 0, "a held conversion is not due before its hold ends");
    store_row_free(rows, n);
    add_touch(st, "vh", "CompletePayment", "pix-late", "#2002", NULL, 0);
    n = store_held_due(st, now_ms + 1000 + (time(NULL) - now_s) * 1000, 10, &rows);
    is_int(n, 1, "a touch with the order's reference releases the hold early");
    store_row_free(rows, n);
    match_conversion(st, cfg, &c, now_s, &m);
    is_str(m.event_id, "pix-late", "matching after the hold finds a touch that arrived later");
    store_close(st);
}

static void test_enrichment(void)
{
    struct store *st = fresh_store("enrich");
    struct conversion c;
    struct match_result m;
    struct touch t;

    memset(&t, 0, sizeof t);
    STR_SET(t.vid, "ve");
    STR_SET(t.ttclid, "E.C.P.landing");
    t.ts = now_s - 500;
    store_add_touch(st, &t); /* a landing capture: ttclid only */
    add_touch(st, "ve", "CompletePayment", "pix-e", "", NULL, 100);

    order(&c, "e1");
    STR_SET(c.vid, "ve");
    STR_SET(c.ip, "198.51.100.1");
    STR_SET(c.ttclid, "E.C.P.webhook");
    match_and_consume(st, &c, &m);
    is_str(m.enrich.ttclid, "E.C.P.landing", "the visitor's ttclid enriches the event");
    is_str(m.enrich.ttp, "ttp-of-visitor", "the visitor's _ttp enriches the event");
    is_str(m.enrich.ip, "203.0.113.7", "the visitor's IP is preferred to the webhook's");

    order(&c, "e2");
    STR_SET(c.ip, "198.51.100.1");
    STR_SET(c.ttclid, "E.C.P.webhook");
    match_and_consume(st, &c, &m);
    is_str(m.enrich.ttclid, "", "no visitor: nothing to enrich from");
    store_close(st);
}

int main(void)
{
    if (tap_tempdir(dir, sizeof dir, "ttr-match") < 0)
        return 1;
    now_s = time(NULL);
    cfg = load_config();
    ok(cfg != NULL, "test configuration loads");
    if (!cfg)
        return tap_done();
    test_rules_and_precedence();
    test_phone_rule();
    test_alias_groups_and_window();
    test_consume_once();
    test_hold_and_rematch();
    test_enrichment();
    config_drop(cfg);
    tap_rmdir(dir);
    return tap_done();
}
