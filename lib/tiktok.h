/* The TikTok Events API v1.3 client: builds event bodies and posts batches (libcurl). */
#ifndef TTR_TIKTOK_H
#define TTR_TIKTOK_H
#include <stddef.h>
#include "conversion.h"

struct match_result;

/* The data[] element for one conversion, as JSON text (new; free it). */
char *tiktok_event_json(const struct conversion *c, const struct match_result *m);
/* The same, with limited_data_use: true when limited_data_use is set (an opted-out
 * visitor under the consent policy "ldu"). */
char *tiktok_event_json_consent(const struct conversion *c, const struct match_result *m,
                                int limited_data_use);
/* The request body for a batch of data[] element texts (new; free it). test_event_code may
 * be NULL or "". */
char *tiktok_batch_body(const char *pixel, const char *test_event_code, const char *const *events,
                        int n);

enum tiktok_outcome {
    TT_SENT,     /* HTTP 200 and code 0, or 20001 (partial set: some events rejected) */
    TT_RETRY,    /* 40100, 429, 5xx, timeout, connection error */
    TT_BAD_ROWS, /* 40002: split the batch */
    TT_AUTH,     /* 40001, 40105 or another credential error: pause the pixel */
    TT_REJECTED, /* any other non-zero code: dead */
};

struct tiktok_response {
    enum tiktok_outcome outcome;
    long http_status; /* 0 when no response */
    long code;        /* TikTok's code, -1 when none */
    char message[256];
    char request_id[80];
    long retry_after_s; /* from Retry-After, 0 when absent */
    int partial;        /* code 20001: TikTok accepted only part of the batch */
    char *details;      /* 20001 only: the answer's "data" as JSON text, or NULL (new; see
                           tiktok_response_clear) */
};

/* Frees what a response owns (details). */
void tiktok_response_clear(struct tiktok_response *resp);
/* The events a partial answer (20001) rejected, from its per-event details. The shape of
 * those details is UNCONFIRMED (TikTok's docs were not readable, no SDK or integration reads
 * them); accepted: "data" is an array, or an object with an array member, of objects naming
 * an event by "index" (position in the request's data[]) or "event_id", with a "message"
 * (or "msg", "error", "reason"). event_ids[i] is the i-th event's event_id. Sets rejected[i]
 * and messages[i] for each rejected event. Returns how many, or -1 when the answer names no
 * event of the batch (no readable details). */
int tiktok_partial_rejections(const struct tiktok_response *resp, const char *const *event_ids,
                              int n, int *rejected, char (*messages)[200]);

/* Posts body to {api_base}/open_api/v1.3/event/track/. Never logs the token. */
void tiktok_post(const char *api_base, const char *access_token, const char *body, long timeout_ms,
                 struct tiktok_response *resp);
/* Classifies an HTTP status and response body (exposed for unit tests). */
void tiktok_classify(long http_status, const char *body, struct tiktok_response *resp);

#endif
