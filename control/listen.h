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
 * A claim is a Unix socket in the abstract namespace named after the exact address,
 * "certgate/listen/tcp4/127.0.0.1:8443": the kernel lets one socket hold a name, scopes
 * it like TCP ports (per network namespace) and releases it when the last process
 * holding the socket ends, however it ends. The claim also listens: it is where a
 * binary upgrade (`certgate run --upgrade`, control/upgrade.h) finds the running
 * process and asks it for its listening sockets instead of binding new ones. The claim
 * sockets travel with them, so the name stays held throughout and passes to the new
 * process. A second process started without --upgrade is refused like an accidental
 * one. */
#ifndef CG_CONTROL_LISTEN_H
#define CG_CONTROL_LISTEN_H

#include <stdbool.h>

#include "common/err.h"
#include "config/config.h"

/* listen_claim claims |a| for this process and returns the claim's descriptor in |*out|
 * (close-on-exec, listening, non-blocking; keep it open while listening there, close it
 * when done). It fails
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

/* listen_claim_connect connects to the claim of |a|, waiting at most |timeout_ms| for the
 * holder's backlog, and returns the connected close-on-exec socket in |*out| (the caller
 * checks who answered: control/upgrade.c). Fails with CG_ERR_NOT_FOUND when nobody holds
 * the claim, CG_ERR_INVALID when a process holds it without accepting connections on it
 * (a certgate from before binary upgrades), CG_ERR_IO otherwise; one line in |err|
 * naming the address. */
int listen_claim_connect(const struct config_address *a, unsigned timeout_ms, int *out,
                         struct cg_errbuf *err);

/* listen_socket_is reports whether |fd| is a listening TCP socket bound to exactly |a|
 * (family, address and port): what a socket handed over by another process must be
 * before it serves |a|. */
bool listen_socket_is(int fd, const struct config_address *a);

/* listen_claim_is reports whether |fd| is the claim socket of |a| (see listen_claim). */
bool listen_claim_is(int fd, const struct config_address *a);

#endif
