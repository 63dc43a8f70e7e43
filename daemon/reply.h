/* Building and queueing answers: JSON bodies, errors, the headers admin answers carry.
 * Needs libmicrohttpd only: every listener and route answers through it. */
#ifndef TTR_REPLY_H
#define TTR_REPLY_H
#include <microhttpd.h>

/* A JSON response (new, or NULL when out of memory); the text is copied. */
struct MHD_Response *http_json_response(const char *text);
/* Queues r (steals it: destroyed here, and NULL is answered MHD_NO) as the answer. */
enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned int status,
                           struct MHD_Response *r);
enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned int status, const char *text);
enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned int status,
                                 const char *error);
/* 503 with Retry-After: 5 and {"error": error}; error is a plain ASCII text. */
enum MHD_Result http_reply_retry_later(struct MHD_Connection *conn, const char *error);
/* Headers every admin answer carries (no sniffing, no caching, no framing); r may be NULL. */
void http_secure_headers(struct MHD_Response *r);
/* From now on every answer closes its connection (the process is stopping). */
void http_reply_closing(void);

#endif
