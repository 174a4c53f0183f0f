/* The status port (docs/operations.md "Status port"): plain HTTP/1.1 on the main loop,
 * no authentication, read-only. GET (or HEAD) /healthz (the process is alive), /readyz
 * (control/health.h; 503 from a stop signal on) and /metrics
 * (control/metrics_scrape.h); any other path is 404 and any other method 405. Nothing
 * it answers changes state or shows a key, so it needs no certificate: it is what
 * Kubernetes probes and Prometheus scrape, while the admin API (mutual TLS) keeps its
 * own copies of the three.
 *
 * Bounded like the admin API: at most STATUS_MAX_CONNS connections, request heads of
 * limits.max_header_bytes, no request bodies, timeouts.request_header for a head and
 * timeouts.keepalive_idle between requests; requests are parsed by the proxy's strict
 * parser (proxy/http1/h1_parse.h). */
#ifndef CG_CONTROL_STATUS_SERVER_H
#define CG_CONTROL_STATUS_SERVER_H

#include <event2/event.h>

#include "common/err.h"

#define STATUS_MAX_CONNS 64 /* open connections; more are refused */

struct runtime;
struct status_server;

/* status_server_new serves the status port on the bound, listening socket |fd| (which
 * it takes, also on failure) from |base|, the main loop. Fails with CG_ERR_IO. */
int status_server_new(struct runtime *rt, struct event_base *base, int fd,
                      struct status_server **out, struct cg_errbuf *err);

/* status_server_free closes the listener and every connection. NULL is a no-op. */
void status_server_free(struct status_server *s);

#endif
