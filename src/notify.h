/* The service manager's view of the node (systemd, Type=notify): READY
 * once every local partition has a leader, RELOADING around a SIGHUP,
 * STOPPING at shutdown, and the watchdog fed from the loop itself, so a
 * loop that stalls for WatchdogSec gets the node restarted. Every call is
 * a no-op outside systemd (no NOTIFY_SOCKET). Thin over libsystemd's
 * sd_notify. */
#ifndef TKV_NOTIFY_H
#define TKV_NOTIFY_H

#include <stdint.h>

/* READY=1, with a human-readable STATUS= line. */
void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);

/* How often the watchdog must be fed (ms): half of WatchdogSec, or 0 when
 * the service has no watchdog. */
uint64_t notify_watchdog_period_ms(void);
void notify_watchdog(void);

#endif
