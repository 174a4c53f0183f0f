#include "control/metrics_text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* escape writes |s| with backslash and newline escaped, and the double quote too when
 * |quote| (label values). */
static void escape(struct evbuffer *out, const char *s, bool quote)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : quote && *s == '"' ? "\\\"" : NULL;
        if (esc != NULL) {
            evbuffer_add(out, run, (size_t)(s - run));
            evbuffer_add(out, esc, 2);
            run = s + 1;
        }
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

void metrics_text_family(struct evbuffer *out, const char *name, const char *type,
                         const char *help)
{
    evbuffer_add_printf(out, "# HELP %s ", name);
    escape(out, help, false);
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void series(struct evbuffer *out, const char *name, const struct metrics_label *labels,
                   size_t num_labels)
{
    evbuffer_add(out, name, strlen(name));
    for (size_t i = 0; i < num_labels; i++) {
        evbuffer_add_printf(out, "%c%s=\"", i == 0 ? '{' : ',', labels[i].name);
        escape(out, labels[i].value != NULL ? labels[i].value : "", true);
        evbuffer_add(out, "\"", 1);
    }
    if (num_labels > 0) {
        evbuffer_add(out, "}", 1);
    }
}

void metrics_text_u64(struct evbuffer *out, const char *name, const struct metrics_label *labels,
                      size_t num_labels, uint64_t v)
{
    series(out, name, labels, num_labels);
    evbuffer_add_printf(out, " %" PRIu64 "\n", v);
}

void metrics_text_i64(struct evbuffer *out, const char *name, const struct metrics_label *labels,
                      size_t num_labels, int64_t v)
{
    series(out, name, labels, num_labels);
    evbuffer_add_printf(out, " %" PRId64 "\n", v);
}

/* seconds_text writes |us| microseconds as seconds, without trailing zeros ("0.0005",
 * "1", "2.5"). */
static void seconds_text(uint64_t us, char out[32])
{
    int n = snprintf(out, 32, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
    while (n > 0 && out[n - 1] == '0') {
        out[--n] = '\0';
    }
    if (n > 0 && out[n - 1] == '.') {
        out[--n] = '\0';
    }
}

void metrics_text_seconds(struct evbuffer *out, const char *name,
                          const struct metrics_label *labels, size_t num_labels, uint64_t us)
{
    series(out, name, labels, num_labels);
    evbuffer_add_printf(out, " %" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
}

void metrics_text_histogram(struct evbuffer *out, const char *name,
                            const struct metrics_label *labels, size_t num_labels,
                            const struct cg_latency_sum *h)
{
    char sample[128];
    struct metrics_label with_le[8];
    if (num_labels >= sizeof(with_le) / sizeof(with_le[0])) {
        num_labels = sizeof(with_le) / sizeof(with_le[0]) - 1;
    }
    memcpy(with_le, labels, num_labels * sizeof(*labels));
    char le[32];
    with_le[num_labels] = (struct metrics_label){"le", le};
    snprintf(sample, sizeof(sample), "%s_bucket", name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= CG_LATENCY_NUM_BOUNDS; i++) {
        cumulative += h->buckets[i];
        if (i < CG_LATENCY_NUM_BOUNDS) {
            seconds_text(cg_latency_bounds_us[i], le);
        } else {
            snprintf(le, sizeof(le), "+Inf");
        }
        metrics_text_u64(out, sample, with_le, num_labels + 1, cumulative);
    }
    snprintf(sample, sizeof(sample), "%s_sum", name);
    metrics_text_seconds(out, sample, labels, num_labels, h->sum_us);
    snprintf(sample, sizeof(sample), "%s_count", name);
    metrics_text_u64(out, sample, labels, num_labels, cumulative);
}
