/* The browser scripts: GET /ttr.js as built in, and GET /ttr-shopify.js?source=<id>[&pixel=<code>],
 * the Shopify custom pixel (the template daemon/ttr-shopify.js) with the relay's address, the
 * source id and the pixel filled in. */
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "context.h"
#include "conversion.h"
#include "reply.h"
#include "request.h"
#include "snippet.h"

struct snippet_value {
    const char *name; /* the placeholder "__TTR_<name>__" */
    const char *value;
};

static int host_valid(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 255)
        return 0;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(".-:[]", *h))
            return 0;
    return 1;
}

static int pixel_valid(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n >= 64)
        return 0;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return 1;
}

/* The address the asker reached the relay by: Host, and https when the TLS proxy in front
 * says so in X-Forwarded-Proto. Both are believed from any peer, unlike X-Forwarded-For:
 * they shape only this answer to the asker, and no cache keeps it (no-store). */
static int snippet_endpoint(struct MHD_Connection *conn, char *out, size_t size)
{
    const char *host = request_header(conn, MHD_HTTP_HEADER_HOST);
    const char *proto = request_header(conn, "X-Forwarded-Proto");
    const char *scheme = "http";

    if (!host || !host_valid(host))
        return -1;
    if (proto) {
        size_t n = strcspn(proto, ", ");
        if (n == 5 && strncasecmp(proto, "https", 5) == 0)
            scheme = "https";
    }
    int n = snprintf(out, size, "%s://%s", scheme, host);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Returns the template with each "__TTR_<name>__" (quotes included) replaced by its value
 * as a JSON string, new (free it), or NULL when out of memory. */
static char *snippet_render(const struct snippet_value *values, size_t nvalues, size_t *len)
{
    const char *p = (const char *)ttr_shopify_js, *end = p + ttr_shopify_js_len;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (!f)
        return NULL;
    while (p < end) {
        const char *mark = strstr(p, "\"__TTR_");
        const struct snippet_value *v = NULL;
        if (!mark) {
            fwrite(p, 1, (size_t)(end - p), f);
            break;
        }
        for (size_t i = 0; i < nvalues && !v; i++) {
            size_t n = strlen(values[i].name);
            if (strncmp(mark + 7, values[i].name, n) == 0 && strncmp(mark + 7 + n, "__\"", 3) == 0)
                v = &values[i];
        }
        fwrite(p, 1, (size_t)(mark - p), f);
        if (!v) {
            fputc('"', f);
            p = mark + 1;
            continue;
        }
        json_t *s = json_string(v->value);
        char *quoted = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        if (quoted)
            fputs(quoted, f);
        free(quoted);
        p = mark + 7 + strlen(v->name) + 3;
        if (!quoted) {
            fclose(f);
            free(buf);
            return NULL;
        }
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Which source and pixel the snippet is for: 0, or an HTTP status with the reason. */
static unsigned int snippet_params(struct daemon_ctx *ctx, struct MHD_Connection *conn,
                                   char *source_id, char *pixel_code, size_t size, const char **why)
{
    const char *source = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "source");
    const char *pixel = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pixel");
    struct config *cfg = daemon_config(ctx);
    const struct source_cfg *src = source ? config_find_source(cfg, source) : NULL;
    unsigned int status = 0;

    if (!source || !source[0]) {
        *why = "source= names a shopify source";
        status = MHD_HTTP_BAD_REQUEST;
    } else if (!src || strcmp(src->type, "shopify") != 0) {
        *why = "unknown shopify source";
        status = MHD_HTTP_NOT_FOUND;
    } else if (pixel && !pixel_valid(pixel)) {
        *why = "pixel= is not a pixel code";
        status = MHD_HTTP_BAD_REQUEST;
    } else if (!pixel && !src->pixel[0]) {
        *why = "the source has no pixel: pass pixel=";
        status = MHD_HTTP_BAD_REQUEST;
    } else {
        str_copy(source_id, size, src->id);
        str_copy(pixel_code, size, pixel ? pixel : src->pixel);
    }
    config_drop(cfg);
    return status;
}

enum MHD_Result snippet_ttr_js(struct MHD_Connection *conn)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(ttr_js_len, (void *)ttr_js, MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/javascript; charset=utf-8");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=3600");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    }
    return http_reply(conn, MHD_HTTP_OK, r);
}

enum MHD_Result snippet_shopify(struct daemon_ctx *ctx, struct MHD_Connection *conn)
{
    char endpoint[300], source_id[64], pixel_code[64];
    const char *why = NULL;
    unsigned int status = snippet_params(ctx, conn, source_id, pixel_code, sizeof source_id, &why);

    if (status)
        return http_reply_error(conn, status, why);
    if (snippet_endpoint(conn, endpoint, sizeof endpoint) < 0)
        return http_reply_error(conn, MHD_HTTP_BAD_REQUEST, "no usable Host header");

    const struct snippet_value values[] = {
        {"ENDPOINT", endpoint}, {"SOURCE", source_id}, {"PIXEL", pixel_code}};
    size_t len = 0;
    char *text = snippet_render(values, sizeof values / sizeof values[0], &len);
    if (!text)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/javascript; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return http_reply(conn, MHD_HTTP_OK, r);
}
