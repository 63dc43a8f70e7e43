/* A conversion: one business fact from a webhook (an order, a booked call, a lead),
 * and a touch: one capture from the browser script. Plain data, no ownership beyond
 * conversion.contents_json (see conversion_clear). */
#ifndef TTR_CONVERSION_H
#define TTR_CONVERSION_H
#include <stddef.h>

enum conversion_kind { KIND_ORDER = 0, KIND_CALL = 1, KIND_LEAD = 2, KIND_COUNT = 3 };

#define CONV_MAX_REFS 8

struct conversion {
    char source_id[64];
    enum conversion_kind kind;
    char object_id[160];           /* the sender's object id: the business key with source+kind */
    char delivery_id[160];         /* the sender's delivery/event id, for logs only */
    char order_id[160];            /* properties.order_id (orders only), "" for calls/leads */
    char refs[CONV_MAX_REFS][160]; /* order references for match rule 2 */
    int nrefs;
    unsigned guessable_refs; /* bit i: refs[i] is guessable (an order number or name) */
    char page_ref[160];      /* the order reference the thank-you page sees, "" if none */
    char event_id[160]; /* explicit event_id carried by the webhook (rule 1) */
    char vid[80];       /* visitor id carried by the webhook (rule 3) */
    char email_hash[65];
    char phone_hash[65];
    char external_id_hash[65];
    char value[40]; /* exact decimal text, "" when unknown */
    char currency[4];
    char value_note[96]; /* why the sender's value/currency are not sent ("" when they are) */
    char *contents_json; /* owned: JSON array text of TikTok contents[], or NULL */
    char ttclid[256];
    char ttp[160];
    char ip[64];
    char user_agent[512];
    char url[1024];
    char referrer[1024];
    long long event_time; /* unix seconds */
    int test;             /* a test order/booking (Shopify test, Stripe livemode=false, …) */
    int renewal;          /* a subscription renewal, detected from the sender's own fields */
    int opted_out;        /* the webhook itself says the buyer opted out (generic `consent`) */
};

struct touch {
    char vid[80];
    char event[64]; /* pixel event name, "" for an identify */
    char event_id[160];
    char order_id[160];
    char ttclid[256];
    char ttp[160];
    char ip[64];
    char user_agent[512];
    char url[1024];
    char referrer[1024];
    char email_hash[65];
    char phone_hash[65];
    char value[40];
    char currency[4];
    long long ts; /* unix seconds (server receive time) */
    int consent;  /* the visitor's consent as ttr.js reported it: 0 unknown, 1 granted, -1 denied */
};

const char *conversion_kind_name(enum conversion_kind kind);
/* Parses "order" | "call" | "lead"; returns 0 or -1. */
int conversion_kind_parse(const char *name, enum conversion_kind *out);
/* Frees what a conversion owns and zeroes it. */
void conversion_clear(struct conversion *c);
/* Adds a match reference (duplicates and empty values are skipped). An unguessable one
 * (a token, a Stripe id, a Shopify order id) may link a beacon to the order on its own. */
void conversion_add_ref(struct conversion *c, const char *ref);
/* Adds a guessable reference (a sequential order number or name): a beacon claiming it
 * counts only when another key links the beacon's visitor to the order. Adding a value
 * that is already an unguessable reference keeps it unguessable. */
void conversion_add_guessable_ref(struct conversion *c, const char *ref);
/* Fills what into lacks from a sibling webhook of the same business fact: its references
 * (with their guessability), page reference, event_id, vid, hashes and context fields.
 * What into already has is kept. Returns 1 when into changed, 0 when not. */
int conversion_merge(struct conversion *into, const struct conversion *from);
/* Index of ref among c's references, or -1. */
int conversion_ref_index(const struct conversion *c, const char *ref);
/* Bounded copy that always NUL-terminates (NULL src gives ""); a cut falls between UTF-8
 * characters, never inside one. */
void str_copy(char *dst, size_t size, const char *src);
#define STR_SET(field, src) str_copy((field), sizeof(field), (src))

/* Serialises to/from the JSON text kept in the store (hashes only: no raw PII exists
 * in these structs). Returned string is new (free it); parse returns 0 or -1. */
char *conversion_to_json(const struct conversion *c);
int conversion_from_json(const char *text, struct conversion *c);

#endif
