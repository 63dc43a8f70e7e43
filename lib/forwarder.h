/* The forwarder: a matching thread ends holds (match, build the event), a sending thread
 * takes due events, groups them by pixel, sends batches to TikTok and applies the delivery
 * policy (retry, split, pause, dead). */
#ifndef TTR_FORWARDER_H
#define TTR_FORWARDER_H

struct store;
struct config;
struct forwarder;

/* Starts the thread. cfg is held (config_hold) until replaced or stopped. */
struct forwarder *forwarder_start(struct store *st, struct config *cfg, char *err, size_t errlen);
/* Swaps in a reloaded config (held). Pixels paused by TikTok's answer (a refused token or
 * permission) resume on every instance; an operator's pause stays. */
void forwarder_set_config(struct forwarder *fw, struct config *cfg);
/* Asks for a pass now (a new conversion or touch arrived). */
void forwarder_wake(struct forwarder *fw);
/* Stops: waits at most grace_ms for an in-flight request or store write, then leaves the
 * rest queued. Returns 0, or -1 when a thread is still running (fw and the store it uses
 * must then be left alone: the caller exits). */
int forwarder_stop(struct forwarder *fw, long grace_ms);
/* Milliseconds since the slower of its two threads last completed a loop (liveness). */
long long forwarder_idle_ms(struct forwarder *fw);
/* JSON array of {"pixel","paused","kind","reason","since","by"} (new; free it). */
char *forwarder_pixels_json(struct forwarder *fw);
int forwarder_paused_count(struct forwarder *fw);
/* Pauses pixel on every instance sharing the store, with an operator's reason (NULL for a
 * default): its events are kept, nothing is sent for it until forwarder_resume. 0 or -1 (the
 * store could not record it). */
int forwarder_pause(struct forwarder *fw, const char *pixel, const char *reason);
/* Ends pixel's pause, whoever paused it, on every instance. 0, 1 when it was not paused, or
 * -1 (store error). */
int forwarder_resume(struct forwarder *fw, const char *pixel);
/* The listeners' bound ports, for the instance's heartbeat (ttrelayctl status). */
void forwarder_set_ports(struct forwarder *fw, int public_port, int admin_port);
/* This process's id among the instances sharing the store ("host:pid:random"). */
const char *forwarder_instance(const struct forwarder *fw);

#endif
