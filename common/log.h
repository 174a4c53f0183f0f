/* Diagnostic log: one line per event on stderr, gated by a run-time level, as text or
 * as one JSON object per line (log.format; written by common/json_line.h, so that no
 * message or field can break its line). (The access/audit log is separate:
 * proxy/core/access_log.h.) */
#ifndef CG_COMMON_LOG_H
#define CG_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum cg_log_level {
    CG_LOG_ERROR = 0,
    CG_LOG_WARN = 1,
    CG_LOG_INFO = 2,
    CG_LOG_DEBUG = 3,
};

/* How diagnostic lines are written. */
enum cg_log_format {
    CG_LOG_FORMAT_TEXT = 0, /* "2026-01-02T03:04:05.678Z info message" */
    CG_LOG_FORMAT_JSON = 1, /* {"ts":"...","level":"info","msg":"message",...fields} */
};

/* cg_log_set_level sets the most verbose level that is printed (default INFO). */
void cg_log_set_level(enum cg_log_level level);
/* cg_log_set_format sets how lines are written (default text). */
void cg_log_set_format(enum cg_log_format format);
/* cg_log_level_parse sets |*out| to the level named "error", "warn", "info" or "debug"
 * and returns CG_OK, or returns CG_ERR_INVALID for any other name. */
int cg_log_level_parse(const char *name, enum cg_log_level *out);
/* cg_log_enabled reports whether |level| is printed, to skip costly formatting. */
bool cg_log_enabled(enum cg_log_level level);
/* cg_log prints one line with a UTC timestamp and the level. Thread-safe. */
void cg_log(enum cg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* struct cg_log_field is one named value a line carries besides its message. */
struct cg_log_field {
    const char *key; /* a JSON member name: letters, digits, '_' */
    const char *value;
};

/* cg_log_fields is cg_log with |num_fields| fields: members of the JSON object, or
 * " key=value" after the message in text (values with a space or '"' quoted). */
void cg_log_fields(enum cg_log_level level, const struct cg_log_field *fields, size_t num_fields,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define CG_LOG_ERROR(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)
#define CG_LOG_WARN(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define CG_LOG_INFO(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define CG_LOG_DEBUG(...)                                                                          \
    do {                                                                                           \
        if (cg_log_enabled(CG_LOG_DEBUG)) {                                                        \
            cg_log(CG_LOG_DEBUG, __VA_ARGS__);                                                     \
        }                                                                                          \
    } while (0)

#endif
