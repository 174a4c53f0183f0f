/* The servers of every upstream, kept current on the main thread: the IP literals of
 * the configuration plus what its names resolve to (control/upstream_dns.h), as one
 * immutable struct upstream_set per upstream (proxy/upstream/upstream_set.h) in
 * runtime->upstream_sets. When an answer changes an upstream's addresses, a new set is
 * built from the old one (servers that stay keep their state) and posted to every
 * worker (proxy/core/worker_upstreams.h) and to the health checks
 * (control/upstream_health.h). */
#ifndef CG_CONTROL_UPSTREAM_SETS_H
#define CG_CONTROL_UPSTREAM_SETS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"

struct runtime;
struct upstream_sets;

/* At start, certgate waits this long at most for every name's first answer before it
 * accepts traffic (control/process.c); two attempts of one second per resolver fit. */
#define UPSTREAM_SETS_START_WAIT_MS 5000

/* upstream_sets_new fills rt->upstream_sets for rt->cfg (the current snapshot's: the
 * IP literals of each upstream; names are added as they resolve), starts resolving and
 * checking on |base|, and stores the control state in |*out| and rt->upstream_control.
 * With |prev| (the state of the configuration a reload replaces, stopped with
 * upstream_sets_stop before rt->cfg changed; freed here), an upstream of the same name
 * starts from its servers, which keep their state, and from its names' last answers
 * when its servers are written the same. Returns 0, or CG_ERR_INVALID with |err| set
 * (the resolvers cannot be set up). */
int upstream_sets_new(struct runtime *rt, struct event_base *base, struct upstream_sets *prev,
                      struct upstream_sets **out, struct cg_errbuf *err);

/* upstream_sets_wait runs |base| until every name has had its first answer, good or
 * bad, or |max_ms| passed, and logs each upstream left without a server. Before the
 * workers exist. */
void upstream_sets_wait(struct upstream_sets *us, struct event_base *base, uint64_t max_ms);

/* upstream_sets_resolve_counts returns how many resolutions of upstream |index|'s names
 * succeeded and failed (0 and 0 without names). Main thread. */
void upstream_sets_resolve_counts(const struct upstream_sets *us, size_t index, uint64_t *out_ok,
                                  uint64_t *out_failed);

/* upstream_sets_health_counts returns how many health checks of upstream |index|
 * passed and failed. Main thread. */
void upstream_sets_health_counts(const struct upstream_sets *us, size_t index, uint64_t *out_passed,
                                 uint64_t *out_failed);

/* upstream_sets_stop ends resolution and health checks (the process drains, or a
 * reload replaces the configuration: call it while rt->cfg is still the one |us| was
 * made for): the sets stay as they are. NULL is a no-op. */
void upstream_sets_stop(struct upstream_sets *us);

/* upstream_sets_free frees the state and rt->upstream_sets, once no worker is left (a
 * server's address text lives until then). NULL is a no-op. */
void upstream_sets_free(struct upstream_sets *us);

#endif
