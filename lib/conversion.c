/* Conversion helpers and the JSON form kept in the store. */
#include "conversion.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "utf8.h"

static const char *const conversion_kind_names[KIND_COUNT] = {"order", "call", "lead"};

const char *conversion_kind_name(enum conversion_kind kind)
{
    if ((int)kind < 0 || kind >= KIND_COUNT)
        return "unknown";
    return conversion_kind_names[kind];
}

int conversion_kind_parse(const char *name, enum conversion_kind *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < KIND_COUNT; i++) {
        if (strcmp(name, conversion_kind_names[i]) == 0) {
            *out = (enum conversion_kind)i;
            return 0;
        }
    }
    return -1;
}

void str_copy(char *dst, size_t size, const char *src)
{
    size_t n;

    if (!dst || size == 0)
        return;
    if (!src) {
        dst[0] = '\0';
        return;
    }
    n = strnlen(src, size - 1);
    if (src[n] != '\0')
        n = utf8_boundary(src, n); /* cut: never inside a character */
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void conversion_clear(struct conversion *c)
{
    if (!c)
        return;
    free(c->contents_json);
    memset(c, 0, sizeof *c);
}

int conversion_ref_index(const struct conversion *c, const char *ref)
{
    for (int i = 0; ref && i < c->nrefs; i++)
        if (strcmp(c->refs[i], ref) == 0)
            return i;
    return -1;
}

static void conversion_put_ref(struct conversion *c, const char *ref, int guessable)
{
    if (!c || !ref || !*ref)
        return;
    int i = conversion_ref_index(c, ref);
    if (i >= 0) {
        if (!guessable)
            c->guessable_refs &= ~(1u << i);
        return;
    }
    /* A reference longer than a slot would be truncated and could then match a different
     * order, so it is not kept. */
    if (c->nrefs >= CONV_MAX_REFS || strlen(ref) >= sizeof c->refs[0])
        return;
    STR_SET(c->refs[c->nrefs], ref);
    if (guessable)
        c->guessable_refs |= 1u << c->nrefs;
    c->nrefs++;
}

void conversion_add_ref(struct conversion *c, const char *ref)
{
    conversion_put_ref(c, ref, 0);
}

void conversion_add_guessable_ref(struct conversion *c, const char *ref)
{
    conversion_put_ref(c, ref, 1);
}

int conversion_merge(struct conversion *into, const struct conversion *from)
{
    int changed = 0, before = into->nrefs;
    unsigned guessable = into->guessable_refs;
    struct {
        char *dst;
        size_t size;
        const char *src;
    } f[] = {
#define MERGE_FIELD(x) {into->x, sizeof into->x, from->x}
        MERGE_FIELD(page_ref),   MERGE_FIELD(event_id),         MERGE_FIELD(vid),
        MERGE_FIELD(email_hash), MERGE_FIELD(phone_hash),       MERGE_FIELD(external_id_hash),
        MERGE_FIELD(ttclid),     MERGE_FIELD(ttp),              MERGE_FIELD(ip),
        MERGE_FIELD(user_agent), MERGE_FIELD(url),              MERGE_FIELD(referrer),
#undef MERGE_FIELD
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!f[i].dst[0] && f[i].src[0]) {
            str_copy(f[i].dst, f[i].size, f[i].src);
            changed = 1;
        }
    for (int i = 0; i < from->nrefs; i++)
        conversion_put_ref(into, from->refs[i], (from->guessable_refs >> i) & 1);
    return changed || into->nrefs != before || into->guessable_refs != guessable;
}

/* The string fields, by name, as offsets into struct conversion: one table drives both
 * directions so a field cannot be written and forgotten on read. */
struct conversion_field {
    const char *name;
    size_t offset;
    size_t size;
};

#define CONV_FIELD(f)                                                                              \
    {                                                                                              \
#f, offsetof(struct conversion, f), sizeof(((struct conversion *)0)->f)                    \
    }

/* In byte order of the names: conversion_to_json writes them in this order, with the
 * other keys (conv_other_keys) merged in at their places. */
static const struct conversion_field conversion_fields[] = {
    CONV_FIELD(currency),
    CONV_FIELD(delivery_id),
    CONV_FIELD(email_hash),
    CONV_FIELD(event_id),
    CONV_FIELD(external_id_hash),
    CONV_FIELD(ip),
    CONV_FIELD(object_id),
    CONV_FIELD(order_id),
    CONV_FIELD(page_ref),
    CONV_FIELD(phone_hash),
    CONV_FIELD(referrer),
    CONV_FIELD(source_id),
    CONV_FIELD(ttclid),
    CONV_FIELD(ttp),
    CONV_FIELD(url),
    CONV_FIELD(user_agent),
    CONV_FIELD(value),
    CONV_FIELD(value_note),
    CONV_FIELD(vid),
};

/* jansson writes reals with %.17g (9.2 -> 9.1999999999999993); 15 significant digits give
 * back the decimal a sender wrote for every price it can express. */
#define CONV_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#define CONV_NFIELDS (sizeof conversion_fields / sizeof conversion_fields[0])

/* The stored form is written straight to text (json_text.h), byte for byte what jansson's
 * json_dumps with JSON_SORT_KEYS gave for it: building a tree, re-parsing contents and
 * sorting keys cost more than parsing the webhook. */

static void conv_text_refs(struct json_text *t, const struct conversion *c)
{
    JSON_TEXT_LIT(t, "[");
    for (int i = 0; i < c->nrefs && i < CONV_MAX_REFS; i++) {
        if (i)
            JSON_TEXT_LIT(t, ",");
        json_text_string(t, c->refs[i]);
    }
    JSON_TEXT_LIT(t, "]");
}

/* The keys that are not string fields, in byte order. */
static const char *const conv_other_keys[] = {"contents",  "event_time", "guessable_refs", "kind",
                                              "opted_out", "refs",       "renewal",        "test"};

static void conv_text_other(struct json_text *t, const struct conversion *c, size_t i)
{
    switch (i) {
    case 0: /* our own json_dumps of an array: it goes in as it is */
        if (c->contents_json && c->contents_json[0] == '[')
            json_text_put(t, c->contents_json, strlen(c->contents_json));
        else
            JSON_TEXT_LIT(t, "null");
        break;
    case 1: json_text_int(t, c->event_time); break;
    case 2: json_text_int(t, c->guessable_refs); break;
    case 3: json_text_string(t, conversion_kind_name(c->kind)); break;
    case 4: json_text_bool(t, c->opted_out); break;
    case 5: conv_text_refs(t, c); break;
    case 6: json_text_bool(t, c->renewal); break;
    default: json_text_bool(t, c->test); break;
    }
}

/* Returns new JSON text, or NULL on allocation failure or a field that is not UTF-8. */
char *conversion_to_json(const struct conversion *c)
{
    const size_t nother = sizeof conv_other_keys / sizeof conv_other_keys[0];
    struct json_text t;
    size_t f = 0, o = 0;

    /* One allocation for the usual form: each one here can cost a malloc_consolidate. */
    if (!c || json_text_init(&t, 2048 + (c->contents_json ? strlen(c->contents_json) : 0)) < 0)
        return NULL;
    JSON_TEXT_LIT(&t, "{");
    while (f < CONV_NFIELDS || o < nother) {
        int field = o == nother ||
                    (f < CONV_NFIELDS && strcmp(conversion_fields[f].name, conv_other_keys[o]) < 0);
        json_text_key(&t, field ? conversion_fields[f].name : conv_other_keys[o], f + o == 0);
        if (field) {
            json_text_string(&t, (const char *)c + conversion_fields[f].offset);
            f++;
        } else {
            conv_text_other(&t, c, o++);
        }
    }
    JSON_TEXT_LIT(&t, "}");
    return json_text_finish(&t);
}

static int conversion_read_refs(json_t *refs, struct conversion *c)
{
    size_t i;
    json_t *ref;

    if (!refs || json_is_null(refs))
        return 0;
    if (!json_is_array(refs) || json_array_size(refs) > CONV_MAX_REFS)
        return -1;
    json_array_foreach(refs, i, ref)
    {
        if (!json_is_string(ref) || json_string_length(ref) >= sizeof c->refs[0])
            return -1;
        conversion_add_ref(c, json_string_value(ref));
    }
    return 0;
}

static int conversion_read_contents(json_t *contents, struct conversion *c)
{
    if (!contents || json_is_null(contents))
        return 0;
    if (!json_is_array(contents))
        return -1;
    c->contents_json = json_dumps(contents, CONV_JSON_FLAGS);
    return c->contents_json ? 0 : -1;
}

/* A boolean (or 0/1) flag; absent is 0. */
static int conversion_read_flag(json_t *v, int *out)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (json_is_integer(v))
        *out = json_integer_value(v) != 0;
    else
        return -1;
    return 0;
}

/* c is overwritten without being freed first (it may be uninitialised); on success it owns
 * contents_json, on failure it is left cleared. A string longer than its field is refused
 * rather than truncated: a cut id or hash would silently match something else. */
int conversion_from_json(const char *text, struct conversion *c)
{
    json_t *root = NULL, *v;
    int rc = -1;

    if (!c)
        return -1;
    memset(c, 0, sizeof *c);
    if (!text)
        goto out;
    root = json_loads(text, 0, NULL);
    if (!json_is_object(root))
        goto out;
    for (size_t i = 0; i < CONV_NFIELDS; i++) {
        v = json_object_get(root, conversion_fields[i].name);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || json_string_length(v) >= conversion_fields[i].size ||
            strlen(json_string_value(v)) != json_string_length(v))
            goto out;
        str_copy((char *)c + conversion_fields[i].offset, conversion_fields[i].size,
                 json_string_value(v));
    }
    v = json_object_get(root, "kind");
    if (!json_is_string(v) || conversion_kind_parse(json_string_value(v), &c->kind) != 0)
        goto out;
    if (conversion_read_refs(json_object_get(root, "refs"), c) != 0)
        goto out;
    v = json_object_get(root, "guessable_refs");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (1 << CONV_MAX_REFS))
            goto out;
        c->guessable_refs = (unsigned)json_integer_value(v);
    }
    v = json_object_get(root, "event_time");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            goto out;
        c->event_time = json_integer_value(v);
    }
    if (conversion_read_flag(json_object_get(root, "test"), &c->test) != 0 ||
        conversion_read_flag(json_object_get(root, "renewal"), &c->renewal) != 0 ||
        conversion_read_flag(json_object_get(root, "opted_out"), &c->opted_out) != 0)
        goto out;
    if (conversion_read_contents(json_object_get(root, "contents"), c) != 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        conversion_clear(c);
    return rc;
}
