/* systemd service notifications (sd_notify protocol): readiness, reload, stop, watchdog
 * and status. Every call is a no-op returning 0 when $NOTIFY_SOCKET is unset. */
#ifndef TTR_NOTIFY_H
#define TTR_NOTIFY_H

/* Each returns 0 (sent, or nothing to do) or -1 when the datagram could not be sent. */
int notify_ready(void);
/* Before re-reading the configuration; send notify_ready() once the reload is done. */
int notify_reloading(void);
int notify_stopping(void);
int notify_watchdog(void);
/* One line of free text for `systemctl status`; status is borrowed. */
int notify_status(const char *status);

/* The watchdog interval in microseconds when systemd expects pings from this process,
 * else 0. Ping at half of it. */
unsigned long long notify_watchdog_usec(void);

#endif
