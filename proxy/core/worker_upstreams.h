/* New server sets for the workers' upstream pools, published by the main thread
 * (control/upstream_sets.c) the way policy snapshots are (proxy/core/worker.h). */
#ifndef CG_PROXY_CORE_WORKER_UPSTREAMS_H
#define CG_PROXY_CORE_WORKER_UPSTREAMS_H

#include <stddef.h>

struct snapshot;
struct upstream_set;
struct worker;

/* worker_upstream_msg_new packages |set| (a reference is taken) for upstream
 * |upstream_index| of configuration snapshot |snap| (the main thread's current one), for
 * one worker_post of worker_set_upstream_servers. */
void *worker_upstream_msg_new(const struct snapshot *snap, size_t upstream_index,
                              struct upstream_set *set);

/* worker_set_upstream_servers (through worker_post, |arg| from worker_upstream_msg_new)
 * makes the set current in the worker's pool of that upstream in its state of that
 * snapshot (upstream_pool_set_servers) and drops the message's reference. Requests
 * already on a server finish there. A snapshot the worker has not installed yet gets
 * its sets with it (snapshot->upstream_sets); one it retired needs none. */
void worker_set_upstream_servers(struct worker *w, void *arg);

#endif
