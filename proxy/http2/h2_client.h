/* Multiplexed HTTP/2 client sessions to the servers of an h2c or h2 upstream, one set
 * per worker (h2_client_worker_module), shared by the requests of every client
 * connection on that worker, whatever their front protocol: HTTP/2 streams
 * (proxy/http2/h2_to_h2.c) and HTTP/1.1 exchanges (proxy/http2/h1_to_h2.c) each open a
 * struct h2_client_stream.
 *
 * A stream goes to the server the upstream's balance picks among the usable ones
 * (upstream_pool_pick: round robin, or the fewest streams in flight), on a session to
 * it that has room under the server's SETTINGS_MAX_CONCURRENT_STREAMS (else a new
 * session is opened; proxy/http2/h2_client_session.c). Connect failures mark the server
 * down through the worker's struct upstream_pool (the same health as HTTP/1.1); a
 * server that leaves the upstream gets no new stream and its idle sessions close. After a GOAWAY from the database a session takes no new
 * streams; streams it refused (above last-stream-id, or REFUSED_STREAM) that sent no
 * body yet are retried on another session, others fail with 502. Flow control is end
 * to end: the database's window for a response opens only as the front reports that
 * its client took the bytes (h2_client_stream_consumed). For h2 the TLS is the
 * upstream's struct tls_client (proxy/tls/tls_client.h): connect and handshake within
 * timeouts.upstream_connect, the server's certificate verified; a failed handshake
 * marks the server down, and streams that find no other server fail with 502 and the
 * reason (e.g. CG_REASON_UPSTREAM_TLS_VERIFY_FAILED).
 *
 * Ownership: a front creates a stream (h2_client_stream_new), submits it, and stays
 * attached until a final callback (on_head with |end|, on_end, on_fail) or until it
 * calls h2_client_stream_cancel; afterwards it forgets the stream, which frees itself
 * when the database lets go of it. */
#ifndef CG_PROXY_HTTP2_H2_CLIENT_H
#define CG_PROXY_HTTP2_H2_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "proxy/core/worker.h"

#include "common/reason.h"

struct h2_fields;
struct h2_zombies;
struct h2_client_stream;

/* What a stream tells its front; called only while the front is attached. */
struct h2_client_stream_callbacks {
    /* read_body copies up to |len| request body bytes into |buf| and returns how many.
     * With the last ones it sets *out_end, and *out_trailers to the request trailers to
     * send (fields the database may see; NULL or empty for none). Returning 0 without
     * the end defers the body until h2_client_stream_resume. */
    size_t (*read_body)(void *arg, uint8_t *buf, size_t len, bool *out_end,
                        const struct h2_fields **out_trailers);
    /* on_server: the stream goes to a session of |server| ("ip:port", valid as long as
     * the process: upstream_server_new), for the log; again if it is retried elsewhere. */
    void (*on_server)(void *arg, const char *server);
    /* on_head: the final response head: :status and the regular fields (interim 1xx
     * heads are skipped). With |end| the response has no body and this is the final
     * callback. */
    void (*on_head)(void *arg, int status, struct h2_fields *fields, bool end);
    /* on_data: |len| bytes of the response body. The database's window for them opens
     * only through h2_client_stream_consumed. */
    void (*on_data)(void *arg, const uint8_t *data, size_t len);
    /* on_end (final): the response ended, with |trailers| (NULL or empty for none). */
    void (*on_end)(void *arg, struct h2_fields *trailers);
    /* on_fail (final): the stream failed; |status| (502, 503, 504) and |reason| are what
     * the front answers when no response head reached its client yet. */
    void (*on_fail)(void *arg, int status, enum cg_reason reason);
};

/* h2_client_stream_new creates a stream of |ws| (the client connection's worker
 * snapshot, whose sessions carry it) towards upstream |upstream_index| (an h2c or h2
 * upstream) that reports to |cbs| with |arg|. Nothing is sent before
 * h2_client_stream_submit. */
struct h2_client_stream *h2_client_stream_new(struct worker_snapshot *ws, size_t upstream_index,
                                              const struct h2_client_stream_callbacks *cbs,
                                              void *arg);

/* h2_client_stream_submit sends the request: |nv| (|num| entries, pseudo-headers
 * first) stays valid and unchanged while the front is attached (a retry submits it
 * again); with |has_body| read_body supplies a body (or trailers). Callbacks may run
 * before it returns (on_fail when no server can be reached). */
void h2_client_stream_submit(struct h2_client_stream *cs, const nghttp2_nv *nv, size_t num,
                             bool has_body);

/* h2_client_stream_resume: read_body has new bytes (or the end) after it deferred. */
void h2_client_stream_resume(struct h2_client_stream *cs);

/* h2_client_stream_consumed: the front's client took |n| response bytes; the database's
 * window for the stream reopens (a quarter of the stream window at a time). */
void h2_client_stream_consumed(struct h2_client_stream *cs, size_t n);

/* h2_client_stream_submitted reports whether the database knows the stream (it has an
 * id on a session): cancelling it then leaves work running until the database lets go. */
bool h2_client_stream_submitted(const struct h2_client_stream *cs);

/* h2_client_stream_response_us returns the microseconds from the request submitted to
 * its response head, once on_head was called (0 before); valid while the front holds
 * |cs| or is inside one of its callbacks. */
uint64_t h2_client_stream_response_us(const struct h2_client_stream *cs);

/* h2_client_stream_cancel detaches the front: no callback runs afterwards. A stream
 * the database knows is reset (RST_STREAM CANCEL) and freed when its session closes
 * it; until then it holds |zombie| (NULL: none; see h2_stream_zombie_begin) and ends it
 * with h2_zombie_end. */
void h2_client_stream_cancel(struct h2_client_stream *cs, struct h2_zombies *zombie);

/* The per-worker sessions of every h2c and h2 upstream; closing a worker closes them
 * without callbacks (client streams are gone by then). */
extern const struct worker_module h2_client_worker_module;

#endif
