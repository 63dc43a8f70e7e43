/* logfmt lines on stderr. Each line is formatted into one buffer and written with a
 * single fprintf so that concurrent threads never interleave within a line. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static enum log_level log_threshold = LOG_LVL_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    if (level >= LOG_LVL_DEBUG && level <= LOG_LVL_ERROR)
        log_threshold = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
    if (!name)
        return -1;
    for (int i = 0; i <= LOG_LVL_ERROR; i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = LOG_LVL_WARN;
        return 0;
    }
    return -1;
}

static int log_needs_quotes(const char *v)
{
    if (*v == '\0')
        return 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return 1;
    }
    return 0;
}

/* Appends s to buf at *pos; truncates silently when full (buf stays NUL-terminated). */
static void log_append(char *buf, unsigned long size, unsigned long *pos, const char *s)
{
    while (*s && *pos + 1 < size)
        buf[(*pos)++] = *s++;
    buf[*pos] = '\0';
}

static const char *log_quote_into(const char *value, char *buf, unsigned long size, int force)
{
    unsigned long pos = 0;

    if (!buf || size == 0)
        return "";
    buf[0] = '\0';
    if (!value)
        value = "";
    if (!force && !log_needs_quotes(value)) {
        log_append(buf, size, &pos, value);
        utf8_trim_partial(buf); /* a cut value ends between characters */
        return buf;
    }
    /* Reserve room for the closing quote so the result is always well formed. */
    if (size < 3)
        return buf;
    log_append(buf, size - 1, &pos, "\"");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\')
            snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else {
            esc[0] = (char)*p;
            esc[1] = '\0';
        }
        /* An escape sequence is written whole or not at all. */
        if (pos + strlen(esc) + 1 >= size - 1)
            break;
        log_append(buf, size - 1, &pos, esc);
    }
    utf8_trim_partial(buf);
    pos = strlen(buf);
    buf[pos++] = '"';
    buf[pos] = '\0';
    return buf;
}

const char *log_quote(const char *value, char *buf, unsigned long size)
{
    return log_quote_into(value, buf, size, 0);
}

static void log_timestamp(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    char base[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03ldZ", base, (long)(tv.tv_usec / 1000));
}

/* sd-daemon(3) priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3. */
static const char *const log_journal_prefix[] = {"<7>", "<6>", "<4>", "<3>"};
static pthread_once_t log_journal_once = PTHREAD_ONCE_INIT;
static int log_to_journal;

/* JOURNAL_STREAM is "<dev>:<inode>" of the journal's stream; it counts only when it is
 * still our stderr (a child whose stderr was redirected inherits the variable). */
static void log_journal_detect(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
        log_to_journal =
            (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* " instance=<id>" on every line once set (several instances share one store), else NULL. */
static const char *log_instance_field;

void log_set_instance(const char *id)
{
    static char field[128];
    const char *value = NULL;

    if (id && *id && !__atomic_load_n(&log_instance_field, __ATOMIC_ACQUIRE)) {
        char q[110];
        snprintf(field, sizeof field, " instance=%s", log_quote_into(id, q, sizeof q, 0));
        value = field;
    }
    if (value)
        __atomic_store_n(&log_instance_field, value, __ATOMIC_RELEASE);
}

static void log_vwrite(enum log_level level, const char *msg, const char *extra, const char *fmt,
                       va_list ap)
{
    char ts[40], qmsg[512], kv[4096];

    pthread_once(&log_journal_once, log_journal_detect);
    log_timestamp(ts, sizeof ts);
    /* The message is always quoted so that readers can rely on msg="…". */
    log_quote_into(msg, qmsg, sizeof qmsg, 1);
    kv[0] = '\0';
    if (fmt && *fmt)
        vsnprintf(kv, sizeof kv, fmt, ap);
    const char *instance = __atomic_load_n(&log_instance_field, __ATOMIC_ACQUIRE);
    fprintf(stderr, "%sts=%s level=%s msg=%s%s%s%s%s\n",
            log_to_journal ? log_journal_prefix[level] : "", ts, log_level_names[level], qmsg,
            kv[0] ? " " : "", kv, extra ? extra : "", instance ? instance : "");
}

void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;

    if (level < log_threshold || level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
        return;
    va_start(ap, fmt);
    log_vwrite(level, msg, NULL, fmt, ap);
    va_end(ap);
    /* Callers may log between a failing call and their own use of errno. */
    errno = saved_errno;
}

/* ---- rate-limited lines ---- */

#define LOG_LIMIT_SLOTS 1024 /* keys remembered; a collision only costs an extra line */
#define LOG_LIMIT_MSGS 32

struct log_limit_slot {
    uint64_t hash;
    long long last_ms;
    unsigned long suppressed;
};

struct log_limit_msg {
    const char *msg; /* the caller's literal: compared by address */
    long long window_ms;
    int lines;
    unsigned long suppressed;
};

static pthread_mutex_t log_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_limit_slot log_limit_slots[LOG_LIMIT_SLOTS];
static struct log_limit_msg log_limit_msgs[LOG_LIMIT_MSGS];
static long log_limit_window_ms = 10000;

void log_set_limit_window_ms(long ms)
{
    pthread_mutex_lock(&log_limit_lock);
    log_limit_window_ms = ms;
    memset(log_limit_slots, 0, sizeof log_limit_slots);
    memset(log_limit_msgs, 0, sizeof log_limit_msgs);
    pthread_mutex_unlock(&log_limit_lock);
}

static uint64_t log_hash(const char *msg, const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = key ? key : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h | 1; /* 0 marks a free slot */
}

static struct log_limit_msg *log_limit_msg_of(const char *msg)
{
    for (int i = 0; i < LOG_LIMIT_MSGS; i++)
        if (log_limit_msgs[i].msg == msg || !log_limit_msgs[i].msg) {
            log_limit_msgs[i].msg = msg;
            return &log_limit_msgs[i];
        }
    return &log_limit_msgs[LOG_LIMIT_MSGS - 1];
}

/* Decides under the lock whether this line is written; extra gets the counts to append. */
static int log_limit_pass(const char *key, const char *msg, char *extra, size_t n)
{
    struct timespec now;
    long long ms;
    uint64_t h = log_hash(msg, key);
    struct log_limit_slot *s = &log_limit_slots[h % LOG_LIMIT_SLOTS];
    struct log_limit_msg *m;
    int pass = 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    extra[0] = '\0';
    pthread_mutex_lock(&log_limit_lock);
    m = log_limit_msg_of(msg);
    if (ms - m->window_ms >= log_limit_window_ms) {
        m->window_ms = ms;
        m->lines = 0;
    }
    if (s->hash == h && ms - s->last_ms < log_limit_window_ms) {
        s->suppressed++;
    } else if (m->lines >= LOG_LIMIT_KEYS) {
        m->suppressed++;
    } else {
        int k = 0;
        if (s->hash == h && s->suppressed)
            k = snprintf(extra, n, " suppressed=%lu", s->suppressed);
        if (m->suppressed && k >= 0 && (size_t)k < n)
            snprintf(extra + k, n - (size_t)k, " suppressed_other=%lu", m->suppressed);
        s->hash = h;
        s->last_ms = ms;
        s->suppressed = 0;
        m->suppressed = 0;
        m->lines++;
        pass = 1;
    }
    pthread_mutex_unlock(&log_limit_lock);
    return pass;
}

void log_limited(enum log_level level, const char *key, const char *msg, const char *fmt, ...)
{
    char extra[96];
    va_list ap;
    int saved_errno = errno;

    if (level < log_threshold || level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
        return;
    if (log_limit_pass(key, msg, extra, sizeof extra)) {
        va_start(ap, fmt);
        log_vwrite(level, msg, extra, fmt, ap);
        va_end(ap);
    }
    errno = saved_errno;
}
