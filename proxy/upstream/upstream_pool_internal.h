/* Private to proxy/upstream/: the state of a worker's upstream pool that its
 * connections (upstream_pool.c) and its servers (upstream_targets.c) share. */
#ifndef CG_PROXY_UPSTREAM_UPSTREAM_POOL_INTERNAL_H
#define CG_PROXY_UPSTREAM_UPSTREAM_POOL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/latency.h"
#include "common/reason.h"
#include "config/config.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_server.h"

struct upstream_tls;

/* struct upstream_target is this worker's side of one server of the set: what must not
 * be shared between threads. It lives while the server is in the pool's set, and after
 * it left (|retired|) until the last connection or holder lets go of it. */
struct upstream_target {
    struct upstream_pool *pool;
    struct upstream_server *shared;            /* a reference: health, counters, TLS sessions */
    struct upstream_server_counters *counters; /* this worker's slot in shared */
    struct upstream_conn *idle;                /* most recently used first */
    unsigned num_idle;
    unsigned inflight; /* requests on it now (least_requests) */
    unsigned holds;    /* connections (any state) and upstream_target_hold holders */
    bool retired;      /* left the set: no new request; freed when |holds| is 0 */
};

struct upstream_pool {
    struct event_base *base;
    const struct config_upstream *up;
    const struct config *cfg;
    struct tls_client *tls;           /* the upstream's TLS client (shared, not owned); NULL:
                                         cleartext */
    unsigned worker;                  /* the worker's counter slot in each server */
    struct upstream_set *set;         /* the servers now (a reference) */
    struct upstream_target **targets; /* one per set->servers entry, same order */
    size_t num_targets;
    size_t next;                                             /* round robin cursor */
    void (*on_retire)(void *arg, struct upstream_target *t); /* see upstream_pool_on_retire */
    void *retire_arg;
    struct event *ev_sweep;          /* closes pooled connections idle for keepalive_idle */
    enum cg_reason last_failure;     /* reason of the last connect that failed */
    struct cg_latency response_time; /* request head sent to response head, every server */
    struct upstream_tls *dying;      /* TLS transports closed, freed from the loop (ev_reap) */
    struct event *ev_reap;           /* TLS upstreams only */
};

/* upstream_now_ms is the wall clock of the worker's loop (cached per iteration), in ms:
 * what passive marks are set and judged against. */
static inline uint64_t upstream_now_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* upstream_target_new creates the target of server |s| in |pool| (a reference to |s|
 * is taken); upstream_target_free frees one nothing holds. */
struct upstream_target *upstream_target_new(struct upstream_pool *pool, struct upstream_server *s);
void upstream_target_free(struct upstream_target *t);

/* upstream_target_set_down_until stores the passive mark of |t|'s server (0: none). */
void upstream_target_set_down_until(struct upstream_target *t, uint64_t ms);

/* upstream_target_close_idle closes the idle connections of |t| (upstream_pool.c). */
void upstream_target_close_idle(struct upstream_target *t);

#endif
