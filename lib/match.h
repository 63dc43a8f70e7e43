/* The matching engine (DESIGN.md "Matching"): links a conversion to the browser touch
 * whose event_id it then reuses, records which key made the link, and enriches the
 * event from the visitor. */
#ifndef TTR_MATCH_H
#define TTR_MATCH_H
#include "conversion.h"

struct store;
struct config;

struct match_result {
    char event_name[64];
    char event_id[160];
    char matched_by[16]; /* event_id|order_ref|vid|email|phone|ip_ua|none */
    long long touch_id;  /* 0 when none */
    struct touch enrich; /* ttclid, ttp, ip, user_agent, url, referrer to send */
};

/* Runs rules 1-6 in order. Returns 0, or -1 on a store error. */
int match_conversion(struct store *st, const struct config *cfg, const struct conversion *c,
                     long long now_s, struct match_result *out);
/* The deterministic event_id for an unmatched conversion: "ttr_" + hex SHA-256 of
 * "source:kind:object_id". out must hold 69 bytes. */
void match_default_event_id(const struct conversion *c, char *out, size_t size);
/* 1 when name is in the alias group of kind (or is the configured name). */
int match_name_in_group(const struct config *cfg, enum conversion_kind kind, const char *name);

#endif
