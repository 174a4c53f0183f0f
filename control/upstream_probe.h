/* One active health check of one upstream server (control/upstream_health.c): a GET of
 * health_check.path over the upstream's own protocol (HTTP/1.1, h2c, or TLS with
 * http/1.1 or h2 through the upstream's struct tls_client), on the main thread's loop,
 * without blocking. The check ends at the final response head: its status is what
 * counts; nothing of the body is read. */
#ifndef CG_CONTROL_UPSTREAM_PROBE_H
#define CG_CONTROL_UPSTREAM_PROBE_H

#include <event2/event.h>

#include "config/config.h"

struct tls_client;
struct upstream_probe;
struct upstream_server;

/* upstream_probe_done reports the end of a check: the final response |status|, or 0
 * with |why| (static text: "connect failed", "timeout", "TLS handshake failed", ...)
 * when none came within health_check.timeout. The probe frees itself afterwards. */
typedef void (*upstream_probe_done)(void *arg, int status, const char *why);

/* upstream_probe_start checks server |s| of upstream |up| (|tls|: the upstream's TLS
 * client, or NULL for cleartext; both must outlive the probe), reporting once to |done|
 * with |arg|, never before it returns. Returns the probe, which holds a reference to
 * |s| until it is over. */
struct upstream_probe *upstream_probe_start(struct event_base *base,
                                            const struct config_upstream *up,
                                            struct tls_client *tls, struct upstream_server *s,
                                            upstream_probe_done done, void *arg);

/* upstream_probe_cancel ends |p| without calling done. */
void upstream_probe_cancel(struct upstream_probe *p);

#endif
