/* The matching engine against a real SQLite store, each check on a small crafted history:
 * keys by strength, ownership, guessable references, ambiguity (office IP, carrier NAT,
 * shared email), time proximity, value agreement, joint assignment of an upsell pair, a
 * stale touch, derived ids, the explanation, the window, consume-once, hold release and
 * enrichment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hash.h"
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
           "match = { hold_s = 0; window_s = 172800; ip_ua_window_s = 1800; max_gap_s = 3600; };\n"
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

/* A touch of visitor vid, age_s seconds ago (negative: in the future of now_s), with its
 * own IP "203.0.113.<n>" derived from the vid unless ip is given. */
struct touch_spec {
    const char *vid, *event, *event_id, *order_id, *email, *ip, *ua, *value;
    long long age_s;
};

static void put_touch(struct store *st, struct touch_spec s)
{
    struct touch t;
    char ip[32];
    memset(&t, 0, sizeof t);
    STR_SET(t.vid, s.vid);
    STR_SET(t.event, s.event ? s.event : "CompletePayment");
    STR_SET(t.event_id, s.event_id);
    STR_SET(t.order_id, s.order_id ? s.order_id : "");
    unsigned h = 0;
    for (const char *p = s.vid; *p; p++)
        h = h * 31 + (unsigned char)*p;
    snprintf(ip, sizeof ip, "203.0.%u.%u", h % 250, (h / 250) % 250);
    STR_SET(t.ip, s.ip ? s.ip : ip);
    STR_SET(t.user_agent, s.ua ? s.ua : "UA-touch");
    STR_SET(t.ttp, "ttp-of-visitor");
    STR_SET(t.url, "https://shop.example/thanks");
    if (s.value) {
        STR_SET(t.value, s.value);
        STR_SET(t.currency, "USD");
    }
    if (s.email)
        normalize_hash_email(s.email, t.email_hash);
    t.ts = now_s - s.age_s;
    store_add_touch(st, &t);
}
#define TOUCH(st, ...) put_touch(st, (struct touch_spec){__VA_ARGS__})

static void order(struct conversion *c, const char *object_id)
{
    memset(c, 0, sizeof *c);
    STR_SET(c->source_id, "shop");
    c->kind = KIND_ORDER;
    STR_SET(c->object_id, object_id);
    conversion_add_ref(c, object_id);
    STR_SET(c->page_ref, object_id);
    c->event_time = now_s - 120; /* created two minutes ago: its thank-you touches follow */
}

/* Stores, matches and, like the forwarder, promotes so that the touch is consumed. */
static void match_and_consume(struct store *st, const struct conversion *c, struct match_result *m)
{
    long long id = 0;
    memset(m, 0, sizeof *m);
    if (store_add_conversion(st, c, "CPIX", 0, 0, &id) != STORE_OK)
        printf("# add_conversion failed\n");
    if (match_pass(st, cfg, c, &id, 1, now_s, m) < 0)
        printf("# match failed\n");
    char *info = match_explain_json(m);
    store_promote(st, id, m->event_name, m->event_id, m->matched_by, m->touch_id, "{}", info);
    free(info);
}

/* The outcome recorded for the candidate with that event_id, or "absent". */
static const char *outcome_of(const struct match_result *m, const char *event_id)
{
    for (int i = 0; i < m->ncand; i++)
        if (strcmp(m->cand[i].event_id, event_id) == 0)
            return match_outcome_name(m->cand[i].outcome);
    return "absent";
}

static void test_keys_by_strength(void)
{
    struct store *st = fresh_store("rules");
    struct conversion c;
    struct match_result m;

    TOUCH(st, "v1", .event_id = "pix-ref", .order_id = "1001", .age_s = 60);
    TOUCH(st, "v1", .event = "Purchase", .event_id = "pix-vid", .age_s = 30);
    TOUCH(st, "v2", .event = "PlaceAnOrder", .event_id = "pix-email",
          .email = "Buyer@Example.com", .age_s = 20);
    TOUCH(st, "v3", .event_id = "pix-ipua", .ip = "198.51.100.77", .ua = "UA-v3", .age_s = 10);

    order(&c, "1");
    STR_SET(c.event_id, "explicit-1");
    conversion_add_ref(&c, "1001");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "event_id", "an explicit event_id wins over an order reference");
    is_str(m.event_id, "explicit-1", "the webhook's event_id is used as is");
    is_str(m.event_name, "CompletePayment", "explicit id without a touch: the configured name");

    order(&c, "1001");
    STR_SET(c.vid, "v1");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "order_ref", "an order reference beats the visitor id");
    is_str(m.event_id, "pix-ref", "the reference's touch event_id is reused");
    is_str(outcome_of(&m, "pix-vid"), "weaker_key", "the vid touch lost to the stronger key");

    order(&c, "3");
    STR_SET(c.vid, "v1");
    normalize_hash_email("buyer@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "vid", "the visitor id beats email");
    is_str(m.event_id, "pix-vid", "the visitor's touch in the group");
    is_str(m.event_name, "Purchase", "the server event takes the touch's alias name");

    order(&c, "4");
    normalize_hash_email(" BUYER@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "email", "a hashed email finds the visitor seen with it");
    is_str(m.event_id, "pix-email", "that visitor's touch");

    order(&c, "5");
    STR_SET(c.ip, "198.51.100.77");
    STR_SET(c.user_agent, "UA-v3");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "ip_ua", "IP + user agent seen with one visitor only");
    is_str(m.event_id, "pix-ipua", "that visitor's touch");

    order(&c, "6");
    STR_SET(c.ip, "198.51.100.77");
    STR_SET(c.user_agent, "UA-v3");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "every touch consumed: nothing left to match");
    is_str(m.refusal, "consumed", "the refusal says the touch was consumed");
    char want[80];
    match_default_event_id(&c, want, sizeof want);
    is_str(m.event_id, want, "no match: the deterministic id");
    ok(strncmp(m.event_id, "ttr_", 4) == 0 && strlen(m.event_id) == 68,
       "deterministic id is ttr_ + 64 hex");
    store_close(st);
}

static void test_ownership(void)
{
    struct store *st = fresh_store("owned");
    struct conversion c;
    struct match_result m;

    /* The thank-you touch of order 5555 arrives before its webhook; another order of the
     * same visitor (same vid, same email) must not take it. */
    TOUCH(st, "vo", .event_id = "pix-5555", .order_id = "5555", .email = "o@example.com",
          .age_s = 5);
    order(&c, "6666");
    STR_SET(c.vid, "vo");
    normalize_hash_email("o@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a touch owned by another order is not taken by vid or email");
    is_str(outcome_of(&m, "pix-5555"), "owned", "recorded as owned by another order");
    is_str(m.refusal, "owned", "the refusal reason is ownership");

    order(&c, "5555");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-5555", "the owner takes it by its reference");
    is_str(m.matched_by, "order_ref", "by order reference");
    store_close(st);
}

static void test_guessable_reference(void)
{
    struct store *st = fresh_store("guess");
    struct conversion c;
    struct match_result m;

    /* Someone posts a beacon naming the next order number. */
    TOUCH(st, "v-attacker", .event_id = "pix-forged", .order_id = "#1002", .age_s = 30);
    order(&c, "820982911946154600");
    conversion_add_guessable_ref(&c, "#1002");
    STR_SET(c.vid, "v-buyer");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a beacon's guessable order name alone links nothing");
    is_str(outcome_of(&m, "pix-forged"), "guessable", "recorded as a guessable reference");

    /* The buyer's own thank-you touch with the order name, and the signed vid links it. */
    TOUCH(st, "v-buyer2", .event_id = "pix-real", .order_id = "#1003", .age_s = 20);
    order(&c, "820982911946154601");
    conversion_add_guessable_ref(&c, "#1003");
    STR_SET(c.vid, "v-buyer2");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-real", "a guessable reference counts when the vid links its visitor");
    is_str(m.matched_by, "order_ref", "and it ranks as an order reference");

    /* A signed vid outranks what a beacon claims with a guessable reference. */
    TOUCH(st, "v-x", .event_id = "pix-claim", .order_id = "#1004", .age_s = 10);
    TOUCH(st, "v-own", .event_id = "pix-own", .age_s = 8);
    order(&c, "820982911946154602");
    conversion_add_guessable_ref(&c, "#1004");
    STR_SET(c.vid, "v-own");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-own", "the webhook's own vid beats a forged guessable reference");
    store_close(st);
}

static void test_ambiguity(void)
{
    struct store *st = fresh_store("ambiguous");
    struct conversion c;
    struct match_result m;

    /* An office: two visitors, one IP, the same browser build. */
    TOUCH(st, "office-a", .event_id = "pix-oa", .ip = "192.0.2.10", .ua = "UA-corp", .age_s = 40);
    TOUCH(st, "office-b", .event_id = "pix-ob", .ip = "192.0.2.10", .ua = "UA-corp", .age_s = 20);
    order(&c, "o1");
    STR_SET(c.ip, "192.0.2.10");
    STR_SET(c.user_agent, "UA-corp");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "office: a shared IP + user agent matches nothing");
    is_str(m.refusal, "shared_ip_ua", "office: refused as shared");

    /* A carrier NAT: one IP, different browsers; the pair is one visitor's. */
    TOUCH(st, "nat-a", .event_id = "pix-na", .ip = "192.0.2.20", .ua = "UA-android", .age_s = 40);
    TOUCH(st, "nat-b", .event_id = "pix-nb", .ip = "192.0.2.20", .ua = "UA-iphone", .age_s = 20);
    order(&c, "o2");
    STR_SET(c.ip, "192.0.2.20");
    STR_SET(c.user_agent, "UA-iphone");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-nb", "NAT: the one visitor with that IP + user agent");

    /* A household email on two devices, both bought within seconds: cannot tell. */
    TOUCH(st, "home-a", .event_id = "pix-ha", .email = "home@example.com", .age_s = 12);
    TOUCH(st, "home-b", .event_id = "pix-hb", .email = "home@example.com", .age_s = 10);
    order(&c, "o3");
    normalize_hash_email("home@example.com", c.email_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "two visitors equally close by one key: no match");
    is_str(m.refusal, "ambiguous", "recorded as ambiguous");
    is_str(outcome_of(&m, "pix-ha"), "ambiguous", "each tied candidate is marked ambiguous");
    store_close(st);
}

static void test_time_and_value(void)
{
    struct store *st = fresh_store("timevalue");
    struct conversion c;
    struct match_result m;

    /* The same visitor's touches: the one nearest the order's own time wins. */
    TOUCH(st, "vt", .event_id = "pix-near", .age_s = 110);
    TOUCH(st, "vt", .event_id = "pix-later", .age_s = -900);
    order(&c, "t1");
    STR_SET(c.vid, "vt");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-near", "closest in time to the conversion wins, not the latest");
    is_str(outcome_of(&m, "pix-later"), "further", "the other lost on time");

    /* A thank-you event from before the order existed is an earlier order's. */
    TOUCH(st, "vb", .event_id = "pix-before", .age_s = 400);
    order(&c, "t0");
    STR_SET(c.vid, "vb");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a thank-you event 280 s before the order is not taken");
    is_str(outcome_of(&m, "pix-before"), "early", "recorded as from before the order");

    /* Equally close, values 20 and 50: the order of 50 takes the 50. */
    TOUCH(st, "vv", .event_id = "pix-20", .value = "20.00", .age_s = 3);
    TOUCH(st, "vv", .event_id = "pix-50", .value = "50.00", .age_s = 3);
    order(&c, "t2");
    STR_SET(c.vid, "vv");
    STR_SET(c.value, "50.00");
    STR_SET(c.currency, "USD");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-50", "equally close: the agreeing value wins");

    /* A value that contradicts the order's is not taken by a weak key. */
    order(&c, "t3");
    STR_SET(c.vid, "vv");
    STR_SET(c.value, "80.00");
    STR_SET(c.currency, "USD");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a contradicting value (20 for 80) is refused");
    is_str(outcome_of(&m, "pix-20"), "value", "recorded as a value contradiction");

    /* Within tolerance: the pixel left out shipping and tax. */
    TOUCH(st, "vs", .event_id = "pix-sub", .value = "42.00", .age_s = 2);
    order(&c, "t4");
    STR_SET(c.vid, "vs");
    STR_SET(c.value, "51.37");
    STR_SET(c.currency, "USD");
    match_and_consume(st, &c, &m);
    is_str(m.event_id, "pix-sub", "a pixel value without shipping and tax agrees");
    store_close(st);
}

static void test_stale_touch(void)
{
    struct store *st = fresh_store("stale");
    struct conversion c;
    struct match_result m;

    /* Yesterday's thank-you touch was never consumed (its beacon came after that order's
     * hold); today's order of the same visitor lost its beacon. */
    TOUCH(st, "vr", .event_id = "pix-yesterday", .age_s = 86400 - 600);
    order(&c, "r2");
    STR_SET(c.vid, "vr");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "none", "a stale unconsumed touch of an earlier order is not taken");
    is_str(outcome_of(&m, "pix-yesterday"), "too_far", "recorded as too far in time");
    store_close(st);
}

static void test_joint_upsell(void)
{
    struct store *st = fresh_store("upsell");
    struct conversion c[2];
    struct match_result m[2];
    long long ids[2];

    /* A one-click upsell 5 s after the first order; both thank-you events inside the hold,
     * without order ids or values. Alone, the upsell is nearer to the first touch. */
    TOUCH(st, "vu", .event_id = "pix-first", .age_s = -4);
    TOUCH(st, "vu", .event_id = "pix-upsell", .age_s = -6);
    order(&c[0], "u1");
    order(&c[1], "u2");
    c[0].event_time = now_s;
    c[1].event_time = now_s + 5;
    for (int i = 0; i < 2; i++) {
        STR_SET(c[i].vid, "vu");
        store_add_conversion(st, &c[i], "CPIX", 0, 0, &ids[i]);
    }
    match_pass(st, cfg, c, ids, 2, now_s, m);
    is_str(m[0].event_id, "pix-first", "joint: the first order gets the first thank-you touch");
    is_str(m[1].event_id, "pix-upsell", "joint: the upsell gets its own touch");
    is_str(outcome_of(&m[1], "pix-first"), "taken", "joint: the other touch is recorded as taken");

    /* With values, reversed arrival: value agreement keeps them apart. */
    TOUCH(st, "vw", .event_id = "pix-w20", .value = "20.00", .age_s = -3);
    TOUCH(st, "vw", .event_id = "pix-w50", .value = "50.00", .age_s = -3);
    order(&c[0], "w1");
    order(&c[1], "w2");
    c[0].event_time = c[1].event_time = now_s;
    STR_SET(c[0].value, "50.00");
    STR_SET(c[1].value, "20.00");
    for (int i = 0; i < 2; i++) {
        STR_SET(c[i].vid, "vw");
        STR_SET(c[i].currency, "USD");
        store_add_conversion(st, &c[i], "CPIX", 0, 0, &ids[i]);
    }
    match_pass(st, cfg, c, ids, 2, now_s, m);
    is_str(m[0].event_id, "pix-w50", "joint with values: the 50 order takes the 50 touch");
    is_str(m[1].event_id, "pix-w20", "joint with values: the 20 upsell takes the 20 touch");

    /* One webhook names the touch's event_id itself; the other may not take that touch. */
    TOUCH(st, "vx", .event_id = "pix-named", .age_s = -2);
    order(&c[0], "x1");
    order(&c[1], "x2");
    STR_SET(c[0].event_id, "pix-named");
    STR_SET(c[1].vid, "vx");
    for (int i = 0; i < 2; i++)
        store_add_conversion(st, &c[i], "CPIX", 0, 0, &ids[i]);
    match_pass(st, cfg, c, ids, 2, now_s, m);
    is_int(m[0].touch_id > 0, 1, "the explicit event_id holds its touch");
    is_str(m[1].matched_by, "none", "the other conversion of the pass does not take it");
    is_str(outcome_of(&m[1], "pix-named"), "taken", "recorded as taken");
    store_close(st);
}

static void test_derived_id(void)
{
    struct store *st = fresh_store("derived");
    struct conversion c;
    struct match_result m;
    char want[80], hex[HASH_HEX_LEN + 1];

    order(&c, "450789469");
    match_default_event_id(&c, want, sizeof want);
    const char *key = "shop:order:450789469";
    hash_sha256_hex(key, strlen(key), hex);
    ok(strncmp(want, "ttr_", 4) == 0 && strcmp(want + 4, hex) == 0,
       "the derived id is ttr_ + SHA-256 of source:order:<order id>, as ttr.js derives it");

    /* Stripe: the success page sees the Checkout Session, not the intent. */
    order(&c, "pi_3Abc");
    STR_SET(c.page_ref, "cs_test_a1");
    char stripe[80];
    match_default_event_id(&c, stripe, sizeof stripe);
    key = "shop:order:cs_test_a1";
    hash_sha256_hex(key, strlen(key), hex);
    ok(strcmp(stripe + 4, hex) == 0, "the derived id follows the page reference");

    /* A thank-you touch that carries only the derived id (no order_id) is this order's. */
    TOUCH(st, "vd", .event_id = want, .age_s = 2);
    order(&c, "450789469");
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "order_ref", "a touch with the derived id matches as the order's");
    is_str(m.event_id, want, "with that id");
    store_close(st);
}

static void test_explanation(void)
{
    struct store *st = fresh_store("explain");
    struct conversion c;
    struct match_result m;

    TOUCH(st, "ve1", .event_id = "pix-keep", .age_s = 1);
    TOUCH(st, "ve1", .event_id = "pix-other-order", .order_id = "9999", .age_s = 2);
    order(&c, "x1");
    STR_SET(c.vid, "ve1");
    match_and_consume(st, &c, &m);
    char *j = match_explain_json(&m);
    ok(j && strstr(j, "\"decision\":\"matched\""), "the explanation states the decision");
    ok(j && strstr(j, "\"outcome\":\"owned\"") &&
           strstr(j, "carries the reference 9999 of another order"),
       "and why the other candidate lost, in words");
    free(j);
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
    TOUCH(st, "vp", .event_id = "pix-phone", .age_s = 50);
    order(&c, "p1");
    normalize_hash_phone("(404) 555-0123", "US", c.phone_hash);
    match_and_consume(st, &c, &m);
    is_str(m.matched_by, "phone", "a national phone with the order's country matches E.164");
    is_str(m.event_id, "pix-phone", "the touch of the visitor seen with that phone");
    store_close(st);
}

static void test_alias_groups_and_window(void)
{
    struct store *st = fresh_store("alias");
    struct conversion c;
    struct match_result m;

    TOUCH(st, "va", .event = "ViewContent", .event_id = "pix-view", .age_s = 10);
    TOUCH(st, "va", .event = "Contact", .event_id = "pix-contact", .age_s = 20);
    TOUCH(st, "vb", .event_id = "pix-old", .age_s = 172800 + 60);

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
    is_int(m.ncand, 0, "and is not even a candidate");

    ok(match_name_in_group(cfg, KIND_LEAD, "SubmitForm"), "the configured lead name is in its group");
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

    TOUCH(st, "vc", .event_id = "pix-first", .email = "repeat@example.com", .age_s = 100);
    order(&c, "order-1");
    normalize_hash_email("repeat@example.com", c.email_hash);
    match_and_consume(st, &c, &m1);
    order(&c, "order-2");
    normalize_hash_email("repeat@example.com", c.email_hash);
    match_and_consume(st, &c, &m2);
    is_str(m1.event_id, "pix-first", "the first order takes the touch's event_id");
    ok(strcmp(m1.event_id, m2.event_id) != 0, "a customer's second order gets a different event_id");
    is_str(m2.matched_by, "none", "the consumed touch is not matched again");
    store_close(st);
}

static void test_hold_and_rematch(void)
{
    struct store *st = fresh_store("hold");
    struct conversion c;
    struct match_result m;
    struct event_row *rows = NULL;
    long long id = 0, wall_ms = (long long)time(NULL) * 1000;

    order(&c, "held-1");
    conversion_add_ref(&c, "tok-2002");
    conversion_add_guessable_ref(&c, "#2002");
    store_add_conversion(st, &c, "CPIX", 0, wall_ms + 30000, &id);
    int n = store_held_due(st, wall_ms, 10, &rows);
    is_int(n, 0, "a held conversion is not due before its hold ends");
    store_row_free(rows, n);
    TOUCH(st, "vh", .event_id = "pix-guess", .order_id = "#2002", .age_s = 0);
    n = store_held_due(st, (long long)time(NULL) * 1000 + 1000, 10, &rows);
    is_int(n, 0, "a guessable order name does not end the hold");
    store_row_free(rows, n);
    TOUCH(st, "vh", .event_id = "pix-late", .order_id = "tok-2002", .age_s = 0);
    n = store_held_due(st, (long long)time(NULL) * 1000 + 1000, 10, &rows);
    is_int(n, 1, "a touch with an unguessable reference ends the hold early");
    store_row_free(rows, n);
    match_conversion(st, cfg, &c, now_s, &m);
    is_str(m.event_id, "pix-late", "matching after the hold finds a touch that arrived later");
    store_close(st);
}

static void test_sibling_merge(void)
{
    struct store *st = fresh_store("sibling");
    struct conversion first, second, stored;
    struct match_result m;
    struct event_row *rows = NULL;
    long long id = 0, id2 = 0, wall_ms = (long long)time(NULL) * 1000;

    /* Stripe: the intent's webhook first (no visitor, no session), then the session's. */
    order(&first, "pi_3Sib");
    STR_SET(first.page_ref, "");
    store_add_conversion(st, &first, "CPIX", 0, wall_ms + 30000, &id);
    order(&second, "pi_3Sib");
    STR_SET(second.page_ref, "cs_test_sib");
    conversion_add_ref(&second, "cs_test_sib");
    STR_SET(second.vid, "v-sib");
    is_int(store_add_conversion(st, &second, "CPIX", 0, wall_ms + 30000, &id2), STORE_DUPLICATE,
           "the sibling topic is a duplicate");
    is_int(id2, id, "of the same conversion");
    TOUCH(st, "v-sib", .event_id = "pix-sib", .order_id = "cs_test_sib", .age_s = 0);
    int n = store_held_due(st, (long long)time(NULL) * 1000 + 1000, 10, &rows);
    is_int(n, 1, "the sibling's unguessable reference ends the hold early");
    ok(n == 1 && conversion_from_json(rows[0].data, &stored) == 0, "the stored conversion reads");
    is_str(stored.vid, "v-sib", "the sibling's visitor id joined the held conversion");
    is_str(stored.page_ref, "cs_test_sib", "and its page reference");
    match_pass(st, cfg, &stored, &id, 1, now_s, &m);
    is_str(m.event_id, "pix-sib", "the thank-you touch matches through the sibling's keys");
    store_row_free(rows, n);
    conversion_clear(&stored);
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
    STR_SET(t.ip, "203.0.113.7");
    t.ts = now_s - 500;
    store_add_touch(st, &t); /* a landing capture: ttclid only */
    TOUCH(st, "ve", .event_id = "pix-e", .ip = "203.0.113.7", .age_s = 100);

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
    test_keys_by_strength();
    test_ownership();
    test_guessable_reference();
    test_ambiguity();
    test_time_and_value();
    test_stale_touch();
    test_joint_upsell();
    test_derived_id();
    test_explanation();
    test_phone_rule();
    test_alias_groups_and_window();
    test_consume_once();
    test_hold_and_rematch();
    test_sibling_merge();
    test_enrichment();
    config_drop(cfg);
    tap_rmdir(dir);
    return tap_done();
}
