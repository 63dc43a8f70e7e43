/* The matching engine. For each conversion it gathers the candidate touches of its alias
 * group from every key it has, classifies each (owned by another order, consumed, too far,
 * contradicting value, shared IP + user agent, guessable reference without a link), refuses
 * when the best candidates of different visitors cannot be told apart, and then assigns
 * the touches of one pass jointly, so that two orders of one visitor each get the touch
 * that fits them. Consuming happens in store_promote, atomically with the event becoming
 * ready, so a touch serves at most one conversion. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config.h"
#include "hash.h"
#include "match.h"
#include "store.h"

/* An order's thank-you event (CompletePayment, Purchase) follows the order's creation; one
 * seen more than this before it is an earlier order's (the senders' and our clocks agree
 * within a few seconds). PlaceAnOrder, fired at the button, may precede it. */
#define MATCH_SKEW_S 10
/* Two candidates whose distances in time differ by less than this are equally close. */
#define MATCH_TIE_S 30
/* Touches fetched per key value (newest first). */
#define PER_KEY 8
/* Components of a pass with at most this many conversions are solved exactly, trying at
 * most EDGES_MAX candidates each; larger ones (never seen in practice) greedily. */
#define JOINT_MAX 6
#define EDGES_MAX 4
/* A pixel value agrees with an order's total when it lies in [50 %, 100 %] of it (plus 2 %
 * or one unit): the pixel's value may leave out shipping and tax. */
#define FIT_LOW 0.5
#define FIT_HIGH_SHARE 0.02
#define FIT_HIGH_UNITS 1.0
/* Unmatched costs more than any match, so a pass matches as many conversions as it can. */
#define COST_UNMATCHED 1000000000000000LL
/* Not yet decided: eligible for assignment. */
#define CAND_ELIGIBLE CAND_OUTCOME_COUNT

static const char *const alias_order[] = {"CompletePayment", "Purchase", "PlaceAnOrder", NULL};
static const char *const alias_call[] = {"Contact", "Schedule", NULL};
static const char *const alias_lead[] = {"Lead", "SubmitForm", "CompleteRegistration", NULL};
static const char *const *const aliases[KIND_COUNT] = {alias_order, alias_call, alias_lead};

static const char *const key_names[] = {"event_id", "order_ref", "vid", "email", "phone", "ip_ua"};
static const char *const outcome_names[CAND_OUTCOME_COUNT] = {
    "chosen", "weaker_key", "further",      "value_worse", "later", "owned",       "consumed",
    "ambiguous", "guessable", "shared_ip_ua", "too_far",    "value", "taken", "early"};
static const char *const fit_names[] = {"unknown", "exact", "agrees", "contradicts"};

const char *match_key_name(enum match_key key)
{
    return key >= MKEY_EVENT_ID && key <= MKEY_IP_UA ? key_names[key] : "none";
}

const char *match_outcome_name(enum match_outcome o)
{
    return o >= 0 && o < CAND_OUTCOME_COUNT ? outcome_names[o] : "eligible";
}

/* The alias group of kind plus the configured name; returns the count (<= 4). */
static int group_names(const struct config *cfg, enum conversion_kind kind, const char **names)
{
    int n = 0;
    for (const char *const *a = aliases[kind]; *a; a++)
        names[n++] = *a;
    const char *configured = cfg->event_names[kind];
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], configured) == 0)
            return n;
    names[n++] = configured;
    return n;
}

int match_name_in_group(const struct config *cfg, enum conversion_kind kind, const char *name)
{
    const char *names[8];
    int n = group_names(cfg, kind, names);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static void id_of(const char *source, const char *kind, const char *object, char *out,
                  size_t size)
{
    char key[512], hex[HASH_HEX_LEN + 1];
    int n = snprintf(key, sizeof key, "%s:%s:%s", source, kind, object);
    hash_sha256_hex(key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1, hex);
    snprintf(out, size, "ttr_%s", hex);
}

void match_default_event_id(const struct conversion *c, char *out, size_t size)
{
    if (c->kind == KIND_ORDER && c->page_ref[0])
        id_of(c->source_id, "order", c->page_ref, out, size);
    else
        id_of(c->source_id, conversion_kind_name(c->kind), c->object_id, out, size);
}

/* ---- gathering ---- */

static enum match_fit value_fit(const struct conversion *c, const char *value,
                                const char *currency)
{
    char *end;
    if (!c->value[0] || !value[0])
        return FIT_UNKNOWN;
    /* A shop's currency and the visitor's presentment currency differ in multi-currency
     * shops: not comparable, not a contradiction. */
    if (c->currency[0] && currency[0] && strcasecmp(c->currency, currency) != 0)
        return FIT_UNKNOWN;
    double order = strtod(c->value, &end);
    if (*end)
        return FIT_UNKNOWN;
    double pixel = strtod(value, &end);
    if (*end)
        return FIT_UNKNOWN;
    if (fabs(order - pixel) < 0.005)
        return FIT_EXACT;
    double slack = order * FIT_HIGH_SHARE > FIT_HIGH_UNITS ? order * FIT_HIGH_SHARE : FIT_HIGH_UNITS;
    if (pixel >= order * FIT_LOW - 0.005 && pixel <= order + slack)
        return FIT_AGREES;
    return FIT_CONTRADICTS;
}

/* Adds the touches found through key (or merges them into a candidate found already). */
static void add_candidates(struct match_result *m, const struct conversion *c, long long t0,
                           const struct touch_row *rows, int n, enum match_key key,
                           int guessable)
{
    for (int r = 0; r < n; r++) {
        struct match_candidate *k = NULL;
        for (int i = 0; i < m->ncand && !k; i++)
            if (m->cand[i].touch_id == rows[r].id)
                k = &m->cand[i];
        if (k) {
            if (key < k->key || (key == k->key && !guessable))
                k->guessable = key < k->key ? guessable : 0;
            if (key < k->key)
                k->key = key;
            k->keys |= 1u << key;
            continue;
        }
        if (m->ncand == MATCH_MAX_CANDIDATES)
            return;
        const struct touch *t = &rows[r].t;
        k = &m->cand[m->ncand++];
        memset(k, 0, sizeof *k);
        k->touch_id = rows[r].id;
        STR_SET(k->event, t->event);
        STR_SET(k->event_id, t->event_id);
        STR_SET(k->vid, t->vid);
        STR_SET(k->order_id, t->order_id);
        k->ts = t->ts;
        k->key = key;
        k->keys = 1u << key;
        k->guessable = guessable;
        k->gap_s = t->ts - t0;
        k->fit = value_fit(c, t->value, t->currency);
        k->other = rows[r].consumed_by;
        k->outcome = CAND_ELIGIBLE;
    }
}

struct lookup {
    struct store *st;
    const char *names[8];
    int nnames;
    long long since;
    struct touch_row rows[PER_KEY];
};

static int find(struct lookup *lk, struct match_result *m, const struct conversion *c,
                long long t0, enum match_key key, const char *k1, const char *k2,
                long long since, enum match_key as, int guessable)
{
    int n = store_find_touches(lk->st, key, k1, k2, lk->names, lk->nnames, since, lk->rows,
                               PER_KEY);
    if (n > 0)
        add_candidates(m, c, t0, lk->rows, n, as, guessable);
    return n < 0 ? -1 : 0;
}

/* Every candidate of c from every key it has, strongest keys first. Returns the number of
 * visitors seen with c's IP + user agent (0 when not looked up), or -1. */
static int gather(struct store *st, const struct config *cfg, const struct conversion *c,
                  long long now_s, struct match_result *m)
{
    struct lookup *lk = calloc(1, sizeof *lk);
    long long t0 = c->event_time > 0 ? c->event_time : now_s;
    int rc = -1, visitors = 0;

    if (!lk)
        return -1;
    lk->st = st;
    lk->nnames = group_names(cfg, c->kind, lk->names);
    lk->since = now_s - cfg->window_s;
    for (int i = 0; i < c->nrefs; i++)
        if (find(lk, m, c, t0, MKEY_ORDER_REF, c->refs[i], NULL, lk->since, MKEY_ORDER_REF,
                 (c->guessable_refs >> i) & 1) < 0)
            goto out;
    if (c->kind == KIND_ORDER && c->page_ref[0]) {
        /* A touch carrying the id ttr.js derives from this order's id is this order's. */
        char derived[HASH_HEX_LEN + 8];
        int ri = conversion_ref_index(c, c->page_ref);
        match_default_event_id(c, derived, sizeof derived);
        if (find(lk, m, c, t0, MKEY_EVENT_ID, derived, NULL, lk->since, MKEY_ORDER_REF,
                 ri < 0 || ((c->guessable_refs >> ri) & 1)) < 0)
            goto out;
    }
    if ((c->vid[0] && find(lk, m, c, t0, MKEY_VID, c->vid, NULL, lk->since, MKEY_VID, 0) < 0) ||
        (c->email_hash[0] &&
         find(lk, m, c, t0, MKEY_EMAIL, c->email_hash, NULL, lk->since, MKEY_EMAIL, 0) < 0) ||
        (c->phone_hash[0] &&
         find(lk, m, c, t0, MKEY_PHONE, c->phone_hash, NULL, lk->since, MKEY_PHONE, 0) < 0))
        goto out;
    if (c->ip[0] && c->user_agent[0] && cfg->ip_ua_window_s > 0) {
        long long since = t0 - cfg->ip_ua_window_s > lk->since ? t0 - cfg->ip_ua_window_s
                                                               : lk->since;
        visitors = store_ip_ua_visitors(st, c->ip, c->user_agent, since);
        if (visitors < 0 ||
            find(lk, m, c, t0, MKEY_IP_UA, c->ip, c->user_agent, since, MKEY_IP_UA, 0) < 0)
            goto out;
    }
    rc = visitors;
out:
    free(lk);
    return rc;
}

/* ---- classification ---- */

/* 1 when a key other than the guessable reference links the touch's visitor to c. */
static int linked(struct store *st, const struct conversion *c, const struct match_candidate *k)
{
    char key[80];
    if (k->keys & ((1u << MKEY_VID) | (1u << MKEY_EMAIL) | (1u << MKEY_PHONE)))
        return 1;
    if (c->vid[0] && strcmp(c->vid, k->vid) == 0)
        return 1;
    if (!k->vid[0])
        return 0;
    snprintf(key, sizeof key, "e:%s", c->email_hash);
    if (c->email_hash[0] && store_visitor_has_key(st, k->vid, key) == 1)
        return 1;
    snprintf(key, sizeof key, "p:%s", c->phone_hash);
    return c->phone_hash[0] && store_visitor_has_key(st, k->vid, key) == 1;
}

static void classify(struct store *st, const struct config *cfg, const struct conversion *c,
                     struct match_result *m, int ip_ua_visitors)
{
    for (int i = 0; i < m->ncand; i++) {
        struct match_candidate *k = &m->cand[i];
        int weak = k->key >= MKEY_VID;
        if (k->other > 0)
            k->outcome = CAND_CONSUMED;
        else if (k->key == MKEY_ORDER_REF && k->guessable && !linked(st, c, k))
            k->outcome = CAND_GUESSABLE;
        else if (weak && k->order_id[0] && conversion_ref_index(c, k->order_id) < 0)
            k->outcome = CAND_OWNED;
        else if (weak && llabs(k->gap_s) > cfg->max_gap_s)
            k->outcome = CAND_TOO_FAR;
        else if (weak && c->kind == KIND_ORDER && k->gap_s < -MATCH_SKEW_S &&
                 strcmp(k->event, "PlaceAnOrder") != 0)
            k->outcome = CAND_EARLY;
        else if (weak && k->fit == FIT_CONTRADICTS)
            k->outcome = CAND_VALUE;
        else if (k->key == MKEY_IP_UA && ip_ua_visitors > 1) {
            k->outcome = CAND_SHARED_IP_UA;
            k->other = ip_ua_visitors;
        }
    }
}

/* Evidence order: key, closeness in time, exact value, arrival. */
static int cand_cmp(const struct match_candidate *a, const struct match_candidate *b)
{
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    long long ga = llabs(a->gap_s), gb = llabs(b->gap_s);
    if (ga != gb)
        return ga < gb ? -1 : 1;
    if ((a->fit == FIT_EXACT) != (b->fit == FIT_EXACT))
        return a->fit == FIT_EXACT ? -1 : 1;
    return a->touch_id < b->touch_id ? -1 : a->touch_id > b->touch_id;
}

static int cand_qsort(const void *a, const void *b)
{
    const struct match_candidate *x = a, *y = b;
    int ex = x->outcome == CAND_ELIGIBLE, ey = y->outcome == CAND_ELIGIBLE;
    if (ex != ey)
        return ex ? -1 : 1;
    return cand_cmp(x, y);
}

/* Sorts eligible candidates first, best first; when the best cannot be told apart from
 * another visitor's touch with another event_id, all of them are refused. */
static void refuse_ambiguous(struct match_result *m)
{
    qsort(m->cand, (size_t)m->ncand, sizeof m->cand[0], cand_qsort);
    struct match_candidate *best = &m->cand[0];
    int ambiguous = 0;
    if (m->ncand == 0 || best->outcome != CAND_ELIGIBLE)
        return;
    for (int i = 1; i < m->ncand && m->cand[i].outcome == CAND_ELIGIBLE; i++) {
        struct match_candidate *k = &m->cand[i];
        if (k->key == best->key && llabs(llabs(k->gap_s) - llabs(best->gap_s)) <= MATCH_TIE_S &&
            (k->fit == FIT_EXACT) == (best->fit == FIT_EXACT) && strcmp(k->vid, best->vid) != 0 &&
            strcmp(k->event_id, best->event_id) != 0) {
            k->outcome = CAND_AMBIGUOUS;
            ambiguous = 1;
        }
    }
    if (ambiguous)
        best->outcome = CAND_AMBIGUOUS;
}

/* ---- joint assignment ---- */

struct pass {
    struct match_result *out;
    const long long *ids;
    int n;
    int *choice;      /* per conversion: index of its chosen candidate, or -1 */
    int *component;   /* union-find parent */
    long long *taken; /* touch ids held by conversions of this pass (explicit event_id) */
    int ntaken;
    /* exact solve */
    int members[JOINT_MAX];
    int nmembers;
    int try[JOINT_MAX];
    int best[JOINT_MAX];
    long long best_cost;
};

static long long edge_cost(const struct match_candidate *k, int rank)
{
    long long gap = llabs(k->gap_s) < 999999 ? llabs(k->gap_s) : 999999;
    return (long long)k->key * 1000000000000LL + gap * 1000 + (k->fit == FIT_EXACT ? 0 : 100) +
           rank;
}

static int eligible(const struct pass *p, int conv, int i)
{
    return p->out[conv].cand[i].outcome == CAND_ELIGIBLE;
}

static int ll_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Touches an explicit event_id of this pass holds are no one else's. */
static void exclude_taken(struct pass *p)
{
    qsort(p->taken, (size_t)p->ntaken, sizeof p->taken[0], ll_cmp);
    for (int c = 0; p->ntaken && c < p->n; c++)
        for (int i = 0; i < p->out[c].ncand; i++) {
            struct match_candidate *k = &p->out[c].cand[i];
            if (k->outcome == CAND_ELIGIBLE &&
                bsearch(&k->touch_id, p->taken, (size_t)p->ntaken, sizeof p->taken[0], ll_cmp))
                k->outcome = CAND_TAKEN;
        }
}

struct edge {
    long long touch_id;
    int conv;
};

static int edge_cmp(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    return x->touch_id < y->touch_id ? -1 : x->touch_id > y->touch_id;
}

static int root_of(int *parent, int i)
{
    while (parent[i] != i)
        i = parent[i] = parent[parent[i]];
    return i;
}

/* 1 when one of the first upto members tries this touch. */
static int used_in_try(const struct pass *p, int upto, long long touch_id)
{
    for (int j = 0; j < upto; j++)
        if (p->try[j] >= 0 && p->out[p->members[j]].cand[p->try[j]].touch_id == touch_id)
            return 1;
    return 0;
}

static void solve(struct pass *p, int j, long long cost)
{
    if (cost >= p->best_cost)
        return;
    if (j == p->nmembers) {
        p->best_cost = cost;
        memcpy(p->best, p->try, sizeof p->best);
        return;
    }
    int conv = p->members[j], tried = 0;
    for (int i = 0; i < p->out[conv].ncand && tried < EDGES_MAX; i++) {
        if (!eligible(p, conv, i))
            continue;
        tried++;
        if (used_in_try(p, j, p->out[conv].cand[i].touch_id))
            continue;
        p->try[j] = i;
        solve(p, j + 1, cost + edge_cost(&p->out[conv].cand[i], i));
    }
    p->try[j] = -1;
    solve(p, j + 1, cost + COST_UNMATCHED);
}

static int touch_chosen(const struct pass *p, long long touch_id)
{
    for (int c = 0; c < p->n; c++)
        if (p->choice[c] >= 0 && p->out[c].cand[p->choice[c]].touch_id == touch_id)
            return c;
    return -1;
}

/* Larger components: best edges first, each conversion and touch once. */
static void solve_greedy(struct pass *p, int root)
{
    for (;;) {
        int bc = -1, bi = -1;
        long long bcost = 0;
        for (int c = 0; c < p->n; c++) {
            if (root_of(p->component, c) != root || p->choice[c] >= 0)
                continue;
            for (int i = 0; i < p->out[c].ncand; i++) {
                long long cost = edge_cost(&p->out[c].cand[i], i);
                if (eligible(p, c, i) && touch_chosen(p, p->out[c].cand[i].touch_id) < 0 &&
                    (bc < 0 || cost < bcost)) {
                    bc = c;
                    bi = i;
                    bcost = cost;
                }
            }
        }
        if (bc < 0)
            return;
        p->choice[bc] = bi;
    }
}

/* Conversions that share an eligible touch are one component: sorted by touch, each run of
 * one touch joins its conversions. Returns -1 when out of memory. */
static int join_components(struct pass *p)
{
    struct edge *e = malloc((size_t)p->n * MATCH_MAX_CANDIDATES * sizeof *e);
    int ne = 0;

    if (!e)
        return -1;
    for (int c = 0; c < p->n; c++) {
        p->component[c] = c;
        for (int i = 0; i < p->out[c].ncand; i++)
            if (eligible(p, c, i))
                e[ne++] = (struct edge){p->out[c].cand[i].touch_id, c};
    }
    qsort(e, (size_t)ne, sizeof e[0], edge_cmp);
    for (int k = 1; k < ne; k++)
        if (e[k].touch_id == e[k - 1].touch_id)
            p->component[root_of(p->component, e[k].conv)] = root_of(p->component, e[k - 1].conv);
    free(e);
    return 0;
}

static int assign(struct pass *p)
{
    if (join_components(p) < 0)
        return -1;
    for (int r = 0; r < p->n; r++) {
        if (root_of(p->component, r) != r)
            continue;
        p->nmembers = 0;
        int size = 0;
        for (int c = 0; c < p->n; c++)
            if (root_of(p->component, c) == r && size++ < JOINT_MAX)
                p->members[p->nmembers++] = c;
        if (size > JOINT_MAX) {
            solve_greedy(p, r);
            continue;
        }
        p->best_cost = COST_UNMATCHED * (JOINT_MAX + 1);
        for (int j = 0; j < JOINT_MAX; j++)
            p->try[j] = p->best[j] = -1;
        solve(p, 0, 0);
        for (int j = 0; j < p->nmembers; j++)
            p->choice[p->members[j]] = p->best[j];
    }
    return 0;
}

/* ---- results ---- */

static void settle_losers(struct pass *p, int c)
{
    struct match_result *m = &p->out[c];
    const struct match_candidate *won = p->choice[c] >= 0 ? &m->cand[p->choice[c]] : NULL;
    for (int i = 0; i < m->ncand; i++) {
        struct match_candidate *k = &m->cand[i];
        if (k->outcome != CAND_ELIGIBLE)
            continue;
        int holder = touch_chosen(p, k->touch_id);
        if (won == k)
            k->outcome = CAND_CHOSEN;
        else if (holder >= 0 && holder != c) {
            k->outcome = CAND_TAKEN;
            k->other = p->ids ? p->ids[holder] : 0;
        } else if (!won) {
            /* Held by an explicit event_id of this pass, or past the candidates tried. */
            k->outcome = eligible(p, c, i) ? CAND_LATER : CAND_TAKEN;
        } else if (k->key != won->key)
            k->outcome = CAND_WEAKER_KEY;
        else if (llabs(k->gap_s) != llabs(won->gap_s))
            k->outcome = CAND_FURTHER;
        else if (k->fit != won->fit)
            k->outcome = CAND_VALUE_WORSE;
        else
            k->outcome = CAND_LATER;
    }
}

/* The visitor's latest values, then the touch's own, fill the event's match keys; the
 * webhook's values are the fallback (applied when the event is built). */
static int enrich(struct store *st, const struct touch *t, const struct conversion *c,
                  struct match_result *out)
{
    struct touch v = {0};
    const char *vid = t && t->vid[0] ? t->vid : c->vid;

    if (vid[0] && store_find_visitor(st, vid, &v) < 0)
        return -1;
    struct touch *e = &out->enrich;
    memset(e, 0, sizeof *e);
    STR_SET(e->vid, vid);
#define ENRICH(f, first, second) str_copy(e->f, sizeof e->f, (first)[0] ? (first) : (second))
    ENRICH(ttclid, v.ttclid, t ? t->ttclid : "");
    ENRICH(ttp, v.ttp, t ? t->ttp : "");
    ENRICH(ip, v.ip, t ? t->ip : "");
    ENRICH(user_agent, v.user_agent, t ? t->user_agent : "");
    ENRICH(url, t ? t->url : "", v.url);
    ENRICH(referrer, t ? t->referrer : "", v.referrer);
#undef ENRICH
    return 0;
}

static void set_refusal(struct match_result *m)
{
    const char *why = NULL;
    for (int i = 0; i < m->ncand && !why; i++)
        if (m->cand[i].outcome == CAND_AMBIGUOUS)
            why = match_outcome_name(CAND_AMBIGUOUS);
    /* Otherwise the strongest candidate's fate. */
    for (int i = 0; i < m->ncand && !why; i++)
        if (i == 0 || m->cand[i].key < m->cand[0].key)
            why = match_outcome_name(m->cand[i].outcome);
    STR_SET(m->refusal, why ? why : "");
}

static int finish(struct store *st, const struct config *cfg, const struct conversion *c,
                  struct pass *p, int i)
{
    struct match_result *m = &p->out[i];
    struct touch_row tr;
    int have = 0;

    if (c->event_id[0]) {
        /* The webhook carried the pixel's event_id: signed evidence, nothing to choose. */
        STR_SET(m->event_id, c->event_id);
        STR_SET(m->matched_by, "event_id");
        STR_SET(m->event_name, m->ncand ? m->cand[0].event : cfg->event_names[c->kind]);
        if (m->ncand && m->cand[0].outcome == CAND_CHOSEN)
            m->touch_id = m->cand[0].touch_id;
    } else if (p->choice[i] >= 0) {
        const struct match_candidate *k = &m->cand[p->choice[i]];
        STR_SET(m->event_name, k->event);
        STR_SET(m->event_id, k->event_id);
        STR_SET(m->matched_by, match_key_name(k->key));
        m->touch_id = k->touch_id;
    } else {
        STR_SET(m->event_name, cfg->event_names[c->kind]);
        match_default_event_id(c, m->event_id, sizeof m->event_id);
        STR_SET(m->matched_by, "none");
        set_refusal(m);
    }
    /* Enrichment follows only a touch that is this conversion's (chosen, or named by the
     * webhook's own event_id), never a refused one. */
    if (m->ncand && (m->touch_id || c->event_id[0]) &&
        (have = store_get_touch(st, m->cand[0].touch_id, &tr)) < 0)
        return -1;
    return enrich(st, have == 1 ? &tr.t : NULL, c, m);
}

/* The explicit event_id's touch (any state): it names the event and, when free, is held
 * for this conversion. */
static int explicit_touch(struct store *st, const struct config *cfg, const struct conversion *c,
                          long long now_s, struct pass *p, int i)
{
    struct touch_row tr;
    struct match_result *m = &p->out[i];
    const char *names[8];
    int nnames = group_names(cfg, c->kind, names);
    int n = store_find_touches(st, MKEY_EVENT_ID, c->event_id, NULL, names, nnames,
                               now_s - cfg->window_s, &tr, 1);
    if (n <= 0)
        return n;
    add_candidates(m, c, c->event_time > 0 ? c->event_time : now_s, &tr, 1, MKEY_EVENT_ID, 0);
    struct match_candidate *k = &m->cand[0];
    int held = 0;
    for (int t = 0; t < p->ntaken; t++)
        held |= p->taken[t] == k->touch_id;
    if (k->other > 0 || held) {
        k->outcome = CAND_CONSUMED;
    } else {
        k->outcome = CAND_CHOSEN;
        p->taken[p->ntaken++] = k->touch_id;
    }
    return 0;
}

int match_pass(struct store *st, const struct config *cfg, const struct conversion *convs,
               const long long *ids, int n, long long now_s, struct match_result *out)
{
    struct pass p = {.out = out, .ids = ids, .n = n};
    int rc = -1;

    if (n <= 0)
        return 0;
    p.choice = malloc((size_t)n * sizeof *p.choice);
    p.component = malloc((size_t)n * sizeof *p.component);
    p.taken = malloc((size_t)n * sizeof *p.taken);
    if (!p.choice || !p.component || !p.taken)
        goto out;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        p.choice[i] = -1;
    }
    for (int i = 0; i < n; i++)
        if (convs[i].event_id[0] && explicit_touch(st, cfg, &convs[i], now_s, &p, i) < 0)
            goto out;
    for (int i = 0; i < n; i++) {
        if (convs[i].event_id[0])
            continue;
        int visitors = gather(st, cfg, &convs[i], now_s, &out[i]);
        if (visitors < 0)
            goto out;
        classify(st, cfg, &convs[i], &out[i], visitors);
        refuse_ambiguous(&out[i]);
    }
    exclude_taken(&p);
    if (assign(&p) < 0)
        goto out;
    for (int i = 0; i < n; i++)
        if (!convs[i].event_id[0])
            settle_losers(&p, i);
    for (int i = 0; i < n; i++) {
        /* The chosen candidate first, for the reader and for finish(). */
        if (p.choice[i] > 0) {
            struct match_candidate won = out[i].cand[p.choice[i]];
            memmove(&out[i].cand[1], &out[i].cand[0], (size_t)p.choice[i] * sizeof won);
            out[i].cand[0] = won;
            p.choice[i] = 0;
        }
        if (finish(st, cfg, &convs[i], &p, i) < 0)
            goto out;
    }
    rc = 0;
out:
    free(p.choice);
    free(p.component);
    free(p.taken);
    return rc;
}

int match_conversion(struct store *st, const struct config *cfg, const struct conversion *c,
                     long long now_s, struct match_result *out)
{
    return match_pass(st, cfg, c, NULL, 1, now_s, out);
}

/* ---- explanation ---- */

static void gap_words(long long gap, char *out, size_t size)
{
    snprintf(out, size, "%lld s %s the conversion", llabs(gap), gap >= 0 ? "after" : "before");
}

static void why_words(const struct match_result *m, const struct match_candidate *k, char *out,
                      size_t size)
{
    const struct match_candidate *won = m->touch_id ? &m->cand[0] : NULL;
    char gap[64], wgap[64];
    gap_words(k->gap_s, gap, sizeof gap);
    gap_words(won ? won->gap_s : 0, wgap, sizeof wgap);
    switch (k->outcome) {
    case CAND_CHOSEN:
        snprintf(out, size, "chosen: linked by %s, %s, value %s", match_key_name(k->key), gap,
                 fit_names[k->fit]);
        break;
    case CAND_WEAKER_KEY:
        snprintf(out, size, "lost: linked only by %s; the chosen touch by %s",
                 match_key_name(k->key), won ? match_key_name(won->key) : "?");
        break;
    case CAND_FURTHER:
        snprintf(out, size, "lost: %s; the chosen touch %s", gap, wgap);
        break;
    case CAND_VALUE_WORSE:
        snprintf(out, size, "lost: as close in time, but the chosen touch's value is exact");
        break;
    case CAND_LATER:
        snprintf(out, size, "lost: nothing told it apart from the chosen touch, which came first");
        break;
    case CAND_OWNED:
        snprintf(out, size, "refused: it carries the reference %s of another order", k->order_id);
        break;
    case CAND_CONSUMED:
        snprintf(out, size, "refused: already the match of conversion %lld", k->other);
        break;
    case CAND_AMBIGUOUS:
        snprintf(out, size,
                 "refused: as good as a touch of another visitor (%s); ambiguous evidence "
                 "matches nothing",
                 gap);
        break;
    case CAND_GUESSABLE:
        snprintf(out, size,
                 "refused: a guessable order reference (%s) that no other key links to this "
                 "order",
                 k->order_id);
        break;
    case CAND_SHARED_IP_UA:
        snprintf(out, size, "refused: several visitors share this IP and browser");
        break;
    case CAND_TOO_FAR:
        snprintf(out, size, "refused: %s, beyond match.max_gap_s", gap);
        break;
    case CAND_VALUE:
        snprintf(out, size, "refused: its value contradicts the conversion's");
        break;
    case CAND_EARLY:
        snprintf(out, size,
                 "refused: a thank-you event %s, before the order existed (an earlier order's)",
                 gap);
        break;
    case CAND_TAKEN:
        if (k->other)
            snprintf(out, size, "lost: assigned to conversion %lld, which it fits better",
                     k->other);
        else
            snprintf(out, size, "lost: assigned to another conversion of the same pass");
        break;
    default:
        snprintf(out, size, "undecided");
    }
}

char *match_explain_json(const struct match_result *m)
{
    json_t *root = json_object(), *list = json_array();
    char why[320], *text = NULL;

    if (!root || !list)
        goto out;
    const char *decision = m->touch_id                              ? "matched"
                           : strcmp(m->matched_by, "event_id") == 0 ? "explicit"
                           : m->ncand                               ? "refused"
                                                                    : "no_candidates";
    json_object_set_new(root, "decision", json_string(decision));
    json_object_set_new(root, "matched_by", json_string(m->matched_by));
    if (m->refusal[0])
        json_object_set_new(root, "refusal", json_string(m->refusal));
    for (int i = 0; i < m->ncand; i++) {
        const struct match_candidate *k = &m->cand[i];
        json_t *keys = json_array(), *o;
        for (int b = MKEY_EVENT_ID; b <= MKEY_IP_UA; b++)
            if (k->keys & (1u << b))
                json_array_append_new(keys, json_string(key_names[b]));
        why_words(m, k, why, sizeof why);
        o = json_pack("{sI ss ss ss ss ss so sI ss ss ss}", "touch_id", (json_int_t)k->touch_id,
                      "event", k->event, "event_id", k->event_id, "vid", k->vid, "order_id",
                      k->order_id, "key", match_key_name(k->key), "keys", keys, "gap_s",
                      (json_int_t)k->gap_s, "value", fit_names[k->fit], "outcome",
                      match_outcome_name(k->outcome), "why", why);
        if (o)
            json_array_append_new(list, o);
    }
    json_object_set_new(root, "candidates", list);
    list = NULL;
    text = json_dumps(root, JSON_COMPACT);
out:
    json_decref(list);
    json_decref(root);
    return text;
}
