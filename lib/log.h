/* Logging in logfmt (ts=… level=… msg=… key=value) to stderr.
 * Callers pass already-safe values: never a secret, token or raw email/phone.
 * When stderr is the journal (JOURNAL_STREAM names it), each line starts with the
 * sd-daemon priority prefix <N>, so the journal keeps the level. */
#ifndef TTR_LOG_H
#define TTR_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level level);
/* Adds instance=<id> to every line from now on (once; set where several instances share a
 * store, before the threads that log start). */
void log_set_instance(const char *id);
int log_parse_level(const char *name, enum log_level *out);

/* fmt holds the key=value pairs after msg, e.g. log_info("webhook accepted", "source=%s", id).
 * String values with spaces or quotes should be passed through log_quote(). */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_LVL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_LVL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_LVL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_LVL_ERROR, msg, __VA_ARGS__)

/* Like log_msg, for what anyone can repeat (refused requests): at most one line per key
 * every 10 s; the next line of that key says how many were left out (suppressed=N), and
 * at most LOG_LIMIT_KEYS lines per msg every 10 s whatever the keys, the rest counted in
 * suppressed_other=N. Only the log is limited: callers count every event themselves. */
#define LOG_LIMIT_KEYS 20
void log_limited(enum log_level level, const char *key, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The window of log_limited, for tests (default 10000 ms). */
void log_set_limit_window_ms(long ms);

/* Writes value as a logfmt value (quoted and escaped when needed) into buf; returns buf. */
const char *log_quote(const char *value, char *buf, unsigned long size);

#endif
