#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/json_line.h"
#include "common/timestamp.h"

#define LINE_MAX_TEXT 1024
#define LINE_MAX_JSON 2048 /* escaping may double a message */

static atomic_int current_level = CG_LOG_INFO;
static atomic_int current_format = CG_LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cg_log_set_level(enum cg_log_level level)
{
    atomic_store(&current_level, (int)level);
}

void cg_log_set_format(enum cg_log_format format)
{
    atomic_store(&current_format, (int)format);
}

int cg_log_level_parse(const char *name, enum cg_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum cg_log_level)i;
            return CG_OK;
        }
    }
    return CG_ERR_INVALID;
}

bool cg_log_enabled(enum cg_log_level level)
{
    return (int)level <= atomic_load_explicit(&current_level, memory_order_relaxed);
}

/* emit writes one finished line; one fwrite per line: stdio's lock keeps lines from
 * different threads whole. */
static void emit(char *line, size_t len)
{
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

__attribute__((format(printf, 4, 0))) static void log_json(enum cg_log_level level,
                                                           const struct cg_log_field *fields,
                                                           size_t num_fields, const char *fmt,
                                                           va_list ap)
{
    char msg[LINE_MAX_TEXT];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[LINE_MAX_JSON + 1];
    struct cg_json_line l;
    cg_json_line_begin(&l, line, LINE_MAX_JSON);
    cg_json_line_time(&l, "ts", &ts);
    cg_json_line_str(&l, "level", level_names[level]);
    cg_json_line_str(&l, "msg", msg);
    for (size_t i = 0; i < num_fields; i++) {
        cg_json_line_str(&l, fields[i].key, fields[i].value);
    }
    emit(line, cg_json_line_end(&l));
}

/* append_text adds |s| to |line| (|*len| used of LINE_MAX_TEXT - 1), cut to fit. */
static void append_text(char *line, size_t *len, const char *s, size_t n)
{
    size_t room = LINE_MAX_TEXT - 1 - *len;
    n = n < room ? n : room;
    memcpy(line + *len, s, n);
    *len += n;
}

__attribute__((format(printf, 4, 0))) static void log_text(enum cg_log_level level,
                                                           const struct cg_log_field *fields,
                                                           size_t num_fields, const char *fmt,
                                                           va_list ap)
{
    char line[LINE_MAX_TEXT];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *p = cg_timestamp_format(line, &ts, CG_TIMESTAMP_MILLIS);
    int n = (int)(p - line) + snprintf(p, sizeof(line) - (size_t)(p - line), " %s ",
                                        level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    for (size_t i = 0; i < num_fields; i++) {
        const char *v = fields[i].value != NULL ? fields[i].value : "";
        bool quote = v[0] == '\0' || strpbrk(v, " \"") != NULL;
        append_text(line, &len, " ", 1);
        append_text(line, &len, fields[i].key, strlen(fields[i].key));
        append_text(line, &len, quote ? "=\"" : "=", quote ? 2 : 1);
        append_text(line, &len, v, strlen(v));
        if (quote) {
            append_text(line, &len, "\"", 1);
        }
    }
    emit(line, len);
}

__attribute__((format(printf, 4, 0))) static void vlog(enum cg_log_level level,
                                                       const struct cg_log_field *fields,
                                                       size_t num_fields, const char *fmt,
                                                       va_list ap)
{
    if (atomic_load_explicit(&current_format, memory_order_relaxed) == CG_LOG_FORMAT_JSON) {
        log_json(level, fields, num_fields, fmt, ap);
    } else {
        log_text(level, fields, num_fields, fmt, ap);
    }
}

void cg_log(enum cg_log_level level, const char *fmt, ...)
{
    if (!cg_log_enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void cg_log_fields(enum cg_log_level level, const struct cg_log_field *fields, size_t num_fields,
                   const char *fmt, ...)
{
    if (!cg_log_enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, num_fields, fmt, ap);
    va_end(ap);
}
