/* The access / audit log: one JSON object per line (docs/operations.md "Logs"), written by a
 * background thread so that a slow or full disk never blocks a worker.
 *
 * Each worker appends finished lines to its own buffer under a lock that only the
 * flusher contends; the flusher swaps the buffers out every 100 ms and writes them.
 * When a worker's buffer exceeds its cap (the disk cannot keep up), new lines are
 * dropped and counted instead of growing memory. */
#ifndef CG_PROXY_CORE_ACCESS_LOG_H
#define CG_PROXY_CORE_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct access_log;

/* access_log_open opens |path| for appending ("-" means stderr) with |num_workers|
 * buffers and starts the flusher thread. */
int access_log_open(const char *path, unsigned num_workers, struct access_log **out,
                    struct cg_errbuf *err);

/* access_log_close flushes everything and stops the thread. NULL is a no-op. */
void access_log_close(struct access_log *log);

/* access_log_append queues one line (without the newline) from worker |worker|. */
void access_log_append(struct access_log *log, unsigned worker, const char *line, size_t len);

/* access_log_reopen makes the flusher reopen the file (log rotation on SIGHUP). */
void access_log_reopen(struct access_log *log);

/* access_log_dropped returns how many lines were lost (buffer full or write failed). */
uint64_t access_log_dropped(const struct access_log *log);

#endif
