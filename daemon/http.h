/* The HTTP listeners (libmicrohttpd): the public one (webhooks, /collect, the scripts,
 * health) and the admin one, with the reaper of slow connections, as one handle. */
#ifndef TTR_HTTP_H
#define TTR_HTTP_H
#include <stddef.h>

struct daemon_ctx;
struct http_listener;

/* Binds both listening sockets (exclusively), before the store is opened, so a port in
 * use stops start-up with the system's reason. Returns the handle (new: http_stop frees
 * it), or NULL with the reason in err. ctx is borrowed for the handle's lifetime. */
struct http_listener *http_bind(struct daemon_ctx *ctx, char *err, size_t errlen);
/* Starts both listeners on the sockets of http_bind. Returns 0, or -1 with a reason in err. */
int http_start(struct http_listener *l, char *err, size_t errlen);
/* The bound public port (listen.port may be 0), once started. */
int http_public_port(const struct http_listener *l);
/* The bound admin port, once started. */
int http_admin_port(const struct http_listener *l);
/* Cuts connections that have trickled request headers or body for longer than
 * listen.timeout_s (slow-loris); called from the main loop. */
void http_reap(struct http_listener *l);
/* Stops accepting; waits for requests in flight to finish; frees l (NULL: nothing). */
void http_stop(struct http_listener *l);

#endif
