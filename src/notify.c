/* The service manager's view of the node (see notify.h). */
#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void notify_ready(const char *status)
{
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_reloading(void)
{
        sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_stopping(void)
{
        sd_notify(0, "STOPPING=1\nSTATUS=draining requests, shutting down");
}

uint64_t notify_watchdog_period_ms(void)
{
        uint64_t usec = 0;
        /* 0: unset (or WATCHDOG_PID names another process). */
        if (sd_watchdog_enabled(0, &usec) <= 0) {
                return 0;
        }
        return usec / 2000 > 0 ? usec / 2000 : 1;
}

void notify_watchdog(void)
{
        sd_notify(0, "WATCHDOG=1");
}
