/* Levelled logging to stderr, one line per event, as text:
 *
 *   2026-11-26T08:05:31.123Z INFO node=1 part=3 group: became leader (group.c:214)
 *
 * part=- marks node-wide events. Or as JSON lines (log_format = json), for
 * log shippers:
 *
 *   {"time":"2026-11-26T08:05:31.123Z","level":"info","node":1,"partition":3,
 *    "event":"group","msg":"group: became leader","src":"group.c:214"}
 *
 * (one line; "partition" null for node-wide events; "event" is the module
 * that logged, the message's text up to its first colon). The message text
 * is stable so that tests and operators can grep for it. */
#ifndef TKV_LOG_H
#define TKV_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_TEXT, LOG_JSON };

/* Set before the loop starts, and again by the loop on SIGHUP. */
void log_setup(unsigned node_id, enum log_level min_level);
void log_set_format(enum log_format format);

/* Parse "debug", "info", "warn", "error" or "off"; -1 if unknown. */
int log_level_parse(const char *name);
/* Parse "text" or "json"; -1 if unknown. */
int log_format_parse(const char *name);

bool log_enabled(enum log_level level);

/* partition < 0: node-wide. */
void log_emit(enum log_level level, int partition, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define LOGD(part, ...) log_emit(LOG_DEBUG, (part), __FILE__, __LINE__, __VA_ARGS__)
#define LOGI(part, ...) log_emit(LOG_INFO, (part), __FILE__, __LINE__, __VA_ARGS__)
#define LOGW(part, ...) log_emit(LOG_WARN, (part), __FILE__, __LINE__, __VA_ARGS__)
#define LOGE(part, ...) log_emit(LOG_ERROR, (part), __FILE__, __LINE__, __VA_ARGS__)

#endif
