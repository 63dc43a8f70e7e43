/* logfmt lines on stderr. Each line is formatted into one buffer and written with a
 * single fprintf so that concurrent threads never interleave within a line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

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

void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
    char ts[40], qmsg[512], kv[4096];
    va_list ap;
    int saved_errno = errno;

    if (level < log_threshold || level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
        return;
    log_timestamp(ts, sizeof ts);
    /* The message is always quoted so that readers can rely on msg="…". */
    log_quote_into(msg, qmsg, sizeof qmsg, 1);
    kv[0] = '\0';
    if (fmt && *fmt) {
        va_start(ap, fmt);
        vsnprintf(kv, sizeof kv, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "ts=%s level=%s msg=%s%s%s\n", ts, log_level_names[level], qmsg,
            kv[0] ? " " : "", kv);
    /* Callers may log between a failing call and their own use of errno. */
    errno = saved_errno;
}
