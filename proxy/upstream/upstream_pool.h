/* Upstream servers of one worker: the choice of a server (round robin or least
 * requests), passive health and a keep-alive pool of HTTP/1.1 connections, cleartext
 * or TLS.
 *
 * Each worker owns one struct upstream_pool per configured upstream. Its servers are
 * the upstream's current struct upstream_set (proxy/upstream/upstream_set.h), which
 * the main thread replaces when DNS answers change (upstream_pool_set_servers); what
 * the workers share is in each struct upstream_server (health, counters, TLS sessions)
 * and the upstream's struct tls_client. A server is usable unless its health checks
 * failed or a connect to it failed less than timeouts.upstream_down ago (passive
 * marking, seen by every worker); when no server is usable, upstream_acquire fails with
 * CG_ERR_NOT_FOUND and the caller answers 503 with upstream_pool_unavailable.
 *
 * This worker's side of one server is a struct upstream_target: its idle connections
 * and requests in flight. When a server leaves the set, its target is retired: idle
 * connections close at once, busy ones when released, and it takes no new request.
 *
 * For an upstream with "tls" a connection is ready (on_connected) once the TLS
 * handshake, with the server's certificate verified (proxy/tls/tls_client.h), is done;
 * connect and handshake together get timeouts.upstream_connect. A failed handshake is
 * a failed connect: the server is marked down and on_close reports
 * UPSTREAM_END_CONNECT_FAILED (or _TIMEOUT); upstream_pool_last_failure says why. The
 * owner reads and writes plaintext through the same evbuffers as for cleartext. */
#ifndef CG_PROXY_UPSTREAM_UPSTREAM_POOL_H
#define CG_PROXY_UPSTREAM_UPSTREAM_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"

#include "common/http_status.h"
#include "common/latency.h"
#include "common/reason.h"

struct tls_client;
struct upstream_pool;
struct upstream_conn;
struct upstream_server;
struct upstream_set;
struct upstream_target;

/* Why an upstream connection ended. */
enum upstream_end {
    UPSTREAM_END_CONNECT_FAILED = 0, /* refused / unreachable: the server is marked down */
    UPSTREAM_END_CONNECT_TIMEOUT,    /* timeouts.upstream_connect: marked down too */
    UPSTREAM_END_EOF,                /* the server closed */
    UPSTREAM_END_ERROR,              /* reset or other socket error */
};

const char *upstream_end_str(enum upstream_end end);

struct upstream_callbacks {
    void (*on_connected)(void *arg);                    /* fresh connection is ready */
    void (*on_read)(void *arg);                         /* bytes in upstream_conn_input() */
    void (*on_drain)(void *arg);                        /* output fell to the low-water mark */
    void (*on_close)(void *arg, enum upstream_end end); /* the connection is gone and
                                                        already freed: forget it */
};

/* upstream_pool_new creates the pool of |up| for worker number |worker| (its counter
 * slot in each server) running |base|, with the servers of |set| (a reference is
 * taken). |tls| is the upstream's TLS client when it has "tls" (it must outlive the
 * pool), else NULL: connections are cleartext. */
struct upstream_pool *upstream_pool_new(struct event_base *base, const struct config_upstream *up,
                                        const struct config *cfg, struct tls_client *tls,
                                        struct upstream_set *set, unsigned worker);

/* upstream_pool_set_servers makes |set| the pool's servers (a reference is taken; the
 * old set's is dropped). Servers in both keep their idle connections; the others are
 * retired (see above). On the worker's thread. */
void upstream_pool_set_servers(struct upstream_pool *pool, struct upstream_set *set);

/* upstream_pool_free closes idle connections and frees the pool. Busy connections
 * must have been released before. */
void upstream_pool_free(struct upstream_pool *pool);

/* upstream_acquire gets a connection to the next usable server for a new request:
 * an idle pooled one (*out_reused = true: usable at once, on_connected is not called)
 * or a new one (*out_reused = false: on_connected or on_close follows). Returns 0, or
 * CG_ERR_NOT_FOUND when every server is marked down, or CG_ERR_IO. */
int upstream_acquire(struct upstream_pool *pool, const struct upstream_callbacks *cbs, void *arg,
                     struct upstream_conn **out, bool *out_reused);

/* upstream_release ends the caller's use of |uc|. With |reusable| (a complete
 * response, a complete request, no Connection: close) it returns to the idle pool,
 * else it is closed. No callback runs afterwards. */
void upstream_release(struct upstream_conn *uc, bool reusable);

struct evbuffer *upstream_conn_input(struct upstream_conn *uc);
struct evbuffer *upstream_conn_output(struct upstream_conn *uc);
/* upstream_conn_input / upstream_conn_output are the socket's evbuffers. */
/* upstream_conn_server returns the "ip:port" text of the server, for logs. */
const char *upstream_conn_server(const struct upstream_conn *uc);

/* upstream_conn_set_input_max bounds what upstream_conn_input() may hold after a read
 * (by default limits.buffer_high_water; |max| 0 restores that): an owner that moves
 * every byte it gets into a buffer of its own sets it to the room left there, so that
 * nothing is read beyond its limit. Reset when the connection changes hands. */
void upstream_conn_set_input_max(struct upstream_conn *uc, size_t max);

/* upstream_conn_pause_read / resume_read implement back-pressure towards the client;
 * resume delivers already-buffered input from the event loop. */
void upstream_conn_pause_read(struct upstream_conn *uc);
void upstream_conn_resume_read(struct upstream_conn *uc);

/* upstream_pool_unavailable is the reason of the 503 when upstream_acquire or
 * upstream_pool_pick finds no usable server: CG_REASON_UPSTREAM_UNRESOLVED when the set
 * is empty (its names never resolved), else CG_REASON_NO_HEALTHY_SERVER. */
enum cg_reason upstream_pool_unavailable(const struct upstream_pool *pool);

/* ---- the servers, for other kinds of connections ------------------------------------ *
 * proxy/http2/h2_client.c keeps its own multiplexed sessions but the same choice of
 * server, health and counters. */

/* upstream_pool_pick returns the server for a new request as upstream_acquire chooses
 * it, or NULL when none is usable. The target is valid until the worker returns to its
 * loop, unless held. */
struct upstream_target *upstream_pool_pick(struct upstream_pool *pool);

/* upstream_pool_on_retire registers |fn|, called with |arg| for each target that
 * leaves the set (after its idle connections closed), so that the owner of other
 * connections to it (HTTP/2 sessions) closes the idle ones. */
void upstream_pool_on_retire(struct upstream_pool *pool,
                             void (*fn)(void *arg, struct upstream_target *t), void *arg);

/* upstream_target_hold keeps |t| valid (a session to it); upstream_target_drop lets go
 * (a retired target is freed with the last hold). */
void upstream_target_hold(struct upstream_target *t);
void upstream_target_drop(struct upstream_target *t);

/* upstream_target_begin_request / _end_request count a request in flight on |t|, what
 * least_requests compares. */
void upstream_target_begin_request(struct upstream_target *t);
void upstream_target_end_request(struct upstream_target *t);

/* upstream_target_retired reports whether |t| left the set: take no new request there. */
bool upstream_target_retired(const struct upstream_target *t);

/* upstream_target_server returns the shared server of |t| (its address, its TLS
 * sessions), valid while |t| is. */
struct upstream_server *upstream_target_server(const struct upstream_target *t);

/* upstream_target_mark_down marks the server of |t| down for timeouts.upstream_down
 * (|why| is logged, a connect error counted); upstream_target_mark_up clears the mark
 * after a successful connect. */
void upstream_target_mark_down(struct upstream_target *t, const char *why);
void upstream_target_mark_up(struct upstream_target *t);

/* upstream_pool_last_failure returns why the last connection of |pool| that failed
 * before carrying anything failed, as the reason of the 502 an owner answers when no
 * server is left to try: CG_REASON_UPSTREAM_CONNECT_FAILED (refused, unreachable, timed
 * out; also before any failure), _TLS_VERIFY_FAILED (the server's certificate was
 * refused), _TLS_HANDSHAKE_FAILED, _TLS_HANDSHAKE_TIMEOUT. Inside
 * on_close(UPSTREAM_END_CONNECT_FAILED or _TIMEOUT) it is that connection's. The string
 * is static. */
enum cg_reason upstream_pool_last_failure(const struct upstream_pool *pool);

/* ---- metrics ---------------------------------------------------------------------- *
 * Per server, this worker counts in its slot of the shared struct upstream_server (the
 * metrics read them there, proxy/upstream/upstream_server.h); per upstream, the pool
 * keeps the time from a request head sent to its response head. */

/* upstream_conn_count_response counts a response head from the server of |uc|:
 * |status| and |response_us| microseconds since the request head went to it. */
void upstream_conn_count_response(struct upstream_conn *uc, int status, uint64_t response_us);

/* upstream_target_count_response is upstream_conn_count_response for |t| (HTTP/2
 * sessions). */
void upstream_target_count_response(struct upstream_target *t, int status,
                                    uint64_t response_us);

/* upstream_pool_report adds the response times of |pool| to |response_time|. Any
 * thread, while the pool exists; values are a moment old. */
void upstream_pool_report(const struct upstream_pool *pool, struct cg_latency_sum *response_time);

#endif
