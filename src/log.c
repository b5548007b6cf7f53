#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Set by log_setup() before the loop starts; read-only afterwards. */
static unsigned log_node_id;
static enum log_level log_min = LOG_INFO;

static const char *const log_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void log_setup(unsigned node_id, enum log_level min_level)
{
        log_node_id = node_id;
        log_min = min_level;
}

int log_level_parse(const char *name)
{
        static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
        for (int i = 0; i <= LOG_OFF; i++) {
                if (strcmp(name, lower[i]) == 0) {
                        return i;
                }
        }
        return -1;
}

bool log_enabled(enum log_level level)
{
        return level >= log_min && level != LOG_OFF;
}

static const char *log_basename(const char *file)
{
        const char *slash = strrchr(file, '/');
        return slash != NULL ? slash + 1 : file;
}

void log_emit(enum log_level level, int partition, const char *file, int line, const char *fmt, ...)
{
        char msg[1024];
        char when[32];
        char part[16];
        struct timeval tv;
        struct tm tm;
        va_list ap;

        if (!log_enabled(level)) {
                return;
        }
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        if (partition >= 0) {
                snprintf(part, sizeof part, "%d", partition);
        } else {
                strcpy(part, "-");
        }
        /* One fprintf per line: stderr is unbuffered, so a single call keeps
         * lines from different processes sharing a terminal whole. */
        fprintf(stderr, "%s.%03dZ %s node=%u part=%s %s (%s:%d)\n", when, (int)(tv.tv_usec / 1000),
                log_names[level], log_node_id, part, msg, log_basename(file), line);
}
