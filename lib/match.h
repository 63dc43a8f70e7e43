/* The matching engine (DESIGN.md "Matching"): links each conversion to the browser touch
 * that *is* it, by evidence (key strength, time, value), refusing when the evidence is
 * ambiguous, and records every candidate it considered with the reason it lost. */
#ifndef TTR_MATCH_H
#define TTR_MATCH_H
#include "conversion.h"
#include "store.h"

struct config;

/* A candidate's value agreement with the conversion. */
enum match_fit { FIT_UNKNOWN, FIT_EXACT, FIT_AGREES, FIT_CONTRADICTS };

/* What became of a candidate touch. */
enum match_outcome {
    CAND_CHOSEN,
    CAND_WEAKER_KEY,   /* a stronger key linked the chosen touch */
    CAND_FURTHER,      /* same key, further in time from the conversion */
    CAND_VALUE_WORSE,  /* same key and time, the chosen touch's value agrees better */
    CAND_LATER,        /* nothing told them apart but arrival order */
    CAND_OWNED,        /* carries another order's reference */
    CAND_CONSUMED,     /* already the match of another conversion */
    CAND_AMBIGUOUS,    /* as good as a touch of another visitor */
    CAND_GUESSABLE,    /* a guessable reference, and no other key links its visitor */
    CAND_SHARED_IP_UA, /* several visitors share the IP and user agent */
    CAND_TOO_FAR,      /* further than match.max_gap_s from the conversion */
    CAND_VALUE,        /* its value contradicts the conversion's */
    CAND_TAKEN,        /* assigned to another conversion of the same pass */
    CAND_EARLY,        /* an order's thank-you event from before the order existed */
    CAND_OUTCOME_COUNT
};

struct match_candidate {
    long long touch_id;
    char event[64];
    char event_id[160];
    char vid[80];
    char order_id[160];
    long long ts;
    enum match_key key; /* the strongest key that links it */
    unsigned keys;      /* every key that found it (1 << enum match_key) */
    int guessable;      /* found only through guessable references */
    long long gap_s;    /* touch time minus conversion time */
    enum match_fit fit;
    enum match_outcome outcome;
    long long other; /* the conversion that consumed or took it; visitor count for IP+UA */
};

#define MATCH_MAX_CANDIDATES 12

struct match_result {
    char event_name[64];
    char event_id[160];
    char matched_by[16]; /* event_id|order_ref|vid|email|phone|ip_ua|none */
    long long touch_id;  /* 0 when none */
    /* When nothing matched although candidates existed: the reason (a CAND_* name), or "". */
    char refusal[24];
    int ncand;
    struct match_candidate cand[MATCH_MAX_CANDIDATES];
    struct touch enrich; /* ttclid, ttp, ip, user_agent, url, referrer to send */
};

/* Matches the n conversions whose holds end in one pass, jointly: each touch goes to the
 * conversion it fits best, a touch serves one conversion, and a conversion whose best
 * candidates cannot be told apart matches nothing. ids[i] is convs[i]'s stored id (for
 * the explanations). out[i] is convs[i]'s result. Returns 0, or -1 on a store error. */
int match_pass(struct store *st, const struct config *cfg, const struct conversion *convs,
               const long long *ids, int n, long long now_s, struct match_result *out);
/* One conversion alone (a pass of one). */
int match_conversion(struct store *st, const struct config *cfg, const struct conversion *c,
                     long long now_s, struct match_result *out);

/* The deterministic event_id of an unmatched conversion: for an order whose thank-you page
 * sees page_ref, "ttr_" + hex SHA-256 of "source:order:page_ref" (what ttr.js derives from
 * the same order id); otherwise "ttr_" + hex SHA-256 of "source:kind:object_id". out must
 * hold 69 bytes. */
void match_default_event_id(const struct conversion *c, char *out, size_t size);
/* 1 when name is in the alias group of kind (or is the configured name). */
int match_name_in_group(const struct config *cfg, enum conversion_kind kind, const char *name);

const char *match_key_name(enum match_key key);
const char *match_outcome_name(enum match_outcome o);
/* The decision and every candidate, with the reason each lost in plain words, as JSON
 * text (new; NULL on allocation failure). */
char *match_explain_json(const struct match_result *m);

#endif
