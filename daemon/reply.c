/* Answers, for every listener and route. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

/* Set once when the process stops (atomic). It is the process's, not a listener's: an
 * answer is built without knowing which listener queues it. */
static int closing;

void http_reply_closing(void)
{
    __atomic_store_n(&closing, 1, __ATOMIC_RELEASE);
}

struct MHD_Response *http_json_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned int status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    if (__atomic_load_n(&closing, __ATOMIC_ACQUIRE))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    return http_reply(conn, status, http_json_response(text));
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned int status,
                                 const char *error)
{
    json_t *o = json_pack("{s:s}", "error", error);
    char *text = json_dumps(o, JSON_COMPACT);
    enum MHD_Result ret = http_reply_json(conn, status, text ? text : "{}");
    free(text);
    json_decref(o);
    return ret;
}

enum MHD_Result http_reply_retry_later(struct MHD_Connection *conn, const char *error)
{
    char text[160];
    snprintf(text, sizeof text, "{\"error\":\"%s\"}", error);
    struct MHD_Response *r = http_json_response(text);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    return http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
}

void http_secure_headers(struct MHD_Response *r)
{
    if (!r)
        return;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}
