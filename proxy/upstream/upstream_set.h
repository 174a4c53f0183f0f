/* The servers of one upstream at one moment: an immutable, reference-counted set of
 * struct upstream_server (proxy/upstream/upstream_server.h), built on the main thread
 * and published to every worker as a message (proxy/core/worker_upstreams.h), the way
 * policy snapshots are.
 *
 * A new set is built from the previous one and the addresses the upstream has now
 * (its IP literals and what its names resolved to): an address already in the previous
 * set keeps its server object, so its health, TLS sessions and counters carry over;
 * each worker then matches its own per-server state (idle connections, requests in
 * flight) by that object (proxy/upstream/upstream_pool.c). Servers are kept in address
 * order, so that the order of DNS answers changes nothing. An empty set is valid: the
 * upstream's names did not resolve yet, and requests get 503 upstream_unresolved. */
#ifndef CG_PROXY_UPSTREAM_UPSTREAM_SET_H
#define CG_PROXY_UPSTREAM_UPSTREAM_SET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "proxy/upstream/upstream_server.h"

struct upstream_set {
    atomic_uint refs;
    size_t num_servers;
    struct upstream_server *servers[]; /* one reference each; address order, no two at
                                          the same address */
};

/* upstream_set_new builds the set of the |num| addresses |addrs| (duplicates count
 * once; each text must outlive the servers, see upstream_server_new), reusing the
 * server objects of |old| (NULL: none) at the same addresses and creating the others
 * (with a TLS session cache when |tls|, |num_workers| counter slots). Returns a set with
 * one reference. Main thread. */
struct upstream_set *upstream_set_new(const struct upstream_set *old,
                                      const struct config_address *addrs, size_t num, bool tls,
                                      unsigned num_workers);

/* upstream_set_ref takes a reference (any thread) and returns |set|; upstream_set_unref
 * drops one, freeing the set and dropping its servers with the last (NULL: no-op). */
struct upstream_set *upstream_set_ref(struct upstream_set *set);
void upstream_set_unref(struct upstream_set *set);

/* upstream_set_same reports whether |a| and |b| hold the same server objects. */
bool upstream_set_same(const struct upstream_set *a, const struct upstream_set *b);

/* upstream_set_find returns the index of |s| in |set|, or -1. */
long upstream_set_find(const struct upstream_set *set, const struct upstream_server *s);

#endif
