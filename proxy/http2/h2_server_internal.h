/* What the files of the HTTP/2 server share: proxy/http2/h2_server.c (the nghttp2
 * session of a client connection, its callbacks and I/O, the budget of frames without
 * progress), proxy/http2/h2_stream.c (a stream's life from allocation to reuse, and the
 * response it sends: the h2_stream_* functions of h2_stream.h) and
 * proxy/http2/h2_request.c (a stream's request: its fields as they arrive, the checks
 * and the authorization when its head is complete, what goes upstream, its body
 * timers). Private to proxy/http2/. */
#ifndef CG_PROXY_HTTP2_H2_SERVER_INTERNAL_H
#define CG_PROXY_HTTP2_H2_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "proxy/http2/h2_stream.h"

struct h2_worker;

/* Upstream work still being cancelled for streams already closed (shared with the
 * backends holding it, freed by the last reference). */
struct h2_zombies {
    unsigned num;
    unsigned refs;
};

/* struct h2_server is one client connection's HTTP/2 session (h2_protocol's state). */
struct h2_server {
    struct client_conn *c;
    const struct h2_backends *backends; /* by upstream protocol (proxy/protocols.c) */
    struct h2_worker *hw; /* this worker's HTTP/2 state */
    struct h2_zombies *zombies;
    const struct config *cfg;
    nghttp2_session *ng;
    struct evbuffer *out;      /* frames on their way to tls_conn_write */
    struct event *ev_flush;    /* runs flush() from the loop */
    struct h2_stream *streams; /* live streams (user data of nghttp2 streams) */
    unsigned num_streams;
    struct h2_stream *pending; /* authorized, to start after the current read */
    struct h2_stream **pending_tail;
    bool drain_ping; /* the shutdown notice's PING is out: its ACK brings the final
                        GOAWAY */
    bool draining;        /* GOAWAY submitted (at first the shutdown notice) */
    bool paused;          /* we paused reading for output back-pressure */
    bool failed;          /* nghttp2 reported a fatal error */
    bool got_frame;       /* a first frame arrived (else request_header runs) */
    bool flush_scheduled; /* ev_flush is active */

    /* Frames without progress (see spend in h2_server.c). */
    uint32_t idle_budget;    /* tokens left, at most limits.h2_max_no_progress_frames */
    uint64_t idle_budget_us; /* monotonic time the budget last earned a second's token */
};

/* h2_server_schedule makes the event loop flush |h|'s frames to the client once the
 * current callback returns (at most one flush pending). */
static inline void h2_server_schedule(struct h2_server *h)
{
    if (!h->flush_scheduled) {
        h->flush_scheduled = true;
        event_active(h->ev_flush, EV_TIMEOUT, 0);
    }
}

/* ---- proxy/http2/h2_stream.c ---- */

/* h2_stream_new returns a fresh stream for stream |id| of |h| (a spare of the worker's,
 * or a new one): all zero but for its session, id, start time and the -1 of
 * content_length and grpc_status, and linked into h->streams. The first stream stops
 * the connection's idle timer. Never fails (allocation aborts). */
struct h2_stream *h2_stream_new(struct h2_server *h, int32_t id);

/* h2_stream_free ends a stream nghttp2 closed (or that its connection takes along):
 * it cancels the backend, takes |s| off the start queue, writes its access log line,
 * unlinks it from its session and keeps it as a spare of the worker (or frees it). */
void h2_stream_free(struct h2_stream *s);

/* h2_stream_cancel_backend detaches the backend through ops->cancel, if one is
 * attached. */
void h2_stream_cancel_backend(struct h2_stream *s);

/* h2_stream_answer gives certgate's own final answer on a stream whose response head
 * was not sent: a JSON error body with |status|, or gRPC trailers-only with
 * |grpc_status|; |reason| (static) goes to the log. */
void h2_stream_answer(struct h2_stream *s, int status, int grpc_status, enum cg_reason reason);

/* h2_stream_fail_here is h2_stream_fail for a reason found by the server itself: it
 * cancels the backend first. */
void h2_stream_fail_here(struct h2_stream *s, int status, int grpc_status,
                         enum cg_reason reason);

/* ---- proxy/http2/h2_request.c ---- */

/* h2_request_on_header is the nghttp2 on_header callback (|ud| the struct h2_server):
 * it collects a request field or trailer field into the stream, flagging a header list
 * over the limits (too_large) or a malformed one (bad) for h2_request_process. */
int h2_request_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud);

/* h2_request_on_data_chunk_recv is the nghttp2 on_data_chunk_recv callback: request
 * body bytes into s->req_body for the backend (max_body enforced). */
int h2_request_on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                                  const uint8_t *data, size_t len, void *ud);

/* h2_request_process runs when the request head of |s| is complete: it answers a
 * malformed or denied request itself, else builds what goes upstream and queues |s| on
 * h->pending, for start_pending to hand to the backend after the current read. */
void h2_request_process(struct h2_stream *s);

/* h2_request_trailers_done runs when the request trailers of |s| are complete: it
 * answers 431 to trailers over the limits, drops the fields that may not be forwarded
 * and ends the request. */
void h2_request_trailers_done(struct h2_stream *s);

/* h2_request_data_changed tells the backend that request bytes arrived or the request
 * ended, and rearms the body-idle timer. */
void h2_request_data_changed(struct h2_stream *s);

#endif
