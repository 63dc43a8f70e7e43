/* Shared by the HTTP listener (http.c) and the ingest routes (ingest.c). */
#ifndef TTR_HTTP_INTERNAL_H
#define TTR_HTTP_INTERNAL_H
#include <microhttpd.h>
#include <stddef.h>
#include <time.h>

#include "store.h"

struct config;
struct daemon_ctx;

/* Per-request state in *req_cls, freed when the request completes. */
struct request {
    char *body;
    size_t len, cap, limit;
    int too_large;
    struct timespec start;
    const char *route;
    struct MHD_Connection *conn;

    size_t expect;   /* the declared Content-Length, 0 when none */
    size_t budget;   /* listen.max_body_memory when the request began */
    int over_budget; /* the body buffers of all requests would pass listen.max_body_memory */

    /* While suspended for the group commit holding its row (ingest.c, under its lock). */
    int waiting;
    int job_pending; /* the writer will still call back for this request */
    int resumed;     /* answered: by the writer's callback, or 503 at shutdown */
    int orphaned;    /* completed while job_pending: the writer's callback frees it */
    int abandoned;   /* resumed with 503 because the daemon is stopping */
    struct request *pprev, *pnext;
    enum store_result result;
    long long id;
    int is_collect;
    int wake_forwarder;
    char source_id[64];
    char kind[8];
    char delivery[160];
    char origin[256]; /* the allowed Origin to echo in CORS headers, "" for none */
};

/* Queue r (destroyed here) as the answer. */
enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned int status,
                           struct MHD_Response *r);
enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned int status, const char *text);
enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned int status,
                                 const char *error);
/* Case-insensitive request header lookup (conn is a struct MHD_Connection *). */
const char *http_header(void *conn, const char *name);
/* The browser's address, believing X-Forwarded-For only from collect.trusted_proxies. */
void http_client_ip(const struct config *cfg, struct MHD_Connection *conn, char *out, size_t size);

/* POST /webhooks/<id> and /collect: verify and parse, then suspend the connection until
 * the writer has committed the row; ingest_finish answers once it is resumed. */
enum MHD_Result ingest_webhook(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *source_id, struct request *rq);
enum MHD_Result ingest_collect(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *method, struct request *rq);
enum MHD_Result ingest_finish(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                              struct request *rq);
/* Records a request to /webhooks/<asked> in the delivery log (no body, no secret);
 * delivery_id NULL or "" takes the sender's delivery header. Never blocks on the disk. */
void ingest_log_delivery(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *asked,
                         int status, const char *result, const char *reason,
                         const char *delivery_id, long long conversion_id);

/* GET /ttr-shopify.js?source=<id>[&pixel=<code>]: the Shopify custom pixel, filled in for
 * that source (snippet.c). */
enum MHD_Result http_shopify_snippet(struct daemon_ctx *ctx, struct MHD_Connection *conn);
/* Answers 503 to every request still waiting for its commit and refuses new ones, so that
 * libmicrohttpd can stop (it aborts on a suspended connection). Returns how many. */
int ingest_stop(void);
/* Called when rq's request is complete: 1 when the caller may free rq now, 0 when the
 * writer still holds it and frees it from its callback. rq->body is the caller's anyway. */
int ingest_release(struct request *rq);

#endif
