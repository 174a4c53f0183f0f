/* A configuration snapshot: one loaded certgate.json and the run-time side built from it
 * (every listener's TLS context, host table and PROXY-protocol sources, the policy slots,
 * every upstream's TLS client). Immutable once published and reference counted.
 *
 * The main thread builds one at start and one per configuration reload that changes
 * something (control/config_reload.c), and publishes it to every worker as a message
 * (worker_install, proxy/core/worker.h). Each worker keeps its own state for each
 * snapshot still in use (struct worker_snapshot: upstream pools, protocol state,
 * policies) and every connection belongs to the snapshot that was current when it was
 * accepted, to its end: requests in flight, and later requests on a kept-alive
 * connection, are served by the configuration the connection started with. The worker
 * frees its state of an old snapshot when that snapshot's last connection ends, and
 * drops its reference; the last reference frees the snapshot, on whichever thread. */
#ifndef CG_PROXY_CORE_SNAPSHOT_H
#define CG_PROXY_CORE_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "policy/ipset.h"

struct conn_alpn;
struct host_table;
struct policy;
struct tls_client;
struct tls_server;
struct upstream_set;

/* struct listener_rt is the run-time side of one configured listener. */
struct listener_rt {
    const struct config_listener *cfg;
    size_t index;                 /* in config->listeners */
    size_t metrics_index;         /* its block in every worker's counters: one per listener
                                     name for the process's life (runtime->listener_names),
                                     so that a reload keeps the counts of a listener */
    struct tls_server *tls;       /* shared by all workers (SSL_CTX is thread-safe) */
    struct host_table *hosts;     /* its host entries and default (proxy/core/host_table.h);
                                     every connection holds its own reference */
    struct ipset proxy_from;      /* peers that must send a PROXY header (empty: none) */
    const struct conn_alpn *alpn; /* the protocol serving each ALPN id the listener
                                     offers (proxy/protocols.c) */
    size_t num_alpn;
    const struct conn_alpn *no_alpn; /* what serves a client that negotiated no ALPN id */
};

/* struct policy_slot is one policy file in force for one host entry of one listener
 * (or a listener's default): what the reloader loads and publishes, and what each
 * worker holds a snapshot of at the same index. Two entries naming the same file have
 * a slot each: a file is validated for the listener that uses it (its client_ca). */
struct policy_slot {
    size_t listener;       /* index in snapshot->listeners */
    const char *host;      /* the host entry's name; "" for the listener's default */
    const char *file;      /* absolute path; NULL: no policy (every request denied) */
    struct policy *policy; /* main thread's reference to the current policy, or NULL */
    uint64_t reloads;         /* main thread: reloads of this file that took effect */
    uint64_t reload_failures; /* main thread: reloads refused (the old one stayed) */
};

struct snapshot {
    atomic_int refs;
    uint64_t generation;              /* 1 for the configuration the process started with,
                                         one more per published reload */
    struct config *cfg;               /* owned */
    struct listener_rt *listeners;    /* cfg->num_listeners entries */
    struct policy_slot *policy_slots; /* every host entry's and default's policy, listener
                                         by listener (host_table_new numbers them) */
    size_t num_policy_slots;
    struct tls_client **upstream_tls; /* per config upstream: its TLS client, NULL without
                                         "tls"; shared by all workers */
    struct upstream_set **upstream_sets; /* per config upstream: its servers when the snapshot
                                            was published (a reference each); the workers'
                                            pools start from them, later sets come as
                                            messages (proxy/core/worker_upstreams.h) */
    size_t num_metrics;               /* 1 + the largest listener metrics_index */
};

/* snapshot_new takes |cfg| over and returns a snapshot of generation |generation| with
 * one reference: every listener's host table, and the policy slots numbered listener by
 * listener (its host entries, then its default), with no policy, TLS context or
 * upstream TLS client loaded yet (the main thread does that, control/config_reload.c). */
struct snapshot *snapshot_new(struct config *cfg, uint64_t generation);

/* snapshot_ref takes one more reference to |s| and returns it; snapshot_unref drops one,
 * and the last frees the snapshot with everything it holds (NULL is a no-op).
 * Thread-safe. */
struct snapshot *snapshot_ref(struct snapshot *s);
void snapshot_unref(struct snapshot *s);

/* snapshot_take_upstream_sets gives |s| a reference to each upstream's current set
 * |sets| (main thread, before |s| is published to the workers). */
void snapshot_take_upstream_sets(struct snapshot *s, struct upstream_set *const *sets);

/* snapshot_find_listener returns the listener named |name| in |s|, or NULL. */
const struct listener_rt *snapshot_find_listener(const struct snapshot *s, const char *name);

#endif
