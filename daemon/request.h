/* A request as the listener reads it: its state while it lasts (in *req_cls), its headers
 * and the browser's address. Shared by the listener (http.c) and the ingest routes. */
#ifndef TTR_REQUEST_H
#define TTR_REQUEST_H
#include <microhttpd.h>
#include <stddef.h>
#include <time.h>

#include "store.h"

struct config;

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

/* Case-insensitive request header lookup (conn is a struct MHD_Connection *); borrowed
 * from the connection. */
const char *request_header(void *conn, const char *name);
/* The browser's address, believing X-Forwarded-For only from collect.trusted_proxies. */
void request_client_ip(const struct config *cfg, struct MHD_Connection *conn, char *out,
                       size_t size);

#endif
