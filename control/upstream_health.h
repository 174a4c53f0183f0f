/* Active health checks of the upstreams with "health_check" (docs/configuration.md),
 * on the main thread: each server of the current set is checked once per
 * health_check.interval, however many workers there are (control/upstream_probe.h).
 * A server that fails health_check.fall checks in a row is taken out (its shared
 * health_down flag, proxy/upstream/upstream_server.h, which every worker reads on each
 * pick), and comes back after health_check.rise passes in a row. A server enters up
 * (passive marking covers a dead newcomer meanwhile) and keeps its state while it stays
 * in the set; one that left the set is no longer checked. */
#ifndef CG_CONTROL_UPSTREAM_HEALTH_H
#define CG_CONTROL_UPSTREAM_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct runtime;
struct upstream_health;
struct upstream_set;

/* upstream_health_new prepares the checks of every upstream of |rt| on |base|; none
 * runs before upstream_health_set_servers. */
struct upstream_health *upstream_health_new(struct runtime *rt, struct event_base *base);

/* upstream_health_set_servers makes |set| the servers checked for upstream |index|
 * (nothing without health_check): new servers are checked at once, the others keep
 * their counts, those gone are no longer checked. */
void upstream_health_set_servers(struct upstream_health *h, size_t index,
                                 const struct upstream_set *set);

/* upstream_health_checks returns how many checks of upstream |index| passed
 * (|passed|) or failed so far, for the metrics. */
void upstream_health_checks(const struct upstream_health *h, size_t index, uint64_t *out_passed,
                            uint64_t *out_failed);

/* upstream_health_free stops every check. NULL is a no-op. */
void upstream_health_free(struct upstream_health *h);

#endif
