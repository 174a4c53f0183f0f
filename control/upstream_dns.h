/* Resolution of the upstream servers given by name ("db.example.com:8080"), on the
 * main thread with libevent's asynchronous resolver (evdns): no worker ever waits for
 * DNS. Each name is asked for its A and AAAA records at start and then every
 * upstreams.<name>.resolve_interval; every address of an answer is a server. The
 * resolvers are $.resolvers, or the system's (/etc/resolv.conf, and /etc/hosts). A
 * failed resolution (timeout, SERVFAIL, NXDOMAIN, no address) is logged and counted and
 * changes nothing: the name keeps its last good addresses. */
#ifndef CG_CONTROL_UPSTREAM_DNS_H
#define CG_CONTROL_UPSTREAM_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"
#include "config/config.h"

struct upstream_dns;

/* upstream_dns_answer is called after every resolution of host |host| of upstream
 * |upstream|: with its |num| addresses, port set (texts owned by the resolver, valid
 * during the call), or with |num| 0 when it failed (the last addresses stay). */
typedef void (*upstream_dns_answer)(void *arg, size_t upstream, size_t host,
                                    const struct config_address *addrs, size_t num);

/* upstream_dns_new starts resolving every name of |cfg| (which must outlive it) on
 * |base|, reporting answers to |answer| with |arg| (never before it returns). Returns
 * 0, or CG_ERR_INVALID with |err| set when the resolvers cannot be set up. */
int upstream_dns_new(struct event_base *base, const struct config *cfg, upstream_dns_answer answer,
                     void *arg, struct upstream_dns **out, struct cg_errbuf *err);

/* upstream_dns_settled reports whether every name has had its first answer, good or
 * bad. */
bool upstream_dns_settled(const struct upstream_dns *d);

/* upstream_dns_counts returns how many resolutions of upstream |upstream|'s names
 * succeeded and failed so far, for the metrics. */
void upstream_dns_counts(const struct upstream_dns *d, size_t upstream, uint64_t *out_ok,
                         uint64_t *out_failed);

/* upstream_dns_free cancels what is in flight and frees the resolver; no answer is
 * reported afterwards. NULL is a no-op. */
void upstream_dns_free(struct upstream_dns *d);

#endif
