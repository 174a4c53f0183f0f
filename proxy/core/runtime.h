/* The running proxy's shared state: the current configuration snapshot, the worker
 * threads and process-wide counters.
 *
 * The main thread (control/process.c) builds it, owns it and is the only one to change
 * it. Workers never read the configuration through it: each connection reads the
 * snapshot it was accepted on (proxy/core/snapshot.h), and new snapshots, policies and
 * certificates reach the workers as messages (proxy/core/worker.h). Workers use only the
 * process-wide parts here (the access log, the modules, the atomic counters). */
#ifndef CG_PROXY_CORE_RUNTIME_H
#define CG_PROXY_CORE_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "proxy/core/snapshot.h"

struct access_log;
struct upstream_set;
struct upstream_sets;
struct worker;
struct worker_module;

struct runtime {
    struct snapshot *snap; /* main thread: the current snapshot (a reference) */
    /* Main thread only: the current snapshot's parts, for the control plane's code
     * (admin API, status port, metrics, renewal, reload), set with |snap|. */
    struct config *cfg;
    struct listener_rt *listeners;    /* cfg->num_listeners entries */
    struct policy_slot *policy_slots; /* snap->policy_slots */
    size_t num_policy_slots;
    struct snapshot **retired; /* main thread: snapshots a reload replaced, each with a
                                  reference, while a connection still uses them */
    size_t num_retired;
    char **listener_names; /* main thread: every listener name any snapshot had, indexed by
                              listener_rt.metrics_index (never shrinks) */
    size_t num_listener_names;
    struct upstream_set **upstream_sets; /* per upstream of the current snapshot: the main
                                            thread's reference to its current servers
                                            (control/upstream_sets.c replaces it and posts
                                            it to the workers' state of that snapshot) */
    struct upstream_sets *upstream_control; /* main thread: the DNS names and health checks
                                               behind them, for the current snapshot
                                               (control/upstream_sets.h) */
    struct worker **workers;
    unsigned num_workers;
    struct access_log *access_log;              /* NULL when off */
    const struct worker_module *const *modules; /* per-worker state of the protocols and
                                                   upstream clients (proxy/protocols.c) */
    size_t num_modules;
    int *claims; /* listen_claim per listen address, held for
                    the process's life (control/listen.h) */
    size_t num_claims;
    int admin_fd;            /* the admin API's listening socket until admin_server_new takes it;
                                -1 otherwise */
    int status_fd;           /* the status port's listening socket until status_server_new
                                takes it; -1 otherwise */
    unsigned admin_connections; /* main thread: open admin API connections */
    atomic_uint connections; /* open client connections, all workers */
    atomic_bool stopping;    /* not ready: set by the main thread when a stop signal or a
                                binary upgrade hand-over begins, never cleared. Readiness
                                probes (/readyz) answer 503 from then on; the workers may
                                still accept during timeouts.shutdown_delay, so that load
                                balancers stop sending before the listeners close */
    uint64_t start_time;     /* unix seconds */
    uint32_t instance_id;    /* random, makes request ids unique across restarts */
    atomic_uint_fast64_t policy_generation;      /* last generation published */
    atomic_uint_fast64_t policy_reloads;         /* successful reloads */
    atomic_uint_fast64_t policy_reload_failures; /* refused reloads (bad file) */
    atomic_uint_fast64_t cert_reloads;
    atomic_uint_fast64_t cert_reload_failures;
    atomic_uint_fast64_t config_reloads;         /* configuration reloads accepted */
    atomic_uint_fast64_t config_reload_failures; /* refused (the running one stayed) */
    atomic_uint_fast64_t config_generation;      /* snap->generation, for readers */
    atomic_uint_fast64_t cert_renewals;         /* serving certificates renewed from the
                                                   CA in state_dir (automatic or admin) */
    atomic_uint_fast64_t cert_renewal_failures; /* renewals that failed (retried) */
    atomic_uint_fast64_t upgrade_requests[3];   /* binary-upgrade requests this process
                                                   received, by enum upgrade_result
                                                   (control/upgrade.h) */
};

#endif
