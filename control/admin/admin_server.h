/* The admin API (docs/operations.md "Admin API"): a small HTTP/1.1 server on its own listener, run on the
 * main thread's event loop, never on a worker: its operations generate keys, write files
 * and publish policies, all of which belong to the main thread.
 *
 * Mutual TLS: the admin listener serves the certificates of one proxy listener
 * (config "admin.listener", default the first) and requests a client certificate; every
 * endpoint but GET /healthz and /readyz requires a certificate registered in that
 * listener's current policy with clearance Operator or ClusterAdmin. Certificate edits
 * change that listener's policy file atomically and apply it like a reload.
 * docs/operations.md "Admin API" lists the endpoints. */
#ifndef CG_CONTROL_ADMIN_ADMIN_SERVER_H
#define CG_CONTROL_ADMIN_ADMIN_SERVER_H

#include <event2/event.h>

#include "common/err.h"

struct admin_server;
struct reloader;
struct runtime;

/* admin_server_new serves the admin API from |base| (the main loop) on |fd|, a socket
 * already listening on rt->cfg->admin.address (bound with the proxy's listeners, before
 * any worker starts, so that an address in use stops the start). It takes |fd| in every
 * case and reloads through |rl|. Returns 0, or CG_ERR_CRYPTO (TLS context) / CG_ERR_IO
 * with one line in |err|. */
int admin_server_new(struct runtime *rt, struct event_base *base, struct reloader *rl, int fd,
                     struct admin_server **out, struct cg_errbuf *err);

/* admin_server_rebind makes |a| manage the listener (and host entry) of the same name
 * in the runtime's current snapshot, after a configuration reload published one; when
 * that has none of that name, |a| keeps the one it has (a restart applies the change).
 * Its own address and TLS context are not changed. */
void admin_server_rebind(struct admin_server *a);

/* admin_server_free closes the listener and every admin connection at once. NULL is a
 * no-op. */
void admin_server_free(struct admin_server *a);

#endif
