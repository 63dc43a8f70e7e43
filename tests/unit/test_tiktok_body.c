/* The TikTok request: each data[] element field by field, the batch envelope, the
 * classification of responses, and the exact HTTP request tiktok_post sends (to a
 * one-shot server on 127.0.0.1). */
#include "match.h"
#include "tap.h"
#include "tiktok.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define EMAIL_H "32023064c99bdd80005be565f7bcd3282c55e4981c5a5a63f1d2d84be7af258d"
#define PHONE_H "cbe402028396ab36aba067aa94538d53eb026d29e4c9fcc357d966e037ec2e17"

static void fill_order(struct conversion *c, struct match_result *m)
{
    memset(c, 0, sizeof *c);
    memset(m, 0, sizeof *m);
    STR_SET(c->source_id, "shop");
    c->kind = KIND_ORDER;
    STR_SET(c->object_id, "820982911946154508");
    STR_SET(c->order_id, "820982911946154508");
    STR_SET(c->email_hash, EMAIL_H);
    STR_SET(c->phone_hash, PHONE_H);
    STR_SET(c->value, "9.2");
    STR_SET(c->currency, "USD");
    c->contents_json = strdup("[{\"content_id\":\"sku-1\",\"content_name\":\"Mug\","
                              "\"price\":4.6,\"quantity\":2},{\"content_id\":123,"
                              "\"content_name\":\"\",\"price\":0.1,\"quantity\":1}]");
    STR_SET(c->ip, "198.51.100.9");
    STR_SET(c->user_agent, "Shopify-UA");
    STR_SET(c->url, "https://shop.example/checkout");
    c->event_time = 1764032523;
    STR_SET(m->event_name, "CompletePayment");
    STR_SET(m->event_id, "evt-browser-1");
    STR_SET(m->matched_by, "order_ref");
    STR_SET(m->enrich.ttclid, "E.C.P.abc");
    STR_SET(m->enrich.ttp, "2F7h37YkS1j57AYSKTI7IHhJPYH");
    STR_SET(m->enrich.ip, "203.0.113.7");
    STR_SET(m->enrich.user_agent, "Mozilla/5.0 (X11)");
    STR_SET(m->enrich.referrer, "https://www.tiktok.com/");
}

static const char *sget(json_t *obj, const char *path1, const char *key)
{
    json_t *o = path1 ? json_object_get(obj, path1) : obj;
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_event_order(void)
{
    struct conversion c;
    struct match_result m;
    json_t *ev, *props, *contents;
    char *text;

    fill_order(&c, &m);
    text = tiktok_event_json(&c, &m);
    ok(text != NULL, "order event built");
    ev = json_loads(text ? text : "", 0, NULL);
    ok(json_is_object(ev), "event is a JSON object");
    is_str(sget(ev, NULL, "event"), "CompletePayment", "event name from the match");
    is_str(sget(ev, NULL, "event_id"), "evt-browser-1", "event_id from the match, as a string");
    ok(json_is_integer(json_object_get(ev, "event_time")) &&
           json_integer_value(json_object_get(ev, "event_time")) == 1764032523,
       "event_time is unix seconds");
    is_str(sget(ev, "user", "email"), EMAIL_H, "user.email is the hash");
    is_str(sget(ev, "user", "phone"), PHONE_H, "user.phone is the hash");
    ok(json_object_get(json_object_get(ev, "user"), "external_id") == NULL,
       "unknown external_id is omitted");
    is_str(sget(ev, "user", "ttclid"), "E.C.P.abc", "ttclid from the visitor");
    is_str(sget(ev, "user", "ttp"), "2F7h37YkS1j57AYSKTI7IHhJPYH", "ttp from the visitor");
    is_str(sget(ev, "user", "ip"), "203.0.113.7", "visitor ip wins over the webhook's");
    is_str(sget(ev, "user", "user_agent"), "Mozilla/5.0 (X11)", "visitor user agent wins");
    props = json_object_get(ev, "properties");
    is_str(sget(props, NULL, "currency"), "USD", "currency");
    ok(json_is_number(json_object_get(props, "value")) &&
           json_number_value(json_object_get(props, "value")) == 9.2,
       "value is the number 9.2");
    is_str(sget(props, NULL, "content_type"), "product", "content_type with contents");
    is_str(sget(props, NULL, "order_id"), "820982911946154508", "order_id for an order");
    contents = json_object_get(props, "contents");
    is_int(json_array_size(contents), 2, "two contents");
    is_str(sget(json_array_get(contents, 0), NULL, "content_id"), "sku-1", "content_id");
    is_str(sget(json_array_get(contents, 1), NULL, "content_id"), "123",
           "numeric content_id sent as a string");
    ok(json_object_get(json_array_get(contents, 1), "content_name") == NULL,
       "empty content_name omitted");
    is_str(sget(ev, "page", "url"), "https://shop.example/checkout",
           "page.url falls back to the webhook's");
    is_str(sget(ev, "page", "referrer"), "https://www.tiktok.com/", "page.referrer");
    ok(text && strstr(text, "\"value\":9.2") != NULL, "value written as 9.2 in the text");
    ok(text && strstr(text, "9.19999") == NULL, "no 9.19999… anywhere");
    ok(text && strstr(text, "\"price\":4.6,") && strstr(text, "\"price\":0.1,"),
       "prices written exactly (4.6, 0.1)");
    ok(text && strstr(text, "\"\"") == NULL, "no empty string anywhere");
    json_decref(ev);
    free(text);
    conversion_clear(&c);
}

static void test_event_call_minimal(void)
{
    struct conversion c;
    struct match_result m;
    json_t *ev;
    char *text;

    memset(&c, 0, sizeof c);
    memset(&m, 0, sizeof m);
    c.kind = KIND_CALL;
    STR_SET(c.order_id, "should-not-be-sent");
    STR_SET(c.email_hash, EMAIL_H);
    STR_SET(c.ttclid, "E.C.P.webhook");
    c.event_time = 1764032523;
    STR_SET(m.event_name, "Contact");
    STR_SET(m.event_id, "ttr_0123");
    text = tiktok_event_json(&c, &m);
    ev = json_loads(text ? text : "", 0, NULL);
    ok(json_is_object(ev), "call event built");
    ok(json_object_get(ev, "properties") == NULL, "no properties object when all are unknown");
    ok(json_object_get(ev, "page") == NULL, "no page object when url and referrer are unknown");
    ok(text && strstr(text, "order_id") == NULL, "a call carries no order_id");
    ok(text && strstr(text, "content_type") == NULL, "no content_type without contents");
    is_str(sget(ev, "user", "ttclid"), "E.C.P.webhook", "webhook ttclid used when no visitor");
    is_int(json_object_size(json_object_get(ev, "user")), 2, "user has only email and ttclid");
    ok(text && strstr(text, "\"\"") == NULL, "no empty string anywhere");
    json_decref(ev);
    free(text);

    m.event_id[0] = '\0';
    text = tiktok_event_json(&c, &m);
    ok(text == NULL, "no event without an event_id");
    free(text);
}

static void test_value_forms(void)
{
    static const char *const values[] = {"388.00", "0.00", "123456789012.34", "5000", "-15.5"};
    static const char *const written[] = {"\"value\":388.0", "\"value\":0.0",
                                          "\"value\":123456789012.34", "\"value\":5000",
                                          "\"value\":-15.5"};
    struct conversion c;
    struct match_result m;

    for (int i = 0; i < 5; i++) {
        char *text;
        fill_order(&c, &m);
        STR_SET(c.value, values[i]);
        text = tiktok_event_json(&c, &m);
        ok(text && strstr(text, written[i]), "value %s written as %s", values[i], written[i]);
        free(text);
        conversion_clear(&c);
    }
}

static void test_batch_body(void)
{
    const char *events[] = {"{\"event\":\"A\",\"value\":9.2}", "{\"event\":\"B\"}"};
    json_t *root;
    char *body;

    body = tiktok_batch_body("CPIXEL123", "TEST123", events, 2);
    root = json_loads(body ? body : "", 0, NULL);
    ok(json_is_object(root), "batch body is JSON");
    is_str(sget(root, NULL, "event_source"), "web", "event_source is web");
    is_str(sget(root, NULL, "event_source_id"), "CPIXEL123", "event_source_id is the pixel");
    is_str(sget(root, NULL, "test_event_code"), "TEST123", "test_event_code when given");
    is_int(json_array_size(json_object_get(root, "data")), 2, "data holds both events");
    is_str(sget(json_array_get(json_object_get(root, "data"), 1), NULL, "event"), "B",
           "events kept in order");
    ok(body && strstr(body, "9.2}") && !strstr(body, "9.19999"), "element text spliced exactly");
    json_decref(root);
    free(body);

    body = tiktok_batch_body("CPIXEL123", "", events, 1);
    is_str(body,
           "{\"event_source\":\"web\",\"event_source_id\":\"CPIXEL123\","
           "\"data\":[{\"event\":\"A\",\"value\":9.2}]}",
           "empty test_event_code is omitted; exact body");
    free(body);
    body = tiktok_batch_body("CPIXEL123", NULL, NULL, 0);
    is_str(body, "{\"event_source\":\"web\",\"event_source_id\":\"CPIXEL123\",\"data\":[]}",
           "empty batch");
    free(body);
}

static void classify_is(long status, const char *body, enum tiktok_outcome want, long code)
{
    struct tiktok_response r;

    tiktok_classify(status, body, &r);
    is_int(r.outcome, want, "HTTP %ld %s", status, body ? body : "(no body)");
    is_int(r.code, code, "code read from HTTP %ld %s", status, body ? body : "(no body)");
}

static void test_classify(void)
{
    struct tiktok_response r;

    classify_is(200, "{\"code\":0,\"message\":\"OK\"}", TT_SENT, 0);
    classify_is(200, "{\"code\":20001,\"message\":\"partial\"}", TT_SENT, 20001);
    classify_is(200, "{\"code\":40100,\"message\":\"Too many requests.\"}", TT_RETRY, 40100);
    classify_is(200, "{\"code\":40002,\"message\":\"Batch.0.event_id: bad\"}", TT_BAD_ROWS, 40002);
    classify_is(200, "{\"code\":40001,\"message\":\"No permission\"}", TT_AUTH, 40001);
    classify_is(200, "{\"code\":40105,\"message\":\"token\"}", TT_AUTH, 40105);
    classify_is(200, "{\"code\":40000,\"message\":\"other\"}", TT_REJECTED, 40000);
    classify_is(200, "{\"code\":51000,\"message\":\"system\"}", TT_RETRY, 51000);
    classify_is(200, "<html>oops</html>", TT_RETRY, -1);
    classify_is(200, "", TT_RETRY, -1);
    classify_is(200, "{\"message\":\"no code\"}", TT_RETRY, -1);
    classify_is(429, "", TT_RETRY, -1);
    classify_is(500, "{\"code\":0}", TT_RETRY, 0);
    classify_is(503, NULL, TT_RETRY, -1);
    classify_is(401, "{\"code\":40105}", TT_AUTH, 40105);
    classify_is(403, "", TT_AUTH, -1);
    classify_is(400, "{\"code\":40002,\"message\":\"bad\"}", TT_BAD_ROWS, 40002);
    classify_is(404, "not found", TT_REJECTED, -1);
    classify_is(0, NULL, TT_RETRY, -1);

    tiktok_classify(200,
                    "{\"code\":40002,\"message\":\"Invalid value for event_id\","
                    "\"request_id\":\"2023031413\"}",
                    &r);
    is_str(r.message, "Invalid value for event_id", "message copied");
    is_str(r.request_id, "2023031413", "request_id copied");
    is_int(r.http_status, 200, "http_status copied");
}

/* 20001's per-event details (UNCONFIRMED shape): by index or event_id, in "data" itself or
 * in an array member of it; none readable gives -1 so the forwarder isolates by splitting. */
static void test_partial_rejections(void)
{
    const char *eids[4] = {"e0", "e1", "e2", "e3"};
    int rej[4];
    char msgs[4][200];
    struct tiktok_response r;

    tiktok_classify(200,
                    "{\"code\":20001,\"message\":\"Partial success\",\"request_id\":\"r1\","
                    "\"data\":{\"failed_events\":[{\"index\":1,\"message\":\"bad currency\"},"
                    "{\"event_id\":\"e3\",\"msg\":\"bad value\"}]}}",
                    &r);
    is_int(r.outcome, TT_SENT, "20001 is a (partial) success");
    is_int(r.partial, 1, "20001 is flagged partial");
    is_int(tiktok_partial_rejections(&r, eids, 4, rej, msgs), 2, "two events named");
    ok(!rej[0] && rej[1] && !rej[2] && rej[3], "by index and by event_id");
    is_str(msgs[1], "bad currency", "message kept");
    is_str(msgs[3], "bad value", "msg kept");
    tiktok_response_clear(&r);

    tiktok_classify(200,
                    "{\"code\":20001,\"message\":\"p\",\"data\":[{\"index\":0,"
                    "\"error\":\"e\"},{\"index\":9}]}",
                    &r);
    is_int(tiktok_partial_rejections(&r, eids, 4, rej, msgs), 1, "data as an array; index 9 out of range");
    is_str(msgs[0], "e", "error kept");
    tiktok_response_clear(&r);

    tiktok_classify(200, "{\"code\":20001,\"message\":\"p\",\"data\":{}}", &r);
    is_int(tiktok_partial_rejections(&r, eids, 4, rej, msgs), -1, "no details: -1");
    tiktok_response_clear(&r);
    tiktok_classify(200, "{\"code\":20001,\"data\":{\"x\":[{\"event_id\":\"zz\"}]}}", &r);
    is_int(tiktok_partial_rejections(&r, eids, 4, rej, msgs), -1, "naming no event of ours: -1");
    tiktok_response_clear(&r);
    tiktok_classify(200, "{\"code\":0,\"data\":[{\"index\":0}]}", &r);
    ok(!r.partial && !r.details, "code 0 keeps no details");
    tiktok_response_clear(&r);
}

/* A one-shot HTTP server: accepts one connection, records the request, sends reply
 * (or nothing, after delay_ms, when reply is NULL). */
struct oneshot {
    int fd;
    int port;
    const char *reply;
    int delay_ms;
    char request[16384];
};

static void *oneshot_run(void *arg)
{
    struct oneshot *s = arg;
    struct timeval tv = {5, 0};
    size_t got = 0;
    int c = accept(s->fd, NULL, NULL);

    if (c < 0)
        return NULL;
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* Reads until the body announced by Content-Length is complete (bounded by size). */
    while (got + 1 < sizeof s->request) {
        ssize_t n = recv(c, s->request + got, sizeof s->request - 1 - got, 0);
        char *hdr_end, *cl;
        if (n <= 0)
            break;
        got += (size_t)n;
        s->request[got] = '\0';
        hdr_end = strstr(s->request, "\r\n\r\n");
        cl = strcasestr(s->request, "Content-Length:");
        if (hdr_end && cl && got >= (size_t)(hdr_end + 4 - s->request) + strtoul(cl + 15, NULL, 10))
            break;
    }
    if (s->reply)
        send(c, s->reply, strlen(s->reply), MSG_NOSIGNAL);
    else
        usleep((useconds_t)s->delay_ms * 1000);
    close(c);
    return NULL;
}

static int oneshot_start(struct oneshot *s, pthread_t *th)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;

    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 1) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(th, NULL, oneshot_run, s);
}

static void test_post_request_and_reply(void)
{
    static struct oneshot s;
    struct tiktok_response r;
    pthread_t th;
    char base[64];
    const char *body = "{\"event_source\":\"web\",\"data\":[]}";

    memset(&s, 0, sizeof s);
    s.reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n"
        "Connection: close\r\n\r\n{\"code\":0,\"message\":\"OK\",\"request_id\":\"r-1\",\"d\":1}";
    if (oneshot_start(&s, &th) != 0) {
        ok(0, "one-shot server started");
        return;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", s.port);
    tiktok_post(base, "tok-secret-1", body, 5000, &r);
    pthread_join(th, NULL);
    close(s.fd);
    ok(strncmp(s.request, "POST /open_api/v1.3/event/track/ HTTP/1.1\r\n", 43) == 0,
       "POST to /open_api/v1.3/event/track/ (trailing slash of api_base folded)");
    ok(strstr(s.request, "\r\nAccess-Token: tok-secret-1\r\n") != NULL, "Access-Token header");
    ok(strstr(s.request, "\r\nContent-Type: application/json\r\n") != NULL, "Content-Type header");
    ok(strstr(s.request, "Bearer") == NULL, "no Bearer prefix anywhere");
    ok(strstr(s.request, "\r\n\r\n") && strcmp(strstr(s.request, "\r\n\r\n") + 4, body) == 0,
       "body sent verbatim");
    is_int(r.outcome, TT_SENT, "200 code 0 is sent");
    is_int(r.http_status, 200, "status recorded");
    is_str(r.request_id, "r-1", "request_id recorded");
    ok(strstr(r.message, "tok-secret") == NULL, "token not in the message");
}

static void test_post_retry_after(void)
{
    static struct oneshot s;
    struct tiktok_response r;
    pthread_t th;
    char base[64];

    memset(&s, 0, sizeof s);
    s.reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n";
    if (oneshot_start(&s, &th) != 0) {
        ok(0, "one-shot server started");
        return;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    tiktok_post(base, "tok", "{}", 5000, &r);
    pthread_join(th, NULL);
    close(s.fd);
    is_int(r.outcome, TT_RETRY, "429 is retried");
    is_int(r.http_status, 429, "429 recorded");
    is_int(r.retry_after_s, 17, "Retry-After captured");
}

static void test_post_timeout_and_refused(void)
{
    static struct oneshot s;
    struct tiktok_response r;
    pthread_t th;
    char base[64];
    int port;

    memset(&s, 0, sizeof s);
    s.delay_ms = 800;
    if (oneshot_start(&s, &th) != 0) {
        ok(0, "one-shot server started");
        return;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    tiktok_post(base, "tok", "{}", 300, &r);
    pthread_join(th, NULL);
    port = s.port;
    close(s.fd);
    is_int(r.outcome, TT_RETRY, "a timeout is retried");
    is_int(r.http_status, 0, "no status on timeout");
    ok(r.message[0] != '\0', "curl's message kept: %s", r.message);

    /* The listener is closed now, so the same port refuses connections. */
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    tiktok_post(base, "tok", "{}", 2000, &r);
    is_int(r.outcome, TT_RETRY, "connection refused is retried");
    is_int(r.http_status, 0, "no status when refused");

    tiktok_post(base, "tok\r\nX-Evil: 1", "{}", 2000, &r);
    is_int(r.outcome, TT_AUTH, "a token with a line break is refused before sending");
    tiktok_post(base, "", "{}", 2000, &r);
    is_int(r.outcome, TT_AUTH, "an empty token is an auth problem");
}

int main(void)
{
    test_event_order();
    test_event_call_minimal();
    test_value_forms();
    test_batch_body();
    test_classify();
    test_partial_rejections();
    test_post_request_and_reply();
    test_post_retry_after();
    test_post_timeout_and_refused();
    return tap_done();
}
