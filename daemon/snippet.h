/* The browser scripts on the public listener: /ttr.js as built in, and /ttr-shopify.js,
 * the Shopify custom pixel filled in for a source. */
#ifndef TTR_SNIPPET_H
#define TTR_SNIPPET_H
#include <microhttpd.h>
#include <stddef.h>

struct daemon_ctx;

/* The embedded scripts (daemon/embed.cmake), NUL-terminated. */
extern const unsigned char ttr_js[];
extern const size_t ttr_js_len;
extern const unsigned char ttr_shopify_js[];
extern const size_t ttr_shopify_js_len;

/* GET /ttr.js: the site's script. */
enum MHD_Result snippet_ttr_js(struct MHD_Connection *conn);
/* GET /ttr-shopify.js?source=<id>[&pixel=<code>]: the Shopify custom pixel, filled in for
 * that source. */
enum MHD_Result snippet_shopify(struct daemon_ctx *ctx, struct MHD_Connection *conn);

#endif
