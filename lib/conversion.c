/* Conversion helpers and the JSON form kept in the store. */
#include "conversion.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

static const struct conversion_field conversion_fields[] = {
    CONV_FIELD(source_id),  CONV_FIELD(object_id),  CONV_FIELD(delivery_id),
    CONV_FIELD(order_id),   CONV_FIELD(event_id),   CONV_FIELD(vid),
    CONV_FIELD(email_hash), CONV_FIELD(phone_hash), CONV_FIELD(external_id_hash),
    CONV_FIELD(value),      CONV_FIELD(currency),   CONV_FIELD(ttclid),
    CONV_FIELD(ttp),        CONV_FIELD(ip),         CONV_FIELD(user_agent),
    CONV_FIELD(url),        CONV_FIELD(referrer),   CONV_FIELD(page_ref),
    CONV_FIELD(value_note),
};

/* jansson writes reals with %.17g (9.2 -> 9.1999999999999993); 15 significant digits give
 * back the decimal a sender wrote for every price it can express. */
#define CONV_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#define CONV_NFIELDS (sizeof conversion_fields / sizeof conversion_fields[0])

/* Returns new JSON text, or NULL on allocation failure. */
char *conversion_to_json(const struct conversion *c)
{
    json_t *root = NULL, *refs = NULL, *contents = NULL;
    char *text = NULL;

    if (!c)
        return NULL;
    root = json_object();
    refs = json_array();
    if (!root || !refs)
        goto out;
    for (size_t i = 0; i < CONV_NFIELDS; i++) {
        const char *v = (const char *)c + conversion_fields[i].offset;
        if (json_object_set_new(root, conversion_fields[i].name, json_string(v)) != 0)
            goto out;
    }
    if (json_object_set_new(root, "kind", json_string(conversion_kind_name(c->kind))) != 0)
        goto out;
    for (int i = 0; i < c->nrefs && i < CONV_MAX_REFS; i++) {
        if (json_array_append_new(refs, json_string(c->refs[i])) != 0)
            goto out;
    }
    if (json_object_set_new(root, "refs", refs) != 0) {
        refs = NULL;
        goto out;
    }
    refs = NULL;
    if (c->contents_json) {
        contents = json_loads(c->contents_json, JSON_DECODE_ANY, NULL);
        if (!json_is_array(contents)) {
            json_decref(contents);
            contents = json_null();
        }
    } else {
        contents = json_null();
    }
    if (json_object_set_new(root, "contents", contents) != 0)
        goto out;
    if (json_object_set_new(root, "event_time", json_integer(c->event_time)) != 0 ||
        json_object_set_new(root, "guessable_refs", json_integer(c->guessable_refs)) != 0 ||
        json_object_set_new(root, "test", json_boolean(c->test)) != 0 ||
        json_object_set_new(root, "renewal", json_boolean(c->renewal)) != 0 ||
        json_object_set_new(root, "opted_out", json_boolean(c->opted_out)) != 0)
        goto out;
    text = json_dumps(root, CONV_JSON_FLAGS | JSON_SORT_KEYS);
out:
    json_decref(refs);
    json_decref(root);
    return text;
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
