#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/timestamp.h"

static atomic_int current_level = CG_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cg_log_set_level(enum cg_log_level level)
{
    atomic_store(&current_level, (int)level);
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

void cg_log(enum cg_log_level level, const char *fmt, ...)
{
    if (!cg_log_enabled(level)) {
        return;
    }
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *p = cg_timestamp_format(line, &ts, CG_TIMESTAMP_MILLIS);
    int n = (int)(p - line) + snprintf(p, sizeof(line) - (size_t)(p - line), " %s ",
                                        level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    /* One fwrite per line: stdio's lock keeps lines from different threads whole. */
    fwrite(line, 1, len, stderr);
}
