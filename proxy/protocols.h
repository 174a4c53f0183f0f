/* The data plane's protocols, in one place: which protocol serves a client connection
 * of a listener after its handshake (by ALPN), and which per-worker modules the workers
 * carry. Everything else reaches protocols through struct conn_protocol and struct
 * worker_module, so a new protocol is new files plus a line here. */
#ifndef CG_PROXY_PROTOCOLS_H
#define CG_PROXY_PROTOCOLS_H

#include <stddef.h>

#include "common/err.h"
#include "config/config.h"
#include "proxy/core/runtime.h"

struct tls_client;

/* proxy_protocols_listener sets |lrt|'s ALPN map and default protocol for the
 * listener configuration |l| (its "alpn" list). */
void proxy_protocols_listener(const struct config_listener *l, struct listener_rt *lrt);

/* proxy_protocols_upstream_tls builds the TLS client of upstream |up|, offering the
 * ALPN id its protocol speaks, or sets *out to NULL when |up| has no "tls". Fails as
 * tls_client_new does (a file that does not load). */
int proxy_protocols_upstream_tls(const struct config_upstream *up, struct tls_client **out,
                                 struct cg_errbuf *err);

/* proxy_protocols_runtime sets |rt|'s list of per-worker modules (before any worker
 * exists). */
void proxy_protocols_runtime(struct runtime *rt);

#endif
