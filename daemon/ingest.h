/* The ingest routes, POST /webhooks/<id> and POST /collect: verify and parse, then suspend
 * the connection until the store's writer has committed the row; ingest_finish answers. */
#ifndef TTR_INGEST_H
#define TTR_INGEST_H
#include <microhttpd.h>

struct daemon_ctx;
struct request;

/* rq is borrowed: it stays the listener's, freed as ingest_release says. */
enum MHD_Result ingest_webhook(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *source_id, struct request *rq);
enum MHD_Result ingest_collect(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                               const char *method, struct request *rq);
/* Answers a request once the writer has resumed its connection. */
enum MHD_Result ingest_finish(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                              struct request *rq);
/* Records a request to /webhooks/<asked> in the delivery log (no body, no secret);
 * delivery_id NULL or "" takes the sender's delivery header. Never blocks on the disk. */
void ingest_log_delivery(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *asked,
                         int status, const char *result, const char *reason,
                         const char *delivery_id, long long conversion_id);
/* Answers 503 to every request still waiting for its commit and refuses new ones, so that
 * libmicrohttpd can stop (it aborts on a suspended connection). Returns how many. */
int ingest_stop(void);
/* Called when rq's request is complete: 1 when the caller may free rq now, 0 when the
 * writer still holds it and frees it from its callback. rq->body is the caller's anyway. */
int ingest_release(struct request *rq);

#endif
