/* The files of a production installation, written so that the shipped unit can read
 * them: the configuration 0644 without secrets, each secret 0600 for LoadCredential=. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "netaddr.h"
#include "setup.h"
#include "sources/source.h"

static const struct {
    const char *type;
    int sender_makes_secret;
    const char *hint;
} senders[] = {
    {"shopify", 1,
     "Shopify admin > Settings > Notifications > Webhooks > Create webhook: event \"Order "
     "payment\", format JSON, this URL. Shopify signs with the key shown under the list "
     "(base64 HMAC of the exact body)."},
    {"woocommerce", 0,
     "WooCommerce > Settings > Advanced > Webhooks > Add webhook: topic \"Order updated\", "
     "delivery URL and secret below, API version 3."},
    {"stripe", 1,
     "Stripe Dashboard > Developers > Webhooks > Add endpoint: this URL, events "
     "checkout.session.completed and payment_intent.succeeded; its signing secret (whsec_...)."},
    {"calendly", 0,
     "Calendly API: POST /webhook_subscriptions with url = this URL, events "
     "[\"invitee.created\"] and signing_key = the secret below."},
    {"calcom", 0,
     "Cal.com > Settings > Developer > Webhooks > New: subscriber URL and secret below, "
     "trigger \"Booking created\"."},
    {"generic", 0,
     "POST JSON to this URL with \"Authorization: Bearer <secret>\" (or the "
     "X-Ttrelay-Signature HMAC); see the README's generic source section."},
};

static int find_sender(const char *type)
{
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
        if (strcmp(senders[i].type, type) == 0)
            return (int)i;
    return -1;
}

const char *setup_source_hint(const char *type)
{
    int i = find_sender(type);
    return i < 0 ? "" : senders[i].hint;
}

int setup_sender_makes_secret(const char *type)
{
    int i = find_sender(type);
    return i >= 0 && senders[i].sender_makes_secret;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int setup_parse_source(const char *arg, struct setup_source *src, char *err, size_t errlen)
{
    char buf[160];
    char *id, *kind;

    memset(src, 0, sizeof *src);
    if (strlen(arg) >= sizeof buf) {
        fail(err, errlen, "%s: too long", arg);
        return -1;
    }
    strcpy(buf, arg);
    if ((id = strchr(buf, ':')))
        *id++ = '\0';
    if (id && (kind = strchr(id, ':')))
        *kind++ = '\0';
    else
        kind = NULL;
    if (find_sender(buf) < 0) {
        fail(err, errlen,
             "%s: the type must be shopify, woocommerce, stripe, calendly, calcom or generic", arg);
        return -1;
    }
    STR_SET(src->type, buf);
    STR_SET(src->id, id && *id ? id : buf);
    if (!valid_name(src->id) || strlen(src->id) >= 48) {
        fail(err, errlen, "%s: a source id is letters, digits, - _ . (at most 47)", arg);
        return -1;
    }
    if (kind) {
        enum conversion_kind k;
        if (conversion_kind_parse(kind, &k) < 0) {
            fail(err, errlen, "%s: the kind must be order, call or lead", arg);
            return -1;
        }
        STR_SET(src->kind, kind);
    }
    return 0;
}

/* Reads a one-line secret from path into buf (trailing newline dropped). */
static int read_secret(const char *path, char *buf, size_t size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n == 0 || strchr(buf, '\n')) {
        fail(err, errlen, "%s must hold the secret on one line", path);
        return -1;
    }
    return 0;
}

static int random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    if (bytes > sizeof raw || getrandom(raw, bytes, 0) != (ssize_t)bytes)
        return -1;
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    explicit_bzero(raw, sizeof raw);
    return 0;
}

/* Creates path with mode exactly (umask aside); an existing file only with force. */
static int write_file(const char *path, const char *text, mode_t mode, int force, char *err,
                      size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
    size_t len = strlen(text);

    if (fd < 0) {
        fail(err, errlen, "cannot create %s: %s%s", path, strerror(errno),
             errno == EEXIST ? " (ttrelayctl init --force replaces it)" : "");
        return -1;
    }
    if (fchmod(fd, mode) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return close(fd);
}

/* mkdir -p, 0755 (the unit's ConfigurationDirectoryMode). */
static int make_dir(const char *path, char *err, size_t errlen)
{
    char buf[1024];

    str_copy(buf, sizeof buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            fail(err, errlen, "cannot create %s: %s", buf, strerror(errno));
            return -1;
        }
        if (!(*p = c))
            return 0;
    }
}

/* Without --force nothing is overwritten: a secret already pasted into a sender stays. */
static int refuse_existing(const struct setup *s, char *err, size_t errlen)
{
    char path[1200];

    if (s->force)
        return 0;
    for (int i = -3; i < s->nsources; i++) {
        if (i == -3)
            snprintf(path, sizeof path, "%s", s->conf_path);
        else if (i == -2)
            snprintf(path, sizeof path, "%s/admin_token", s->dir);
        else if (i == -1)
            snprintf(path, sizeof path, "%s", s->dropin_path);
        else
            snprintf(path, sizeof path, "%s/%s_secret", s->dir, s->sources[i].id);
        if (access(path, F_OK) == 0) {
            fail(err, errlen, "%s exists; ttrelayctl init --force replaces it and every secret",
                 path);
            return -1;
        }
    }
    return 0;
}

/* Everything that can be refused is refused before the first file is written. */
static int setup_check(struct setup *s, char *err, size_t errlen)
{
    char norm[256], reason[300];

    if (!s->pixel || !valid_name(s->pixel)) {
        fail(err, errlen, "--pixel CODE is required (the pixel code from TikTok Events Manager)");
        return -1;
    }
    if (!s->dry_run && !s->token_file) {
        fail(err, errlen,
             "--access-token-file FILE (the pixel's Events API token) is required, or --dry-run "
             "to record events without sending them");
        return -1;
    }
    if (s->nsources < 1) {
        fail(err, errlen, "name at least one source, e.g. shopify or generic:crm:call");
        return -1;
    }
    for (int i = 0; i < s->norigins; i++)
        if (netaddr_normalize_origin(s->origins[i], norm, sizeof norm, reason, sizeof reason) < 0) {
            fail(err, errlen, "--origin %s", reason);
            return -1;
        }
    for (int i = 0; i < s->nsources; i++) {
        struct setup_source *src = &s->sources[i];
        for (int j = 0; j < i; j++)
            if (strcmp(s->sources[j].id, src->id) == 0) {
                fail(err, errlen, "source id %s is named twice; give one an id: %s:%s2", src->id,
                     src->type, src->id);
                return -1;
            }
        if (setup_sender_makes_secret(src->type) && !src->secret_file) {
            fail(err, errlen,
                 "source %s: %s makes the signing secret itself; save it to a file and pass "
                 "--secret %s=FILE",
                 src->id, src->type, src->id);
            return -1;
        }
    }
    snprintf(s->conf_path, sizeof s->conf_path, "%s/ttrelay.conf", s->dir);
    snprintf(s->dropin_path, sizeof s->dropin_path, "%s/ttrelayd.service.d/credentials.conf",
             s->unit_dir);
    return refuse_existing(s, err, errlen);
}

/* Writes one credential: the content of from (a file), or value. */
static int write_credential(const struct setup *s, const char *name, const char *from,
                            const char *value, char *path, size_t pathlen, char *err, size_t errlen)
{
    char buf[4096];
    int rc;

    if (from) {
        if (read_secret(from, buf, sizeof buf - 1, err, errlen) < 0)
            return -1;
    } else {
        str_copy(buf, sizeof buf - 1, value);
    }
    strcat(buf, "\n");
    snprintf(path, pathlen, "%s/%s", s->dir, name);
    rc = write_file(path, buf, 0600, s->force, err, errlen);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

static void write_conf_text(FILE *f, const struct setup *s)
{
    char norm[256], reason[300];

    fprintf(f,
            "# Written by ttrelayctl init. Check it with: ttrelayd -t -c %s\n"
            "# No secret is in this file: each *_file key names a credential that systemd passes\n"
            "# to the service (LoadCredential= in %s);\n"
            "# outside the service they are read from this file's directory.\n\n",
            s->conf_path, s->dropin_path);
    fprintf(f,
            "# Public listener: put a TLS proxy (nginx, Caddy) in front of it.\n"
            "listen = { address = \"127.0.0.1\"; port = 8080; };\n"
            "admin = { address = \"127.0.0.1\"; port = 8081;\n"
            "          token_file = \"${CREDENTIALS_DIRECTORY}/admin_token\"; };\n"
            "store = { path = \"%s/ttrelay.db\"; };\n\n",
            s->state_dir);
    fprintf(f, "tiktok = {\n  default_pixel = \"%s\";\n  pixels = ( { code = \"%s\";\n", s->pixel,
            s->pixel);
    fprintf(f, "      %saccess_token_file = \"${CREDENTIALS_DIRECTORY}/tiktok_token\";\n    } );\n",
            s->token_file ? "" : "# ");
    fprintf(f, "  dry_run = %s;%s\n};\n\n", s->dry_run ? "true" : "false",
            s->dry_run ? "  # going live: see the output of ttrelayctl init" : "");
    fprintf(f, "collect = {\n  allowed_origins = (");
    for (int i = 0; i < s->norigins; i++) {
        netaddr_normalize_origin(s->origins[i], norm, sizeof norm, reason, sizeof reason);
        fprintf(f, "%s \"%s\"", i ? "," : "", norm);
    }
    fprintf(f, " );   # the shop's origins, scheme://host[:port]\n"
               "  trusted_proxies = ( \"127.0.0.1\", \"::1\" );   # the TLS proxy; CIDR ranges "
               "allowed\n};\n\nsources = (\n");
    for (int i = 0; i < s->nsources; i++) {
        const struct setup_source *src = &s->sources[i];
        fprintf(f, "  { id = \"%s\"; type = \"%s\"; ", src->id, src->type);
        if (src->kind[0])
            fprintf(f, "kind = \"%s\"; ", src->kind);
        fprintf(f, "secret_file = \"${CREDENTIALS_DIRECTORY}/%s_secret\"; }%s\n", src->id,
                i + 1 < s->nsources ? "," : "");
    }
    fprintf(f, ");\n");
}

static void write_dropin_text(FILE *f, const struct setup *s)
{
    fprintf(f,
            "# Written by ttrelayctl init: the credentials %s names.\n"
            "[Service]\nLoadCredential=admin_token:%s/admin_token\n",
            s->conf_path, s->dir);
    fprintf(f, "%sLoadCredential=tiktok_token:%s/tiktok_token\n", s->token_file ? "" : "#", s->dir);
    for (int i = 0; i < s->nsources; i++)
        fprintf(f, "LoadCredential=%s_secret:%s\n", s->sources[i].id, s->sources[i].secret_path);
}

/* text is new (caller frees) or NULL. */
static char *render(void (*fn)(FILE *, const struct setup *), const struct setup *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fn(f, s);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int setup_write(struct setup *s, char *err, size_t errlen)
{
    char path[1024], token[80], name[80], *conf = NULL, *dropin = NULL;
    int rc = -1;

    if (setup_check(s, err, errlen) < 0 || make_dir(s->dir, err, errlen) < 0)
        goto out;
    if (random_hex(token, 32) < 0 ||
        write_credential(s, "admin_token", NULL, token, path, sizeof path, err, errlen) < 0)
        goto out;
    if (s->token_file && write_credential(s, "tiktok_token", s->token_file, NULL, path, sizeof path,
                                          err, errlen) < 0)
        goto out;
    for (int i = 0; i < s->nsources; i++) {
        struct setup_source *src = &s->sources[i];
        src->secret[0] = '\0';
        if (!src->secret_file && random_hex(src->secret, 24) < 0)
            goto out;
        snprintf(name, sizeof name, "%s_secret", src->id);
        if (write_credential(s, name, src->secret_file, src->secret, src->secret_path,
                             sizeof src->secret_path, err, errlen) < 0)
            goto out;
    }
    if (!(conf = render(write_conf_text, s)) || !(dropin = render(write_dropin_text, s))) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    if (write_file(s->conf_path, conf, 0644, s->force, err, errlen) < 0)
        goto out;
    snprintf(path, sizeof path, "%s/ttrelayd.service.d", s->unit_dir);
    if (make_dir(path, err, errlen) < 0 ||
        write_file(s->dropin_path, dropin, 0644, s->force, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    explicit_bzero(token, sizeof token);
    free(conf);
    free(dropin);
    return rc;
}
