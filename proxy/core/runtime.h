/* The running proxy's shared state: the configuration, the run-time side of every
 * listener, the worker threads and process-wide counters.
 *
 * The main thread (control/process.c) builds it, owns it and is the only one to change
 * it; workers read the immutable parts (configuration, listeners' TLS contexts and
 * PROXY-protocol sources), update the atomic counters, and receive new snapshots
 * (policies, certificates) as messages (proxy/core/worker.h). */
#ifndef CG_PROXY_CORE_RUNTIME_H
#define CG_PROXY_CORE_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "policy/ipset.h"

struct access_log;
struct conn_alpn;
struct policy;
struct tls_client;
struct tls_server;
struct worker;
struct worker_module;

/* struct listener_rt is the run-time side of one configured listener. */
struct listener_rt {
    const struct config_listener *cfg;
    size_t index;                 /* in config->listeners */
    struct tls_server *tls;       /* shared by all workers (SSL_CTX is thread-safe) */
    struct policy *policy;        /* main thread's reference to the current snapshot */
    struct ipset proxy_from;      /* peers that must send a PROXY header (empty: none) */
    const struct conn_alpn *alpn; /* the protocol serving each ALPN id the listener
                                     offers (proxy/protocols.c) */
    size_t num_alpn;
    const struct conn_alpn *no_alpn; /* what serves a client that negotiated no ALPN id */
    uint64_t policy_reloads;         /* main thread: reloads of its policy that took effect */
    uint64_t policy_reload_failures; /* main thread: reloads refused (the old one stayed) */
};

struct runtime {
    struct config *cfg;
    struct listener_rt *listeners; /* cfg->num_listeners entries */
    struct tls_client **upstream_tls; /* per config upstream: its TLS client, NULL without
                                         "tls"; shared by all workers */
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
};

#endif
