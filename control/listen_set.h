/* The listen addresses of the running process and their sockets: for each address its
 * claim (control/listen.h) and the workers' SO_REUSEPORT listening sockets, at least one
 * per worker. Main thread only.
 *
 * At start the sockets come from the certgate being upgraded or are bound anew; a
 * configuration reload adds the addresses it names newly (claimed and bound before
 * anything else changes) and removes the ones it no longer names (the claim is closed
 * here, the sockets by their workers, which own them once installed). */
#ifndef CG_CONTROL_LISTEN_SET_H
#define CG_CONTROL_LISTEN_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "config/config.h"

struct upgrade_client;

/* struct listen_socket is one worker's listening socket of an address. */
struct listen_socket {
    int fd;
    unsigned worker;
};

/* struct listen_addr is one address the process serves. */
struct listen_addr {
    struct config_address addr; /* own copy (text included) */
    int claim;                  /* listen_claim's descriptor */
    struct listen_socket *socks;
    size_t num_socks;
};

/* struct listen_set is every listen address of the process; all zero is empty. */
struct listen_set {
    struct listen_addr *addrs;
    size_t num_addrs;
};

/* listen_set_add claims |a| and gets its sockets for |num_workers| workers: from |uc|
 * when a running certgate handed them over (every one of them is served, spread over the
 * workers), bound anew otherwise. An address in use, or claimed by another process,
 * fails with one clear error and changes nothing. */
int listen_set_add(struct listen_set *s, const struct config_address *a, unsigned num_workers,
                   struct upgrade_client *uc, struct cg_errbuf *err);

/* listen_set_find returns the entry of the address |a| (same family, address and port),
 * or NULL. */
struct listen_addr *listen_set_find(const struct listen_set *s, const struct config_address *a);

/* listen_set_remove forgets the entry |e| of |s| and closes its claim; its sockets are
 * left to their workers, which close them (worker_install). */
void listen_set_remove(struct listen_set *s, struct listen_addr *e);

/* listen_set_worker_sockets returns in |out_fds| / |out_listener| (heap, freed by the
 * caller) worker |worker|'s sockets of every address of |cfg|'s listeners that |s| has,
 * with the index of the listener in |cfg|. Returns how many. */
size_t listen_set_worker_sockets(const struct listen_set *s, const struct config *cfg,
                                 unsigned worker, int **out_fds, size_t **out_listener);

/* listen_set_close_sockets closes every worker socket (a start that failed before the
 * workers took them). */
void listen_set_close_sockets(struct listen_set *s);

/* listen_set_cleanup closes every claim and frees |s|; the sockets are the workers'. */
void listen_set_cleanup(struct listen_set *s);

#endif
