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
    TT_SENT,     /* HTTP 200 and code 0 or 20001 */
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
};

/* Posts body to {api_base}/open_api/v1.3/event/track/. Never logs the token. */
void tiktok_post(const char *api_base, const char *access_token, const char *body, long timeout_ms,
                 struct tiktok_response *resp);
/* Classifies an HTTP status and response body (exposed for unit tests). */
void tiktok_classify(long http_status, const char *body, struct tiktok_response *resp);

#endif
