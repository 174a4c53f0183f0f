/* Listening sockets, and one process per listen address.
 *
 * Each worker has its own SO_REUSEPORT socket per address, so that the kernel spreads
 * connections over the workers. SO_REUSEPORT would just as well let a second certgate
 * of the same user bind the same address, and the kernel would then split clients
 * between two processes and two configurations without a word. So before binding its
 * sockets for an address, a process claims it (listen_claim): it fails when another
 * process listens there, and two certgates starting at the same moment cannot both
 * succeed.
 *
 * A claim is a bound (never listening) Unix socket in the abstract namespace named
 * after the exact address, "certgate/listen/tcp4/127.0.0.1:8443": the kernel lets one
 * socket hold a name, scopes it like TCP ports (per network namespace) and releases it
 * when the process ends, however it ends. That name is also where a later binary
 * upgrade can find the running process and ask it for its listening sockets, instead
 * of binding new ones; until then a deliberate second process is refused like an
 * accidental one. */
#ifndef CG_CONTROL_LISTEN_H
#define CG_CONTROL_LISTEN_H

#include <stdbool.h>

#include "common/err.h"
#include "config/config.h"

/* listen_claim claims |a| for this process and returns the claim's descriptor in |*out|
 * (close-on-exec; keep it open while listening there, close it when done). It fails
 * with CG_ERR_EXISTS and one line naming the address when another certgate holds the
 * claim or any other process listens on |a| (or on a wildcard address covering it), or
 * with CG_ERR_IO when the address cannot be bound at all (permission, no such local
 * address). */
int listen_claim(const struct config_address *a, int *out, struct cg_errbuf *err);

/* listen_socket_open binds a non-blocking, close-on-exec TCP socket to |a| (SO_REUSEADDR;
 * SO_REUSEPORT too when |reuseport|, for one socket per worker; IPV6_V6ONLY for IPv6)
 * and listens. Returns the descriptor in |*out|, or CG_ERR_IO with one line starting
 * with |what| ("listen", "admin listen") and naming the address. */
int listen_socket_open(const struct config_address *a, bool reuseport, const char *what, int *out,
                       struct cg_errbuf *err);

#endif
