/* The dashboard's page, its sign-in and the admin listener's authorization: the admin
 * token as a bearer header (ttrelayctl, scripts) or a session cookie the sign-in form got
 * in exchange for it (the page). Sessions live in memory: a restart signs everyone out. */
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "dashboard.h"
#include "hash.h"
#include "log.h"
#include "reply.h"

#define SESSIONS_MAX 64
#define SESSION_TTL_S (12 * 3600)
#define COOKIE_NAME "ttr_session"

/* Scripts and styles only from this origin; nothing inline, no framing, no plugins. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

struct session {
    char id[65];
    char csrf[65];
    char token_hash[65]; /* the admin token it was given for: a new token ends it */
    long long expires_ms;
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session sessions[SESSIONS_MAX];

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static long long reload_ms;
static int reload_refused;
static char reload_reason[256];

void dashboard_note_reload(const char *refused_reason)
{
    pthread_mutex_lock(&reload_lock);
    reload_ms = clock_wall_ms();
    reload_refused = refused_reason != NULL;
    snprintf(reload_reason, sizeof reload_reason, "%s", refused_reason ? refused_reason : "");
    pthread_mutex_unlock(&reload_lock);
}

long long dashboard_last_reload(int *refused, char *reason, size_t size)
{
    pthread_mutex_lock(&reload_lock);
    long long at = reload_ms;
    *refused = reload_refused;
    snprintf(reason, size, "%s", reload_reason);
    pthread_mutex_unlock(&reload_lock);
    return at;
}

static int random_hex(char out[65])
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    hash_hex_encode(raw, sizeof raw, out);
    return 0;
}

static void token_hash(struct daemon_ctx *ctx, char out[65])
{
    struct config *cfg = daemon_config(ctx);
    hash_sha256_hex(cfg->admin_token, strlen(cfg->admin_token), out);
    config_drop(cfg);
}

/* The session named by the request's cookie, copied into *out. 1 found, 0 not. */
static int session_of(struct daemon_ctx *ctx, struct MHD_Connection *conn, struct session *out)
{
    const char *id = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
    char th[65];
    int found = 0;

    if (!id || strlen(id) != 64)
        return 0;
    token_hash(ctx, th);
    long long now = clock_wall_ms();
    pthread_mutex_lock(&sessions_lock);
    for (int i = 0; i < SESSIONS_MAX && !found; i++) {
        struct session *s = &sessions[i];
        if (!s->id[0] || !hash_str_equal(s->id, id))
            continue;
        if (s->expires_ms > now && strcmp(s->token_hash, th) == 0) {
            *out = *s;
            found = 1;
        } else {
            memset(s, 0, sizeof *s);
        }
    }
    pthread_mutex_unlock(&sessions_lock);
    return found;
}

static int session_new(struct daemon_ctx *ctx, struct session *out)
{
    memset(out, 0, sizeof *out);
    if (random_hex(out->id) < 0 || random_hex(out->csrf) < 0)
        return -1;
    token_hash(ctx, out->token_hash);
    out->expires_ms = clock_wall_ms() + (long long)SESSION_TTL_S * 1000;
    pthread_mutex_lock(&sessions_lock);
    int slot = 0; /* a free slot, else the one expiring first */
    for (int i = 0; i < SESSIONS_MAX; i++) {
        if (!sessions[i].id[0]) {
            slot = i;
            break;
        }
        if (sessions[i].expires_ms < sessions[slot].expires_ms)
            slot = i;
    }
    sessions[slot] = *out;
    pthread_mutex_unlock(&sessions_lock);
    return 0;
}

static void session_end(const char *id)
{
    pthread_mutex_lock(&sessions_lock);
    for (int i = 0; i < SESSIONS_MAX; i++)
        if (sessions[i].id[0] && strcmp(sessions[i].id, id) == 0)
            memset(&sessions[i], 0, sizeof sessions[i]);
    pthread_mutex_unlock(&sessions_lock);
}

/* A browser request from another origin: its Origin differs from the Host it was sent to,
 * or the browser says it crossed sites. Requests without these headers are not a browser's
 * cross-site requests. */
static int cross_origin(struct MHD_Connection *conn)
{
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");

    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return 1;
    if (!origin)
        return 0;
    /* Behind a TLS proxy that rewrites Host, the one the browser used is forwarded. */
    const char *fwd = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Host");
    const char *h = strstr(origin, "://");
    if (!h)
        return 1;
    return !((host && strcmp(h + 3, host) == 0) || (fwd && strcmp(h + 3, fwd) == 0));
}

static int safe_method(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

int dashboard_authorize(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                        char *why, size_t size)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct session s;

    if (auth) {
        struct config *cfg = daemon_config(ctx);
        int ok = strncmp(auth, "Bearer ", 7) == 0 && hash_str_equal(auth + 7, cfg->admin_token);
        config_drop(cfg);
        if (ok)
            return 0;
        snprintf(why, size, "unauthorized");
        return MHD_HTTP_UNAUTHORIZED;
    }
    if (!session_of(ctx, conn, &s)) {
        snprintf(why, size, "unauthorized");
        return MHD_HTTP_UNAUTHORIZED;
    }
    if (safe_method(method))
        return 0;
    const char *csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Ttrelay-Csrf");
    if (cross_origin(conn) || !csrf || !hash_str_equal(csrf, s.csrf)) {
        snprintf(why, size, "cross-site request refused");
        return MHD_HTTP_FORBIDDEN;
    }
    return 0;
}

static int reply_json(json_t *o, int status, struct MHD_Response **resp)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *resp = http_json_response(text ? text : "{}");
    free(text);
    http_secure_headers(*resp);
    return status;
}

static void set_cookie(struct MHD_Connection *conn, struct MHD_Response *r, const char *id,
                       long max_age)
{
    const char *proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             COOKIE_NAME "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", id, max_age,
             proto && strcasecmp(proto, "https") == 0 ? "; Secure" : "");
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
}

static int sign_in(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *body,
                   size_t len, struct MHD_Response **resp)
{
    const char *type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct session s;

    /* JSON only: a cross-site form cannot send it without a preflight this listener never
     * grants. */
    if (cross_origin(conn) || !type || strncasecmp(type, "application/json", 16) != 0)
        return reply_json(json_pack("{s:s}", "error", "cross-site request refused"),
                          MHD_HTTP_FORBIDDEN, resp);
    json_t *in = json_loadb(body, len, 0, NULL);
    const char *token = json_string_value(json_object_get(in, "token"));
    struct config *cfg = daemon_config(ctx);
    int ok = token && hash_str_equal(token, cfg->admin_token);
    config_drop(cfg);
    json_decref(in);
    if (!ok) {
        log_warn("dashboard sign-in refused: wrong token", "status=401");
        usleep(300 * 1000); /* slows guessing; the admin listener has a thread per request */
        return reply_json(json_pack("{s:s}", "error", "wrong token"), MHD_HTTP_UNAUTHORIZED, resp);
    }
    if (session_new(ctx, &s) < 0)
        return reply_json(json_pack("{s:s}", "error", "no randomness"),
                          MHD_HTTP_SERVICE_UNAVAILABLE, resp);
    log_info("dashboard signed in", "expires_in_s=%d", SESSION_TTL_S);
    int status = reply_json(json_pack("{s:b,s:s,s:I}", "signed_in", 1, "csrf", s.csrf, "expires_at",
                                      (json_int_t)(s.expires_ms / 1000)),
                            MHD_HTTP_OK, resp);
    set_cookie(conn, *resp, s.id, SESSION_TTL_S);
    return status;
}

static int sign_out(struct daemon_ctx *ctx, struct MHD_Connection *conn, struct MHD_Response **resp)
{
    char why[64];
    struct session s;
    int status = dashboard_authorize(ctx, conn, "POST", why, sizeof why);
    if (status)
        return reply_json(json_pack("{s:s}", "error", why), status, resp);
    if (session_of(ctx, conn, &s))
        session_end(s.id);
    status = reply_json(json_pack("{s:b}", "signed_in", 0), MHD_HTTP_OK, resp);
    set_cookie(conn, *resp, "", 0);
    return status;
}

static int serve_asset(const char *name, struct MHD_Response **resp)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".js", "application/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".svg", "image/svg+xml"}};
    for (const struct dashboard_asset *a = dashboard_assets; a->name; a++) {
        if (strcmp(a->name, name) != 0)
            continue;
        *resp = MHD_create_response_from_buffer(*a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (!*resp)
            return MHD_HTTP_INTERNAL_SERVER_ERROR;
        const char *dot = strrchr(name, '.');
        for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                MHD_add_response_header(*resp, MHD_HTTP_HEADER_CONTENT_TYPE, types[i].type);
        http_secure_headers(*resp);
        MHD_add_response_header(*resp, "Content-Security-Policy", CSP);
        MHD_add_response_header(*resp, "Cross-Origin-Resource-Policy", "same-origin");
        return MHD_HTTP_OK;
    }
    return 0;
}

int dashboard_public(struct daemon_ctx *ctx, struct MHD_Connection *conn, const char *method,
                     const char *url, const char *body, size_t len, struct MHD_Response **resp)
{
    int get = safe_method(method), post = strcmp(method, "POST") == 0;

    if (strcmp(url, "/") == 0 || strcmp(url, "/dashboard") == 0 || strcmp(url, "/dashboard/") == 0)
        return get ? serve_asset("index.html", resp)
                   : reply_json(json_pack("{s:s}", "error", "use GET"), MHD_HTTP_METHOD_NOT_ALLOWED,
                                resp);
    if (strcmp(url, "/dashboard/session") == 0) {
        struct session s;
        /* 200 either way: the page asks before it knows, and a 401 would be noise. */
        if (!session_of(ctx, conn, &s))
            return reply_json(json_pack("{s:b}", "signed_in", 0), MHD_HTTP_OK, resp);
        return reply_json(json_pack("{s:b,s:s,s:I}", "signed_in", 1, "csrf", s.csrf, "expires_at",
                                    (json_int_t)(s.expires_ms / 1000)),
                          MHD_HTTP_OK, resp);
    }
    if (strcmp(url, "/dashboard/login") == 0 || strcmp(url, "/dashboard/logout") == 0) {
        if (!post)
            return reply_json(json_pack("{s:s}", "error", "use POST"), MHD_HTTP_METHOD_NOT_ALLOWED,
                              resp);
        return strcmp(url + 11, "login") == 0 ? sign_in(ctx, conn, body, len, resp)
                                              : sign_out(ctx, conn, resp);
    }
    if (strncmp(url, "/dashboard/", 11) == 0 && get && !strchr(url + 11, '/') &&
        strcmp(url + 11, "index.html") != 0)
        return serve_asset(url + 11, resp);
    return 0;
}
