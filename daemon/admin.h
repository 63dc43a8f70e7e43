/* The admin API (behind the admin token or a dashboard session): status, metrics, events,
 * replay, the match-quality report, test events, touches and deliveries. */
#ifndef TTR_ADMIN_H
#define TTR_ADMIN_H
#include <stddef.h>

struct daemon_ctx;
struct MHD_Connection;
struct MHD_Response;

/* Called by the listener after the token or session check. Returns the HTTP status with
 * *resp set (new: the caller queues it). */
int admin_handle(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                 const char *url, const char *body, size_t len, struct MHD_Response **resp);

#endif
