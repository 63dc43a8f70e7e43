/* The matching engine: rules 1-6 of DESIGN.md "Matching", first hit wins. Lookups go
 * through the store; consuming the touch happens in store_promote, atomically with the
 * event becoming ready, so a touch serves at most one conversion. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "hash.h"
#include "match.h"
#include "store.h"

static const char *const alias_order[] = {"CompletePayment", "Purchase", "PlaceAnOrder", NULL};
static const char *const alias_call[] = {"Contact", "Schedule", NULL};
static const char *const alias_lead[] = {"Lead", "SubmitForm", "CompleteRegistration", NULL};
static const char *const *const aliases[KIND_COUNT] = {alias_order, alias_call, alias_lead};

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

void match_default_event_id(const struct conversion *c, char *out, size_t size)
{
    char key[512], hex[HASH_HEX_LEN + 1];
    int n = snprintf(key, sizeof key, "%s:%s:%s", c->source_id, conversion_kind_name(c->kind),
                     c->object_id);
    hash_sha256_hex(key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1, hex);
    snprintf(out, size, "ttr_%s", hex);
}

static void enrich_field(char *dst, size_t size, const char *first, const char *second)
{
    str_copy(dst, size, first && first[0] ? first : second);
}

/* The visitor's latest values, then the touch's own, fill the event's match keys; the
 * webhook's values are the fallback (applied when the event is built). */
static int enrich(struct store *st, const struct touch_row *tr, const struct conversion *c,
                  struct match_result *out)
{
    struct touch v = {0};
    const struct touch *t = tr ? &tr->t : NULL;
    const char *vid = t && t->vid[0] ? t->vid : c->vid;
    int found = 0;

    if (vid[0] && (found = store_find_visitor(st, vid, &v)) < 0)
        return -1;
    struct touch *e = &out->enrich;
    memset(e, 0, sizeof *e);
    STR_SET(e->vid, vid);
    enrich_field(e->ttclid, sizeof e->ttclid, v.ttclid, t ? t->ttclid : NULL);
    enrich_field(e->ttp, sizeof e->ttp, v.ttp, t ? t->ttp : NULL);
    enrich_field(e->ip, sizeof e->ip, v.ip, t ? t->ip : NULL);
    enrich_field(e->user_agent, sizeof e->user_agent, v.user_agent, t ? t->user_agent : NULL);
    enrich_field(e->url, sizeof e->url, t ? t->url : NULL, v.url);
    enrich_field(e->referrer, sizeof e->referrer, t ? t->referrer : NULL, v.referrer);
    return 0;
}

static void take_touch(struct match_result *out, const struct touch_row *tr, const char *by)
{
    STR_SET(out->event_name, tr->t.event);
    STR_SET(out->event_id, tr->t.event_id);
    STR_SET(out->matched_by, by);
    out->touch_id = tr->id;
}

int match_conversion(struct store *st, const struct config *cfg, const struct conversion *c,
                     long long now_s, struct match_result *out)
{
    const char *names[8];
    int n = group_names(cfg, c->kind, names), r = 0;
    long long since = now_s - cfg->window_s;
    long long ref_time = c->event_time > 0 ? c->event_time : now_s;
    long long ipua_since = ref_time - cfg->ip_ua_window_s;
    struct touch_row tr;

    memset(out, 0, sizeof *out);
    if (c->event_id[0]) {
        /* Rule 1: the site passed the pixel's event_id; a touch with it gives the name. */
        STR_SET(out->event_id, c->event_id);
        STR_SET(out->event_name, cfg->event_names[c->kind]);
        STR_SET(out->matched_by, "event_id");
        r = store_find_touch(st, MKEY_EVENT_ID, c->event_id, NULL, names, n, since, &tr);
        if (r == 1)
            take_touch(out, &tr, "event_id");
        goto done;
    }
    for (int i = 0; i < c->nrefs && r == 0; i++)
        if ((r = store_find_touch(st, MKEY_ORDER_REF, c->refs[i], NULL, names, n, since, &tr)) == 1)
            take_touch(out, &tr, "order_ref");
    if (r == 0 && c->vid[0] &&
        (r = store_find_touch(st, MKEY_VID, c->vid, NULL, names, n, since, &tr)) == 1)
        take_touch(out, &tr, "vid");
    if (r == 0 && c->email_hash[0] &&
        (r = store_find_touch(st, MKEY_EMAIL, c->email_hash, NULL, names, n, since, &tr)) == 1)
        take_touch(out, &tr, "email");
    if (r == 0 && c->phone_hash[0] &&
        (r = store_find_touch(st, MKEY_PHONE, c->phone_hash, NULL, names, n, since, &tr)) == 1)
        take_touch(out, &tr, "phone");
    if (r == 0 && c->ip[0] && c->user_agent[0] && cfg->ip_ua_window_s > 0 &&
        (r = store_find_touch(st, MKEY_IP_UA, c->ip, c->user_agent, names, n,
                              ipua_since > since ? ipua_since : since, &tr)) == 1)
        take_touch(out, &tr, "ip_ua");
    if (r == 0) {
        STR_SET(out->event_name, cfg->event_names[c->kind]);
        match_default_event_id(c, out->event_id, sizeof out->event_id);
        STR_SET(out->matched_by, "none");
    }
done:
    if (r < 0)
        return -1;
    return enrich(st, out->touch_id ? &tr : NULL, c, out);
}
