/* The metrics page: everything GET /metrics answers, on the status port and the admin
 * API alike, in the Prometheus text format (control/metrics_text.h); docs/operations.md
 * lists every metric, its type and labels.
 *
 * A scrape runs on the main thread: it sums the counters every worker keeps
 * (proxy/core/metrics.h, the upstream pools) with relaxed loads, reads the main
 * thread's own state (policies, certificates, reloads) and the process's from /proc.
 * It must only run while the workers exist (before the drain frees them). */
#ifndef CG_CONTROL_METRICS_SCRAPE_H
#define CG_CONTROL_METRICS_SCRAPE_H

#include <stdint.h>

#include <event2/buffer.h>

#include "common/reason.h"

struct runtime;

/* metrics_scrape_write appends the whole page to |out|. */
void metrics_scrape_write(struct runtime *rt, struct evbuffer *out);

/* metrics_scrape_requests sums the requests of every listener and worker: the total
 * into |*out_total| and the denied ones (decision deny) by reason into |out_denied|
 * (CG_REASON_COUNT entries, zeroed first). */
void metrics_scrape_requests(const struct runtime *rt, uint64_t *out_total,
                             uint64_t out_denied[CG_REASON_COUNT]);

#endif
