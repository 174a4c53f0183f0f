/* Upstream servers of one worker: round robin, passive health and a keep-alive pool
 * of HTTP/1.1 connections, cleartext or TLS.
 *
 * Each worker owns one struct upstream_pool per configured upstream; nothing here is
 * shared between threads but the upstream's struct tls_client. A server whose connect
 * fails is skipped for timeouts.upstream_down; when every server is down,
 * upstream_acquire fails with CG_ERR_NOT_FOUND and the caller answers 503.
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

/* upstream_pool_new creates the pool of |up| for the worker running |base|. |tls| is
 * the upstream's TLS client when it has "tls" (it must outlive the pool), else NULL:
 * connections are cleartext. */
struct upstream_pool *upstream_pool_new(struct event_base *base, const struct config_upstream *up,
                                        const struct config *cfg, struct tls_client *tls);

/* upstream_pool_free closes idle connections and frees the pool. Busy connections
 * must have been released before. */
void upstream_pool_free(struct upstream_pool *pool);

/* upstream_acquire gets a connection to the next healthy server for a new request:
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

/* Shared passive health for other kinds of upstream connections (proxy/http2/h2_client.c
 * keeps its own multiplexed sessions but the same round robin and "down" marks).
 * upstream_pool_pick_server returns the index of the next healthy server, or -1 when
 * every server is marked down. */
int upstream_pool_pick_server(struct upstream_pool *pool);
/* upstream_pool_server_addr returns the address of server |index|. */
const struct config_address *upstream_pool_server_addr(struct upstream_pool *pool, size_t index);
/* upstream_pool_mark_down marks server |index| down for timeouts.upstream_down (|why| is
 * logged); upstream_pool_mark_up clears the mark after a successful connect. */
void upstream_pool_mark_down(struct upstream_pool *pool, size_t index, const char *why);
void upstream_pool_mark_up(struct upstream_pool *pool, size_t index);

/* upstream_pool_last_failure returns why the last connection of |pool| that failed
 * before carrying anything failed, as the reason of the 502 an owner answers when no
 * server is left to try: CG_REASON_UPSTREAM_CONNECT_FAILED (refused, unreachable, timed
 * out; also before any failure), _TLS_VERIFY_FAILED (the server's certificate was
 * refused), _TLS_HANDSHAKE_FAILED, _TLS_HANDSHAKE_TIMEOUT. Inside
 * on_close(UPSTREAM_END_CONNECT_FAILED or _TIMEOUT) it is that connection's. The string
 * is static. */
enum cg_reason upstream_pool_last_failure(const struct upstream_pool *pool);

/* ---- metrics ---------------------------------------------------------------------- *
 * Each pool counts, per server, its connect failures (every mark down: refused,
 * unreachable, timed out, a failed TLS handshake) and the responses it sent by status
 * slot (common/http_status.h), and for the upstream the time from a request head sent
 * to its response head. Only the worker writes; the main thread sums the pools of every
 * worker on a scrape (control/metrics.c) through upstream_pool_report. Whatever keeps
 * the state of a server (these counters, its health) reports it there, so that
 * certgate_upstream_* follow it. */

/* upstream_conn_count_response counts a response head from the server of |uc|:
 * |status| and |response_us| microseconds since the request head went to it. */
void upstream_conn_count_response(struct upstream_conn *uc, int status, uint64_t response_us);

/* upstream_pool_count_response is upstream_conn_count_response for server |index| of
 * |pool| (HTTP/2 sessions). */
void upstream_pool_count_response(struct upstream_pool *pool, size_t index, int status,
                                  uint64_t response_us);

/* struct upstream_server_report is what the metrics say about one server, summed over
 * the workers' pools. All-zero is the start of a sum. */
struct upstream_server_report {
    bool down;               /* some worker has it marked down now (passive health) */
    uint64_t connect_errors; /* connects that failed */
    uint64_t responses[CG_HTTP_STATUS_NUM_SLOTS]; /* response heads by status slot */
};

/* upstream_pool_report adds what |pool| counted to |servers| (one entry per server of
 * the upstream, in configuration order) and its response times to |response_time|.
 * |now_ms| is the wall clock in milliseconds, against which "marked down" is judged.
 * Any thread, while the pool exists; values are a moment old. */
void upstream_pool_report(const struct upstream_pool *pool, uint64_t now_ms,
                          struct upstream_server_report *servers,
                          struct cg_latency_sum *response_time);

#endif
