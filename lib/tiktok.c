/* TikTok Events API v1.3 client: the event JSON (DESIGN.md "What goes to TikTok"),
 * batch bodies, the outcome of a response, and the HTTP POST over libcurl. */
#include "tiktok.h"

#include "match.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef TTR_VERSION
#define TTR_VERSION "0"
#endif

/* jansson writes reals with %.17g, which turns 9.2 into 9.1999999999999993. Fifteen
 * significant digits reproduce every decimal of up to 15 digits exactly. */
#define TT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define TT_RESPONSE_MAX (64 * 1024)
#define TT_RETRY_AFTER_MAX 86400L
#define TT_CONNECT_TIMEOUT_MS 5000L

/* Sets key to a copy of value unless value is NULL or empty: TikTok must never see an
 * empty string for a field we do not know. */
static int tt_set_str(json_t *obj, const char *key, const char *value)
{
    if (!value || !*value)
        return 0;
    return json_object_set_new(obj, key, json_string(value));
}

/* Prefers the match's enrichment (the visitor's latest capture) over the webhook's own. */
static const char *tt_pick(const char *enriched, const char *own)
{
    return enriched && *enriched ? enriched : own;
}

/* Adds obj under key when it has members; steals obj either way. */
static int tt_set_nonempty(json_t *parent, const char *key, json_t *obj)
{
    if (!obj)
        return -1;
    if (json_object_size(obj) == 0) {
        json_decref(obj);
        return 0;
    }
    return json_object_set_new(parent, key, obj);
}

static json_t *tt_user(const struct conversion *c, const struct match_result *m)
{
    json_t *u = json_object();

    if (!u)
        return NULL;
    if (tt_set_str(u, "email", c->email_hash) || tt_set_str(u, "phone", c->phone_hash) ||
        tt_set_str(u, "external_id", c->external_id_hash) ||
        tt_set_str(u, "ttclid", tt_pick(m->enrich.ttclid, c->ttclid)) ||
        tt_set_str(u, "ttp", tt_pick(m->enrich.ttp, c->ttp)) ||
        tt_set_str(u, "ip", tt_pick(m->enrich.ip, c->ip)) ||
        tt_set_str(u, "user_agent", tt_pick(m->enrich.user_agent, c->user_agent))) {
        json_decref(u);
        return NULL;
    }
    return u;
}

/* contents[] from the stored array: items that are not objects are dropped, and so are
 * null or empty members; a numeric content_id becomes a string because TikTok answers
 * 40002 "content_id: Not a valid string" otherwise. New reference, or NULL when empty. */
static json_t *tt_contents(const char *contents_json)
{
    json_t *in, *out, *item;
    size_t i;

    if (!contents_json || !*contents_json)
        return NULL;
    in = json_loads(contents_json, JSON_DECODE_ANY, NULL);
    out = json_array();
    if (!json_is_array(in) || !out)
        goto fail;
    json_array_foreach(in, i, item)
    {
        json_t *clean = json_object(), *v;
        const char *key;
        if (!clean)
            goto fail;
        if (json_is_object(item)) {
            json_object_foreach(item, key, v)
            {
                if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
                    continue;
                if (strcmp(key, "content_id") == 0 && json_is_integer(v))
                    json_object_set_new(
                        clean, key, json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)));
                else
                    json_object_set(clean, key, v);
            }
        }
        if (json_object_size(clean) == 0)
            json_decref(clean);
        else if (json_array_append_new(out, clean) != 0)
            goto fail;
    }
    json_decref(in);
    if (json_array_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
fail:
    json_decref(in);
    json_decref(out);
    return NULL;
}

/* The value as a JSON number from the exact decimal text ("" or unparsable: omitted).
 * Whole amounts stay integers; others become a real dumped with TT_JSON_FLAGS. */
static json_t *tt_value(const char *text)
{
    char *end;

    if (!text || !*text)
        return NULL;
    if (!strchr(text, '.')) {
        long long whole;
        errno = 0;
        whole = strtoll(text, &end, 10);
        if (errno == 0 && end != text && *end == '\0')
            return json_integer(whole);
    }
    errno = 0;
    double real = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0')
        return NULL;
    return json_real(real);
}

static json_t *tt_properties(const struct conversion *c)
{
    json_t *p = json_object(), *contents = tt_contents(c->contents_json), *value;

    if (!p)
        goto fail;
    if (tt_set_str(p, "currency", c->currency) != 0)
        goto fail;
    value = tt_value(c->value);
    if (value && json_object_set_new(p, "value", value) != 0)
        goto fail;
    if (contents) {
        if (json_object_set_new(p, "content_type", json_string("product")) != 0)
            goto fail;
        if (json_object_set_new(p, "contents", contents) != 0) {
            contents = NULL;
            goto fail;
        }
        contents = NULL;
    }
    /* Calls and leads have no order: an order_id there would make TikTok count a sale. */
    if (c->kind == KIND_ORDER && tt_set_str(p, "order_id", c->order_id) != 0)
        goto fail;
    return p;
fail:
    json_decref(contents);
    json_decref(p);
    return NULL;
}

/* New JSON text for one data[] element, or NULL when the match carries no event name or
 * event_id (nothing TikTok could deduplicate) or on allocation failure. */
char *tiktok_event_json(const struct conversion *c, const struct match_result *m)
{
    return tiktok_event_json_consent(c, m, 0);
}

char *tiktok_event_json_consent(const struct conversion *c, const struct match_result *m,
                                int limited_data_use)
{
    json_t *ev = NULL, *page = NULL;
    char *text = NULL;

    if (!c || !m || !m->event_name[0] || !m->event_id[0])
        return NULL;
    ev = json_object();
    if (!ev)
        goto out;
    if (tt_set_str(ev, "event", m->event_name) != 0)
        goto out;
    if (c->event_time > 0 &&
        json_object_set_new(ev, "event_time", json_integer(c->event_time)) != 0)
        goto out;
    if (tt_set_str(ev, "event_id", m->event_id) != 0)
        goto out;
    if (tt_set_nonempty(ev, "user", tt_user(c, m)) != 0)
        goto out;
    if (tt_set_nonempty(ev, "properties", tt_properties(c)) != 0)
        goto out;
    page = json_object();
    if (!page || tt_set_str(page, "url", tt_pick(m->enrich.url, c->url)) != 0 ||
        tt_set_str(page, "referrer", tt_pick(m->enrich.referrer, c->referrer)) != 0)
        goto out;
    if (tt_set_nonempty(ev, "page", page) != 0) {
        page = NULL;
        goto out;
    }
    page = NULL;
    /* Only when set: TikTok's default is false, and an absent field stays absent. */
    if (limited_data_use && json_object_set_new(ev, "limited_data_use", json_true()) != 0)
        goto out;
    text = json_dumps(ev, TT_JSON_FLAGS);
out:
    json_decref(page);
    json_decref(ev);
    return text;
}

/* New body text. The element texts are spliced in verbatim rather than re-parsed, so
 * the numbers in them keep exactly the digits tiktok_event_json wrote. */
char *tiktok_batch_body(const char *pixel, const char *test_event_code, const char *const *events,
                        int n)
{
    json_t *head = NULL;
    char *prefix = NULL, *body = NULL;
    size_t len, total, pos;

    if (!pixel || n < 0 || (n > 0 && !events))
        return NULL;
    head = json_object();
    if (!head || json_object_set_new(head, "event_source", json_string("web")) != 0 ||
        json_object_set_new(head, "event_source_id", json_string(pixel)) != 0 ||
        tt_set_str(head, "test_event_code", test_event_code) != 0)
        goto out;
    prefix = json_dumps(head, JSON_COMPACT);
    if (!prefix)
        goto out;
    len = strlen(prefix); /* ends with '}', replaced by ,"data":[ */
    total = len - 1 + strlen(",\"data\":[") + 2 + 1;
    for (int i = 0; i < n; i++) {
        if (!events[i] || !*events[i])
            goto out;
        total += strlen(events[i]) + 1;
    }
    body = malloc(total);
    if (!body)
        goto out;
    memcpy(body, prefix, len - 1);
    pos = len - 1;
    memcpy(body + pos, ",\"data\":[", 9);
    pos += 9;
    for (int i = 0; i < n; i++) {
        size_t el = strlen(events[i]);
        if (i > 0)
            body[pos++] = ',';
        memcpy(body + pos, events[i], el);
        pos += el;
    }
    memcpy(body + pos, "]}", 3);
out:
    free(prefix);
    json_decref(head);
    return body;
}

static enum tiktok_outcome tt_outcome_for_code(long code)
{
    switch (code) {
    case 0:
    case 20001: return TT_SENT;
    case 40100: return TT_RETRY;
    case 40002: return TT_BAD_ROWS;
    case 40001:
    case 40105: return TT_AUTH;
    default:
        /* Codes 50000-59999 are TikTok system errors: transient, like an HTTP 5xx. */
        return code >= 50000 && code <= 59999 ? TT_RETRY : TT_REJECTED;
    }
}

/* Reads code, message and request_id; returns 0 when the body is an object with an
 * integer code. */
static int tt_read_body(const char *body, struct tiktok_response *resp)
{
    json_t *root, *v;
    int rc = -1;

    if (!body || !*body)
        return -1;
    root = json_loads(body, JSON_DECODE_ANY, NULL);
    if (!json_is_object(root))
        goto out;
    v = json_object_get(root, "message");
    if (json_is_string(v))
        STR_SET(resp->message, json_string_value(v));
    v = json_object_get(root, "request_id");
    if (json_is_string(v))
        STR_SET(resp->request_id, json_string_value(v));
    else if (json_is_integer(v))
        snprintf(resp->request_id, sizeof resp->request_id, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    v = json_object_get(root, "code");
    if (json_is_integer(v)) {
        resp->code = (long)json_integer_value(v);
        rc = 0;
    }
    v = json_object_get(root, "data");
    if (resp->code == 20001 && v && !json_is_null(v))
        resp->details = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
out:
    json_decref(root);
    return rc;
}

void tiktok_classify(long http_status, const char *body, struct tiktok_response *resp)
{
    int parsed;

    memset(resp, 0, sizeof *resp);
    resp->http_status = http_status;
    resp->code = -1;
    parsed = tt_read_body(body, resp) == 0;
    if (http_status >= 200 && http_status < 300) {
        if (parsed) {
            resp->outcome = tt_outcome_for_code(resp->code);
            resp->partial = resp->code == 20001;
        } else {
            /* A 200 we cannot read may still have been accepted; retrying is safe because
             * TikTok deduplicates on event_id. */
            resp->outcome = TT_RETRY;
            if (!resp->message[0])
                snprintf(resp->message, sizeof resp->message, "unparsable response body");
        }
    } else if (http_status == 401 || http_status == 403) {
        resp->outcome = TT_AUTH;
    } else if (http_status == 0 || http_status == 408 || http_status == 425 || http_status == 429 ||
               http_status >= 500) {
        resp->outcome = TT_RETRY;
    } else {
        resp->outcome = parsed ? tt_outcome_for_code(resp->code) : TT_REJECTED;
        /* A non-2xx status is never a success, whatever the body claims. */
        if (resp->outcome == TT_SENT)
            resp->outcome = TT_REJECTED;
    }
    if (!resp->partial) {
        free(resp->details);
        resp->details = NULL;
    }
    if (!resp->message[0] && http_status != 0 && (http_status < 200 || http_status >= 300))
        snprintf(resp->message, sizeof resp->message, "HTTP %ld", http_status);
}

void tiktok_response_clear(struct tiktok_response *resp)
{
    if (!resp)
        return;
    free(resp->details);
    resp->details = NULL;
}

/* The first array among data itself and its members (UNCONFIRMED shape: see tiktok.h). */
static json_t *tt_details_array(json_t *data)
{
    const char *key;
    json_t *v;

    if (json_is_array(data))
        return data;
    json_object_foreach(data, key, v)
    {
        if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0)))
            return v;
    }
    return NULL;
}

static const char *tt_detail_message(json_t *item)
{
    static const char *const keys[] = {"message", "msg", "error", "reason", "error_message"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *m = json_string_value(json_object_get(item, keys[i]));
        if (m && *m)
            return m;
    }
    return "rejected (no message)";
}

/* Marks the events item names; returns how many. */
static int tt_detail_mark(json_t *item, const char *const *event_ids, int n, int *rejected,
                          char (*messages)[200])
{
    json_t *index = json_object_get(item, "index");
    const char *event_id = json_string_value(json_object_get(item, "event_id"));
    const char *message = tt_detail_message(item);
    int marked = 0;

    for (int i = 0; i < n; i++) {
        int named = json_is_integer(index) ? json_integer_value(index) == i
                                           : event_id && event_ids[i] &&
                                                 strcmp(event_id, event_ids[i]) == 0;
        if (named && !rejected[i]) {
            rejected[i] = 1;
            snprintf(messages[i], 200, "%s", message);
            marked++;
        }
    }
    return marked;
}

int tiktok_partial_rejections(const struct tiktok_response *resp, const char *const *event_ids,
                              int n, int *rejected, char (*messages)[200])
{
    json_t *data, *list, *item;
    size_t i;
    int marked = 0;

    for (int k = 0; k < n; k++)
        rejected[k] = 0;
    if (!resp || !resp->details)
        return -1;
    data = json_loads(resp->details, JSON_DECODE_ANY, NULL);
    list = tt_details_array(data);
    json_array_foreach(list, i, item)
    {
        if (json_is_object(item))
            marked += tt_detail_mark(item, event_ids, n, rejected, messages);
    }
    json_decref(data);
    return marked > 0 ? marked : -1;
}

struct tt_buffer {
    char *data;
    size_t len;
    long retry_after_s;
};

/* Keeps the first TT_RESPONSE_MAX bytes and discards the rest without failing the
 * transfer: the status line already decided most outcomes. */
static size_t tt_on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tt_buffer *b = userdata;
    size_t n = size * nmemb, room = TT_RESPONSE_MAX - b->len, take = n < room ? n : room;

    if (take > 0) {
        char *grown = realloc(b->data, b->len + take + 1);
        if (!grown)
            return 0;
        b->data = grown;
        memcpy(b->data + b->len, ptr, take);
        b->len += take;
        b->data[b->len] = '\0';
    }
    return n;
}

/* Retry-After in seconds or as an HTTP date; clamped to [0, TT_RETRY_AFTER_MAX]. */
static long tt_parse_retry_after(const char *s)
{
    char *end;
    long secs;

    s += strspn(s, " \t");
    errno = 0;
    secs = strtol(s, &end, 10);
    if (end == s || errno != 0 || (*end != '\0' && *end != ' ')) {
        time_t when = curl_getdate(s, NULL);
        secs = when > 0 ? (long)(when - time(NULL)) : 0;
    }
    if (secs < 0)
        return 0;
    return secs > TT_RETRY_AFTER_MAX ? TT_RETRY_AFTER_MAX : secs;
}

static size_t tt_on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    struct tt_buffer *b = userdata;
    size_t n = size * nitems, nlen = strlen("retry-after:");
    char value[64];

    if (n <= nlen || n - nlen >= sizeof value || strncasecmp(ptr, "retry-after:", nlen) != 0)
        return n;
    memcpy(value, ptr + nlen, n - nlen);
    value[n - nlen] = '\0';
    value[strcspn(value, "\r\n")] = '\0';
    b->retry_after_s = tt_parse_retry_after(value);
    return n;
}

static pthread_once_t tt_curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe in older libcurl; the forwarder may be the first
 * thread to post. */
static void tt_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Builds the two request headers. The token is copied into curl's list only; it is never
 * put in resp->message or a log line. Returns NULL on failure. */
static struct curl_slist *tt_headers(const char *access_token)
{
    struct curl_slist *list = NULL, *next;
    size_t need = strlen("Access-Token: ") + strlen(access_token) + 1;
    char *line = malloc(need);

    if (!line)
        return NULL;
    snprintf(line, need, "Access-Token: %s", access_token);
    next = curl_slist_append(list, line);
    explicit_bzero(line, need);
    free(line);
    if (!next)
        return NULL;
    list = next;
    next = curl_slist_append(list, "Content-Type: application/json");
    if (!next) {
        curl_slist_free_all(list);
        return NULL;
    }
    list = next;
    /* Keeps curl from waiting a second for "100 Continue" on large batches. */
    next = curl_slist_append(list, "Expect:");
    if (!next) {
        curl_slist_free_all(list);
        return NULL;
    }
    return next;
}

static void tt_fail(struct tiktok_response *resp, enum tiktok_outcome outcome, const char *why)
{
    memset(resp, 0, sizeof *resp);
    resp->outcome = outcome;
    resp->code = -1;
    STR_SET(resp->message, why);
}

static void tt_setup(CURL *curl, const char *url, struct curl_slist *headers, const char *body,
                     long timeout_ms, char *errbuf, struct tt_buffer *buf)
{
    long total = timeout_ms > 0 ? timeout_ms : 10000L;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ttrelay/" TTR_VERSION);
    /* Timeouts through signals would be unsafe in the forwarder thread. */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     total < TT_CONNECT_TIMEOUT_MS ? total : TT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tt_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, tt_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, buf);
}

void tiktok_post(const char *api_base, const char *access_token, const char *body, long timeout_ms,
                 struct tiktok_response *resp)
{
    struct tt_buffer buf = {0};
    struct curl_slist *headers = NULL;
    char url[2048], errbuf[CURL_ERROR_SIZE];
    size_t blen;
    CURL *curl = NULL;
    CURLcode cc;
    long status = 0;

    if (!api_base || !*api_base || !body) {
        tt_fail(resp, TT_REJECTED, "no api_base or body");
        return;
    }
    /* A token with a line break would inject headers; either is a configuration error. */
    if (!access_token || !*access_token || strpbrk(access_token, "\r\n")) {
        tt_fail(resp, TT_AUTH, "access token missing or malformed");
        return;
    }
    blen = strlen(api_base);
    while (blen > 0 && api_base[blen - 1] == '/')
        blen--;
    if (blen > sizeof url - 64) {
        tt_fail(resp, TT_REJECTED, "api_base too long");
        return;
    }
    snprintf(url, sizeof url, "%.*s/open_api/v1.3/event/track/", (int)blen, api_base);
    pthread_once(&tt_curl_once, tt_curl_init);
    curl = curl_easy_init();
    headers = tt_headers(access_token);
    if (!curl || !headers) {
        tt_fail(resp, TT_RETRY, "out of memory");
        goto out;
    }
    errbuf[0] = '\0';
    tt_setup(curl, url, headers, body, timeout_ms, errbuf, &buf);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        tt_fail(resp, TT_RETRY, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    tiktok_classify(status, buf.data, resp);
    resp->retry_after_s = buf.retry_after_s;
out:
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    free(buf.data);
}
