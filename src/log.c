#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Set by log_setup() before the loop starts; read-only afterwards. */
static unsigned log_node_id;
static enum log_level log_min = LOG_INFO;
static enum log_format log_format = LOG_TEXT;

static const char *const log_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void log_setup(unsigned node_id, enum log_level min_level)
{
        log_node_id = node_id;
        log_min = min_level;
}

void log_set_format(enum log_format format)
{
        log_format = format;
}

int log_format_parse(const char *name)
{
        if (strcmp(name, "text") == 0) {
                return LOG_TEXT;
        }
        return strcmp(name, "json") == 0 ? LOG_JSON : -1;
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

/* s as the inside of a JSON string into out (cap bytes, terminated):
 * quotes, backslashes and every byte below 0x20 or above 0x7e escaped, so
 * the line stays valid JSON whatever bytes a message carries. */
static void log_json_escape(const char *s, char *out, size_t cap)
{
        size_t n = 0;
        for (; *s != '\0' && n + 7 < cap; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch == '"' || ch == '\\') {
                        out[n++] = '\\';
                        out[n++] = (char)ch;
                } else if (ch < 0x20 || ch > 0x7e) {
                        n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
                } else {
                        out[n++] = (char)ch;
                }
        }
        out[n] = '\0';
}

static void log_emit_json(const char *when, int ms, enum log_level level, int partition,
                          const char *msg, const char *file, int line)
{
        static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
        char text[6 * 1024 + 8];
        char event[32], event_text[6 * sizeof event + 8];
        char part[16];
        const char *colon = strchr(msg, ':');
        size_t elen =
            colon != NULL && (size_t)(colon - msg) < sizeof event ? (size_t)(colon - msg) : 0;

        memcpy(event, msg, elen);
        event[elen] = '\0';
        log_json_escape(event, event_text, sizeof event_text);
        log_json_escape(msg, text, sizeof text);
        if (partition >= 0) {
                snprintf(part, sizeof part, "%d", partition);
        } else {
                strcpy(part, "null");
        }
        fprintf(stderr,
                "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"node\":%u,\"partition\":%s,"
                "\"event\":\"%s\",\"msg\":\"%s\",\"src\":\"%s:%d\"}\n",
                when, ms, lower[level], log_node_id, part, event_text, text, file, line);
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
        if (log_format == LOG_JSON) {
                log_emit_json(when, (int)(tv.tv_usec / 1000), level, partition, msg,
                              log_basename(file), line);
                return;
        }
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
