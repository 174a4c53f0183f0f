/* The Prometheus text exposition format, version 0.0.4: what GET /metrics answers on
 * the status port and the admin API. A writer of families and samples into an evbuffer,
 * with the escaping the format asks for (label values: backslash, double quote and
 * newline; help text: backslash and newline), so that a listener name, a certificate
 * subject or a file path can never end a label or start a line. Main thread. */
#ifndef CG_CONTROL_METRICS_TEXT_H
#define CG_CONTROL_METRICS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "common/latency.h"

#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* struct metrics_label is one label of a sample; |value| is any text. */
struct metrics_label {
    const char *name; /* a valid label name (a literal in certgate's code) */
    const char *value;
};

/* metrics_text_family writes the HELP and TYPE lines of metric |name| ("counter",
 * "gauge" or "histogram" for |type|). Every sample of the family follows it. */
void metrics_text_family(struct evbuffer *out, const char *name, const char *type,
                         const char *help);

/* metrics_text_u64 writes one sample of |name| with |num_labels| labels (0: none) and
 * the value |v|; metrics_text_i64 the same for a signed value. */
void metrics_text_u64(struct evbuffer *out, const char *name, const struct metrics_label *labels,
                      size_t num_labels, uint64_t v);
void metrics_text_i64(struct evbuffer *out, const char *name, const struct metrics_label *labels,
                      size_t num_labels, int64_t v);

/* metrics_text_seconds writes one sample whose value is |us| microseconds, in seconds
 * (exact: "0.000250"). */
void metrics_text_seconds(struct evbuffer *out, const char *name,
                          const struct metrics_label *labels, size_t num_labels, uint64_t us);

/* metrics_text_histogram writes the samples of histogram |name| for one label set:
 * name_bucket with "le" added (cumulative counts at every bound of common/latency.h,
 * then "+Inf"), name_sum in seconds and name_count. |num_labels| < 8. */
void metrics_text_histogram(struct evbuffer *out, const char *name,
                            const struct metrics_label *labels, size_t num_labels,
                            const struct cg_latency_sum *h);

#endif
