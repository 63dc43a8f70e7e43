/* Logging in logfmt (ts=… level=… msg=… key=value) to stderr.
 * Callers pass already-safe values: never a secret, token or raw email/phone. */
#ifndef TTR_LOG_H
#define TTR_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);

/* fmt holds the key=value pairs after msg, e.g. log_info("webhook accepted", "source=%s", id).
 * String values with spaces or quotes should be passed through log_quote(). */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_LVL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_LVL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_LVL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_LVL_ERROR, msg, __VA_ARGS__)

/* Writes value as a logfmt value (quoted and escaped when needed) into buf; returns buf. */
const char *log_quote(const char *value, char *buf, unsigned long size);

#endif
