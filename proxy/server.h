/* The running proxy: configuration, per-listener TLS contexts, worker threads and the
 * main thread's signal handling (design.md §11).
 *
 * The main thread owns everything here and only it changes it; workers read the
 * immutable parts and receive new snapshots (policies, certificates) as messages. */
#ifndef CG_PROXY_SERVER_H
#define CG_PROXY_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/ipset.h"
#include "proxy/config.h"

struct access_log;
struct policy;
struct tls_server;
struct worker;

/* struct listener_rt is the run-time side of one configured listener. */
struct listener_rt {
    const struct config_listener *cfg;
    size_t index;            /* in config->listeners */
    struct tls_server *tls;  /* shared by all workers (SSL_CTX is thread-safe) */
    struct policy *policy;   /* main thread's reference to the current snapshot */
    struct ipset proxy_from; /* peers that must send a PROXY header (empty: none) */
};

struct server {
    struct config *cfg;
    struct listener_rt *listeners; /* cfg->num_listeners entries */
    struct worker **workers;
    unsigned num_workers;
    struct access_log *access_log; /* NULL when off */
    int *claims;                   /* listen_claim per listen address, held for
                                      the process's life (proxy/listen.h) */
    size_t num_claims;
    int admin_fd;            /* the admin API's listening socket until admin_server_new takes it;
                                -1 otherwise */
    atomic_uint connections; /* open client connections, all workers */
    uint64_t start_time;     /* unix seconds */
    uint32_t instance_id;    /* random, makes request ids unique across restarts */
    atomic_uint_fast64_t policy_generation;      /* last generation published */
    atomic_uint_fast64_t policy_reloads;         /* successful reloads */
    atomic_uint_fast64_t policy_reload_failures; /* refused reloads (bad file) */
    atomic_uint_fast64_t cert_reloads;
    atomic_uint_fast64_t cert_reload_failures;
};

/* server_run starts workers for |cfg| (ownership moves to the server), serves until
 * SIGTERM/SIGINT and a graceful drain, and returns the process exit status. */
int server_run(struct config *cfg);

/* server_check validates what `certgate check` validates beyond the config loader:
 * certificates and keys load and match, client CAs load. Prints a summary to stdout;
 * returns 0 or 1. */
int server_check(const struct config *cfg);

#endif
