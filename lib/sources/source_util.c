/* Helpers the webhook sources share; each source keeps only what its sender does differently. */
#include "source_util.h"

#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "json_text.h"
#include "money.h"
#include "timeparse.h"
#include "utf8.h"

void source_util_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    /* A reason quoting the sender's text ("%.40s") is answered in JSON: cut it whole. */
    utf8_trim_partial(why);
}

const char *source_util_header_raw(const struct webhook_request *req, const char *name)
{
    return req->header ? req->header(req->ctx, name) : NULL;
}

const char *source_util_header(const struct webhook_request *req, const char *name)
{
    const char *v = source_util_header_raw(req, name);

    return v && *v ? v : NULL;
}

const char *source_util_content_type(const struct webhook_request *req)
{
    return req->content_type ? req->content_type : source_util_header_raw(req, "Content-Type");
}

int source_util_media_is(const char *content_type, const char *type, enum source_media_match match)
{
    size_t n = strlen(type);

    if (!content_type)
        return 0;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    if (strncasecmp(content_type, type, n) != 0)
        return 0;
    content_type += n;
    if (match == SOURCE_MEDIA_LOOSE && (*content_type == ' ' || *content_type == '\t'))
        return 1;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    return *content_type == '\0' || *content_type == ';';
}

/* The body's tree is a few hundred small blocks, allocated and freed within one request:
 * each listener thread bumps them out of its own arena instead (malloc and free were a
 * sixth of the parse). Only json_loadb here allocates from it; anything else jansson
 * allocates, in any thread, is plain malloc. The arena starts over once every block from
 * it is freed, so a tree kept longer than its request is safe, only slower. */
#define BODY_ARENA_SIZE (256 * 1024)

/* Sanitizer and fuzz builds keep plain malloc, so that every block stays a heap object of
 * its own for AddressSanitizer. */
#if defined(__SANITIZE_ADDRESS__) || defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#define BODY_ARENA_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BODY_ARENA_OFF 1
#endif
#endif

struct body_arena {
    char *base;
    size_t used;
    size_t live; /* blocks handed out and not yet freed */
    int active;  /* inside json_loadb */
};

static __thread struct body_arena body_arena;
static pthread_once_t body_arena_once = PTHREAD_ONCE_INIT;
#ifndef BODY_ARENA_OFF
static pthread_key_t body_arena_key;
#endif

#ifndef BODY_ARENA_OFF
static void *body_arena_malloc(size_t n)
{
    struct body_arena *a = &body_arena;

    n = (n + 15) & ~(size_t)15;
    if (!a->active || !a->base || n > BODY_ARENA_SIZE - a->used)
        return malloc(n);
    a->used += n;
    a->live++;
    return a->base + a->used - n;
}

static void body_arena_free(void *p)
{
    struct body_arena *a = &body_arena;

    if (!a->base || (char *)p < a->base || (char *)p >= a->base + BODY_ARENA_SIZE) {
        free(p);
        return;
    }
    if (--a->live == 0)
        a->used = 0;
}


/* At thread exit; a block still out keeps the arena (a leak rather than a reuse). */
static void body_arena_release(void *base)
{
    if (body_arena.base == base && body_arena.live == 0) {
        free(base);
        body_arena.base = NULL;
    }
}

#endif

static void body_arena_install(void)
{
#ifndef BODY_ARENA_OFF
    if (pthread_key_create(&body_arena_key, body_arena_release) == 0)
        json_set_alloc_funcs(body_arena_malloc, body_arena_free);
#endif
}

json_t *source_util_load_object(const struct webhook_request *req, char *why, size_t whylen)
{
    json_t *root;

    pthread_once(&body_arena_once, body_arena_install);
#ifndef BODY_ARENA_OFF
    if (!body_arena.base && (body_arena.base = malloc(BODY_ARENA_SIZE)) &&
        pthread_setspecific(body_arena_key, body_arena.base) != 0) {
        free(body_arena.base);
        body_arena.base = NULL; /* plain malloc */
    }
#endif
    body_arena.active = 1;
    /* A key sent twice means whatever the reader picks; no sender does it. */
    root = json_loadb(req->body ? req->body : "", req->len, JSON_REJECT_DUPLICATES, NULL);
    body_arena.active = 0;

    if (!json_is_object(root)) {
        source_util_why(why, whylen, "body is not a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

const char *source_util_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? s : NULL;
}

int source_util_id_text(const json_t *v, char *out, size_t size)
{
    int n;

    if (json_is_integer(v) && json_integer_value(v) > 0)
        n = snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) > 0)
        n = snprintf(out, size, "%s", json_string_value(v));
    else
        return -1;
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int source_util_id_set(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size)
        return -1;
    str_copy(dst, size, src);
    return 0;
}

/* URL-decodes [s, end) into out; a '%' without two hex digits stands for itself. -1 when
 * the result is empty, too long or holds a NUL. */
static int source_util_url_decode(const char *s, const char *end, char *out, size_t size)
{
    size_t n = 0;
    int hi, lo;

    while (s < end) {
        char c = *s++;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && end - s >= 2 && (hi = hash_hex_value((unsigned char)s[0])) >= 0 &&
                   (lo = hash_hex_value((unsigned char)s[1])) >= 0) {
            c = (char)(hi << 4 | lo);
            s += 2;
        }
        if (c == '\0' || n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

int source_util_query_param(const char *url, const char *key, char *out, size_t size)
{
    const char *q = strchr(url, '?');
    size_t klen = strlen(key);

    if (!q)
        return -1;
    q++;
    while (*q && *q != '#') {
        const char *end = q + strcspn(q, "&#");
        if ((size_t)(end - q) > klen && strncmp(q, key, klen) == 0 && q[klen] == '=')
            return source_util_url_decode(q + klen + 1, end, out, size);
        q = *end == '&' ? end + 1 : end;
    }
    return -1;
}

int source_util_is_http_url(const char *s)
{
    return s && (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0);
}

int source_util_decimal(const json_t *v, char *out, size_t size)
{
    char buf[64];

    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        char *end;
        double d = json_real_value(v);
        snprintf(buf, sizeof buf, "%.15g", d);
        if (strtod(buf, &end) != d || *end)
            return -1;
    } else if (json_is_string(v) && strlen(json_string_value(v)) < sizeof buf) {
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    } else {
        return -1;
    }
    return money_from_decimal(buf, out, size);
}

void source_util_map_total(const json_t *order, const char *total_key, struct conversion *out)
{
    const char *total = source_util_str(order, total_key);
    const char *currency = source_util_str(order, "currency");

    if (total && money_from_decimal(total, out->value, sizeof out->value) < 0)
        out->value[0] = '\0';
    if (currency && money_currency(currency, out->currency) < 0)
        out->currency[0] = '\0';
}

/* A line item's price as "price":<number>, written as jansson wrote the number it was
 * given or the number its exact decimal text reads as (15 significant digits reproduce the
 * text's value). Returns 1 when written, 0 when the price is not one. */
static int source_util_put_price(struct json_text *t, const json_t *v, int first)
{
    char canon[40], *point;

    if (json_is_integer(v)) {
        json_text_key(t, "price", first);
        json_text_int(t, json_integer_value(v));
    } else if (json_is_real(v)) {
        json_text_key(t, "price", first);
        json_text_real(t, json_real_value(v), 15);
    } else if (json_is_string(v) &&
               money_from_decimal(json_string_value(v), canon, sizeof canon) == 0) {
        json_text_key(t, "price", first);
        if (!(point = strchr(canon, '.'))) {
            json_text_put(t, canon, strlen(canon)); /* an integer, as jansson reads it */
            return 1;
        }
        /* jansson's reading of a real: strtod in the locale's decimal point. */
        *point = localeconv()->decimal_point[0];
        json_text_real(t, strtod(canon, NULL), 15);
    } else {
        return 0;
    }
    return 1;
}

/* One TikTok content from a line item, appended to t's array; nothing when nothing maps.
 * Its keys in the order the stored form has always had them. */
static void source_util_put_content(struct json_text *t, const json_t *item,
                                    const struct source_item_keys *keys)
{
    json_t *qty = json_object_get(item, "quantity");
    const char *name = NULL;
    size_t start = t->len;
    int n = 0;
    char id[160];

    if (start > 1)
        JSON_TEXT_LIT(t, ",{");
    else
        JSON_TEXT_LIT(t, "{");
    for (size_t i = 0; keys->id[i]; i++) {
        if (source_util_id_text(json_object_get(item, keys->id[i]), id, sizeof id) == 0) {
            json_text_key(t, "content_id", n++ == 0);
            json_text_string(t, id);
            break;
        }
    }
    for (size_t i = 0; keys->name[i] && !name; i++)
        name = source_util_str(item, keys->name[i]);
    if (name) {
        json_text_key(t, "content_name", n++ == 0);
        json_text_string(t, name);
    }
    n += source_util_put_price(t, json_object_get(item, "price"), n == 0);
    if (json_is_integer(qty) && json_integer_value(qty) > 0) {
        json_text_key(t, "quantity", n++ == 0);
        json_text_int(t, json_integer_value(qty));
    }
    if (n > 0) {
        JSON_TEXT_LIT(t, "}");
    } else if (!t->failed) {
        t->len = start;
        t->buf[start] = '\0';
    }
}

char *source_util_contents(const json_t *items, const struct source_item_keys *keys)
{
    struct json_text t;
    json_t *item;
    size_t i;

    if (json_array_size(items) == 0 || json_text_init(&t, 64 + 192 * json_array_size(items)) < 0)
        return NULL;
    JSON_TEXT_LIT(&t, "[");
    json_array_foreach(items, i, item)
    {
        source_util_put_content(&t, item, keys);
    }
    if (t.len == 1) { /* no item mapped to a content */
        free(json_text_finish(&t));
        return NULL;
    }
    JSON_TEXT_LIT(&t, "]");
    return json_text_finish(&t);
}

int source_util_map_tracking(const char *key, const char *value, struct conversion *out)
{
    if (!strcmp(key, "event_id") || !strcmp(key, "ttr_event_id"))
        source_util_id_set(out->event_id, sizeof out->event_id, value);
    else if (!strcmp(key, "ttr_vid"))
        source_util_id_set(out->vid, sizeof out->vid, value);
    else if (!strcmp(key, "ttclid"))
        source_util_id_set(out->ttclid, sizeof out->ttclid, value);
    else if (!strcmp(key, "ttp") || !strcmp(key, "_ttp"))
        source_util_id_set(out->ttp, sizeof out->ttp, value);
    else if (!strcmp(key, "ttr_test"))
        out->test |= value && (!strcmp(value, "1") || !strcasecmp(value, "true"));
    else
        return 0;
    return 1;
}

void source_util_add_id_refs(struct conversion *out, const json_t *obj, const char *const *keys)
{
    char id[160];

    for (; *keys; keys++)
        if (source_util_id_text(json_object_get(obj, *keys), id, sizeof id) == 0)
            conversion_add_ref(out, id);
}

void source_util_add_guessable_id_refs(struct conversion *out, const json_t *obj,
                                       const char *const *keys)
{
    char id[160];

    for (; *keys; keys++)
        if (source_util_id_text(json_object_get(obj, *keys), id, sizeof id) == 0)
            conversion_add_guessable_ref(out, id);
}

int source_util_booking_id(const json_t *payload, const char *key, struct conversion *out,
                           char *why, size_t whylen)
{
    const char *id = source_util_str(payload, key);

    if (source_util_id_set(out->object_id, sizeof out->object_id, id) < 0) {
        source_util_why(why, whylen, "payload.%s missing or too long", key);
        return -1;
    }
    out->kind = KIND_CALL;
    conversion_add_ref(out, out->object_id);
    return 0;
}

long long source_util_event_time(const json_t *obj, const char *const *keys, long long fallback)
{
    long long t;

    for (; *keys; keys++)
        if (time_parse_iso8601(source_util_str(obj, *keys), &t) == 0)
            return t;
    return fallback;
}
