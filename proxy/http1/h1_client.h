/* The HTTP/1.1 client: one request/response exchange with a database over a connection
 * of the worker's keep-alive pool (proxy/upstream/upstream_pool.h), for every front that
 * reaches an HTTP/1.1 upstream: the HTTP/1.1 server (proxy/http1/h1_to_h1.c) and HTTP/2
 * streams (proxy/http2/h2_to_h1.c).
 *
 * The client takes a connection (to the server the upstream's balance picks among the
 * usable ones), tries the next server when a connect fails, and sends the request again
 * on a fresh connection when a pooled one turns out closed before anything but the head went (at most 3 attempts). It
 * asks its user to write the request head on each connection it sends it on, times
 * the database (timeouts.upstream_response from the end of the request until the
 * response head, timeouts.upstream_idle between reads after it), parses the response
 * head strictly (h1_parse_response: 100 Continue is swallowed, other 1xx are reported,
 * 101 only to a request that may upgrade), decides keep-alive, takes the body apart
 * (Content-Length, chunked, until close) and hands it over without copying. A complete
 * exchange on a reusable connection gives the connection back to the pool.
 *
 * Its user writes the request head and body in the framing it declared, answers its own
 * client, and applies back-pressure both ways: h1_client_request_room for the request,
 * h1_client_pause_read / resume_read / set_input_max for the response.
 *
 * Ownership: clients are recycled through per-worker spares (h1_client_worker_module),
 * so an exchange allocates nothing in steady state. After a final callback (on_head
 * with |end|, on_body with |last|, on_error) the client has let go of its connection
 * and timer and goes back to the spares by itself: the user forgets it there. Before
 * that, the user ends it early with h1_client_free, also from inside a callback (the
 * client then stops once the callback returns). */
#ifndef CG_PROXY_HTTP1_H1_CLIENT_H
#define CG_PROXY_HTTP1_H1_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "common/reason.h"
#include "common/str.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_parse.h"

/* Response heads from an HTTP/1.1 upstream are at most this long and have at most this
 * many fields: more is a malformed response (502). */
#define H1_MAX_RESPONSE_HEAD (64 * 1024)
#define H1_MAX_RESPONSE_HEADERS 200

struct h1_client;

/* What the client tells its user. |resp| and its fields (hop-by-hop ones marked,
 * h1_mark_hop_by_hop) are valid during the call only. */
struct h1_client_callbacks {
    /* write_head appends the request head (request line to the empty line, framing
     * fields included) to |out|, a new connection's output, and returns true when the
     * body will be chunk-encoded (h1_client_request_body then frames it). Called once
     * for each connection the request goes on: again after a retry. */
    bool (*write_head)(void *arg, struct evbuffer *out);
    /* on_writable: the database can take request bytes: right after write_head, and
     * whenever the output fell to the low-water mark while the request (or a tunnel)
     * goes on. */
    void (*on_writable)(void *arg);
    /* on_interim: a 1xx response other than 100 and 101 (103 Early Hints). NULL: they
     * are skipped. */
    void (*on_interim)(void *arg, const struct h1_response *resp);
    /* on_head: the final response head. With |end| the response has no body and this is
     * the final callback; otherwise on_body follows in the same read (possibly with no
     * bytes), so the user may hold the head back to send it with the first body bytes. */
    void (*on_head)(void *arg, const struct h1_response *resp, bool end);
    /* on_upgrade: 101 Switching Protocols to a request started with |upgrade|. The
     * connection is a tunnel afterwards: on_body carries the database's bytes (|last|
     * when it closed), h1_client_request_body the client's. NULL only if no request
     * may upgrade. */
    void (*on_upgrade)(void *arg, const struct h1_response *resp);
    /* on_body: the first |n| bytes of |src| are body: the user moves all of them out
     * before it returns (|n| may be 0). With |last| the body ends with them and this is
     * the final callback. */
    void (*on_body)(void *arg, struct evbuffer *src, size_t n, bool last);
    /* on_error (final): the exchange failed. Before on_head, |status| (502, 503, 504)
     * and |reason| are what the user answers its client; after it, the response is
     * truncated (|reason| says why). */
    void (*on_error)(void *arg, int status, enum cg_reason reason);
};

/* struct h1_client_request says how to carry one request. */
struct h1_client_request {
    size_t upstream_index; /* in config->upstreams: an http/1.1 upstream */
    struct cg_str method;  /* the request's method (HEAD and CONNECT change the response's
                              framing); the bytes must outlive the exchange */
    bool upgrade;          /* the head asks for an Upgrade: a 101 makes a tunnel */
    size_t input_max;      /* how many response bytes the user lets the connection buffer
                              (0: limits.buffer_high_water); the head always gets room
                              for H1_MAX_RESPONSE_HEAD */
};

/* h1_client_new returns an idle client of |ws| (the client connection's worker
 * snapshot: its upstream pools; a spare, or a new one) that will report to |cbs| with
 * |arg|. It holds no connection until h1_client_start. */
struct h1_client *h1_client_new(struct worker_snapshot *ws, const struct h1_client_callbacks *cbs,
                                void *arg);

/* h1_client_head returns an empty buffer that lives as long as the exchange, for a user
 * that keeps its request head there to write it again on each connection (write_head)
 * because what it was built from is gone by then. */
struct evbuffer *h1_client_head(struct h1_client *cl);

/* h1_client_start sends the request to a server of the upstream |req| names.
 * Callbacks may run before it returns: on_writable when a pooled
 * connection is ready at once, on_error when no server can be reached (503
 * no_healthy_server or upstream_unresolved, 502 upstream_connect_failed). */
void h1_client_start(struct h1_client *cl, const struct h1_client_request *req);

/* h1_client_free ends the exchange early: a connection still held is closed (never
 * pooled, its response is unknown), and the client goes back to the worker's spares.
 * NULL is a no-op; so is a second call from inside the same callback. */
void h1_client_free(struct h1_client *cl);

/* h1_client_request_room returns how many request bytes the connection takes before
 * its output reaches limits.buffer_high_water: 0 while no connection is ready. */
size_t h1_client_request_room(const struct h1_client *cl);

/* h1_client_request_body moves the first |n| bytes of |src| (n > 0) to the database, as
 * one chunk when the request is chunked (not in a tunnel). Only after on_writable. Once
 * body bytes went, a failed connection is not retried. */
void h1_client_request_body(struct h1_client *cl, struct evbuffer *src, size_t n);

/* h1_client_request_end says the request is complete (the last chunk is written when
 * it is chunked) and starts timeouts.upstream_response. It does nothing before
 * on_writable or when repeated on the same connection; an exchange whose request did
 * not end never returns its connection to the pool. */
void h1_client_request_end(struct h1_client *cl);

/* h1_client_pause_read stops reading the response (back-pressure: the user's client is
 * slow); h1_client_resume_read reads again, and delivers what is buffered from the
 * event loop, not from inside the call. */
void h1_client_pause_read(struct h1_client *cl);
void h1_client_resume_read(struct h1_client *cl);

/* h1_client_read_paused reports whether h1_client_pause_read is in force. */
bool h1_client_read_paused(const struct h1_client *cl);

/* h1_client_set_input_max bounds the response bytes the connection buffers after a read
 * to |max| (0: limits.buffer_high_water), for a user that moves every byte into a
 * buffer of its own with a limit. */
void h1_client_set_input_max(struct h1_client *cl, size_t max);

/* h1_client_response_us returns the microseconds from the request head sent to the
 * final response head (or 101), once on_head (or on_upgrade) was called; 0 before. */
uint64_t h1_client_response_us(const struct h1_client *cl);

/* h1_client_server returns the "ip:port" of the server the request went to (valid as
 * long as the process: see upstream_server_new), or "" before a connection was taken. */
const char *h1_client_server(const struct h1_client *cl);

/* The worker's clients: spares, the response-header array and the buffer a chunked body
 * is gathered in, each used by one read at a time. */
extern const struct worker_module h1_client_worker_module;

#endif
