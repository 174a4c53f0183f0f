/* The running proxy's shared state: the configuration, the run-time side of every
 * listener, the policy slots, the worker threads and process-wide counters.
 *
 * The main thread (control/process.c) builds it, owns it and is the only one to change
 * it; workers read the immutable parts (configuration, listeners' TLS contexts, host
 * tables and PROXY-protocol sources), update the atomic counters, and receive new
 * snapshots (policies, certificates) as messages (proxy/core/worker.h). */
#ifndef CG_PROXY_CORE_RUNTIME_H
#define CG_PROXY_CORE_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "policy/ipset.h"

struct access_log;
struct conn_alpn;
struct host_table;
struct policy;
struct tls_client;
struct tls_server;
struct upstream_set;
struct upstream_sets;
struct worker;
struct worker_module;

/* struct listener_rt is the run-time side of one configured listener. */
struct listener_rt {
    const struct config_listener *cfg;
    size_t index;                 /* in config->listeners */
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
    size_t listener;       /* index in runtime->listeners */
    const char *host;      /* the host entry's name; "" for the listener's default */
    const char *file;      /* absolute path; NULL: no policy (every request denied) */
    struct policy *policy; /* main thread's reference to the current snapshot, or NULL */
    uint64_t reloads;         /* main thread: reloads of this file that took effect */
    uint64_t reload_failures; /* main thread: reloads refused (the old one stayed) */
};

struct runtime {
    struct config *cfg;
    struct listener_rt *listeners; /* cfg->num_listeners entries */
    struct policy_slot *policy_slots; /* every host entry's and default's policy, listener
                                         by listener (host_table_new numbers them) */
    size_t num_policy_slots;
    struct tls_client **upstream_tls; /* per config upstream: its TLS client, NULL without
                                         "tls"; shared by all workers */
    struct upstream_set **upstream_sets; /* per config upstream: the main thread's reference
                                            to its current servers (control/upstream_sets.c
                                            replaces it and posts it to the workers) */
    struct upstream_sets *upstream_control; /* main thread: the DNS names and health checks
                                               behind them (control/upstream_sets.h) */
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
    atomic_uint_fast64_t cert_renewals;         /* serving certificates renewed from the
                                                   CA in state_dir (automatic or admin) */
    atomic_uint_fast64_t cert_renewal_failures; /* renewals that failed (retried) */
    atomic_uint_fast64_t upgrade_requests[3];   /* binary-upgrade requests this process
                                                   received, by enum upgrade_result
                                                   (control/upgrade.h) */
};

#endif
