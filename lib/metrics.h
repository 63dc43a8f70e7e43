/* Process-wide counters and histograms, rendered in the Prometheus text format.
 * All functions are thread-safe; label values must be short, known strings. */
#ifndef TTR_METRICS_H
#define TTR_METRICS_H

/* ttrelay_webhooks_total{source,result}; result: accepted|duplicate|ignored|ping|
 * unauthorized|bad_request|unsupported_media|too_large|unavailable|not_found */
void metrics_webhook(const char *source, const char *result);
/* ttrelay_collect_total{result}; result: stored|bad_request|too_large|rate_limited|forbidden */
void metrics_collect(const char *result);
/* ttrelay_conversions_total{kind,matched_by} (counted when matching runs) */
void metrics_conversion(const char *kind, const char *matched_by);
/* A conversion left unmatched although candidates existed, by the reason. */
void metrics_match_refusal(const char *reason);
/* ttrelay_consent_events_total{outcome}: a conversion of an opted-out visitor;
 * outcome: ldu|suppressed|ignored */
void metrics_consent(const char *outcome);
/* ttrelay_currency_refused_total{source}: orders whose currency TikTok does not accept,
 * sent without value and currency */
void metrics_currency_refused(const char *source);
/* ttrelay_tiktok_responses_total{code}: TikTok's code, or "http_<status>", or "error" */
void metrics_tiktok_response(const char *code);
/* ttrelay_events_sent_total / ttrelay_events_dead_total{pixel} */
void metrics_events_sent(const char *pixel, long n);
void metrics_events_dead(const char *pixel, long n);
/* ttrelay_request_duration_seconds{route} histogram; route: webhook|collect|admin|other */
void metrics_request_latency(const char *route, double seconds);
/* ttrelay_delivery_delay_seconds{pixel} histogram: from the conversion's start (the matched
 * touch, else the webhook's receipt) to TikTok's acceptance. */
void metrics_delivery_delay(const char *pixel, double seconds);
/* ttrelay_commit_group_size histogram */
void metrics_commit_group(int rows);

/* Series present at 0 before the first event, so rate() and alerts see them from the
 * start: ttrelay_events_sent_total and ttrelay_events_dead_total for a pixel, and
 * ttrelay_webhooks_total{result="accepted"} for a source. */
void metrics_declare_pixel(const char *pixel);
void metrics_declare_source(const char *source);
/* ttrelay_config_last_reload_successful (1/0) and, when ok, the success timestamp: the
 * configuration read at start counts as the first load. */
void metrics_config_reload(int ok, double unix_s);

struct procstat;

/* Gauges supplied at render time. */
struct metrics_gauges {
    long long events_by_state[8]; /* in enum event_state order */
    long long queue_depth;        /* held + ready + retry */
    double oldest_queued_age_s;
    double oldest_due_age_s; /* oldest ready/retry event, from its receipt; 0 when none */
    long long touches;
    int pixels_paused;
    double uptime_s;
    const char *instance; /* ttrelay_instance_info; NULL leaves it out */
    const char *backend;
    const struct procstat *process; /* the process_* family; NULL leaves it out */
};
/* The whole exposition text (new; free it). */
char *metrics_render(const struct metrics_gauges *g);
/* Resets everything (tests). */
void metrics_reset(void);

#endif
