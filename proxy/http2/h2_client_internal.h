/* Private to proxy/http2/h2_client*.c: the HTTP/2 client's sessions (one TCP or TLS
 * connection to one server, h2_client_session.c) and streams (one request on a session,
 * h2_client.c), and the calls between the two files.
 *
 * A stream is attached to a session of the server the upstream's balance picks
 * (h2_client_attach); the session counts it (num_streams, and a request in flight on
 * its struct upstream_target) from then until it leaves (h2_client_session_remove_stream):
 * closed by the database, failed, or retried elsewhere. */
#ifndef CG_PROXY_HTTP2_H2_CLIENT_INTERNAL_H
#define CG_PROXY_HTTP2_H2_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "proxy/http2/h2_client.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/net/sock.h"
#include "proxy/tls/tls_conn.h"

struct upstream_pool;
struct upstream_target;
struct tls_client;

/* Streams per session before the server's SETTINGS arrive. */
#define H2_CLIENT_DEFAULT_MAX_STREAMS 100
/* Attempts of a stream that no server processed (connect failures, REFUSED_STREAM). */
#define H2_CLIENT_MAX_RETRIES 3

/* Where a session is. */
enum uh2_state {
    UH2_CONNECTING = 0, /* TCP connect (then TLS handshake) in progress */
    UH2_READY,          /* HTTP/2 session running: takes new streams */
    UH2_GOAWAY,         /* the server sent GOAWAY: no new streams */
    UH2_DEAD,           /* over; freed from the loop */
};

struct h2_client_stream;

struct uh2_session {
    struct h2_client_pool *pool;
    struct upstream_target *target; /* the server (held for the session's life) */
    enum uh2_state state;
    struct sock sock;    /* h2c transport, or the connecting socket for h2 */
    struct evbuffer *in; /* h2c input */
    bool use_tls;
    struct tls_conn tls; /* h2 transport once connected */
    nghttp2_session *ng;
    struct evbuffer *out;
    struct event *ev_flush;
    struct event *ev_free;
    struct event *ev_idle;            /* timeouts.keepalive_idle without streams: close */
    struct event *ev_handshake;       /* h2: TCP connect and TLS handshake deadline */
    struct h2_client_stream *waiting; /* streams waiting for UH2_READY, FIFO */
    struct h2_client_stream **waiting_tail;
    unsigned num_streams;   /* waiting + submitted and not closed: requests in flight on
                               the target (h2_client_session_add_stream) */
    bool connected;         /* TCP connect succeeded */
    enum cg_reason failure; /* why the TLS handshake failed (a 502 reason), or NONE */
    struct uh2_session *prev, *next;
};

struct h2_client_pool {
    struct worker *w;
    const struct config_upstream *up;
    const struct config *cfg;
    struct upstream_pool *health; /* the worker's pool of the upstream: servers, health,
                                     counters */
    struct tls_client *tls;       /* h2 only: the upstream's TLS client (shared, not owned) */
    struct uh2_session *sessions;
};

struct h2_client_stream {
    struct worker_snapshot *ws; /* its client connection's snapshot: the sessions of
                                   that snapshot's upstream pools carry it */
    size_t upstream_index;
    struct uh2_session *sess;                     /* NULL between sessions */
    const struct h2_client_stream_callbacks *cbs; /* NULL once the front detached (a
                                                     final callback, or cancelled) */
    void *arg;
    const nghttp2_nv *nv; /* the request, the front's (valid while attached) */
    size_t num_nv;
    bool has_body;
    int32_t id; /* 0 until submitted */
    struct h2_fields resp;
    struct h2_fields trailers;
    int status;
    uint64_t sent_us;     /* monotonic, when the request was submitted */
    uint64_t response_us; /* from then to the response head (0 before it) */
    bool head_done;
    bool body_started; /* request bytes went to a session */
    bool deferred;
    uint32_t unacked; /* response bytes the client took since our last WINDOW_UPDATE */
    unsigned attempts;
    enum cg_reason failure;    /* why the last session it waited for failed, or NONE */
    struct h2_zombies *zombie; /* counted against the client's stream limit */
    struct event *ev_timer;    /* timeouts.upstream_response until the head */
    struct h2_client_stream *next_wait;
};

/* ---- h2_client_session.c ----------------------------------------------------------- */

/* h2_client_attach puts |b| on a session of the server the balance picks, opening one
 * if none has room; with no usable server it fails |b| (503, or 502 after a failed
 * attempt) and frees it. */
void h2_client_attach(struct h2_client_stream *b);

/* h2_client_session_schedule flushes |x| from the loop (one send per iteration). */
void h2_client_session_schedule(struct uh2_session *x);

/* h2_client_session_add_stream / _remove_stream count a stream that joins or leaves
 * |x|; removing the last one starts the idle timer. */
void h2_client_session_add_stream(struct uh2_session *x);
void h2_client_session_remove_stream(struct uh2_session *x);

/* ---- h2_client.c ------------------------------------------------------------------- */

/* h2_client_stream_send submits |b| on its session, which is ready; on failure it fails
 * and frees |b|. */
void h2_client_stream_send(struct h2_client_stream *b);

/* h2_client_stream_free frees |b| (its front is gone). */
void h2_client_stream_free(struct h2_client_stream *b);

/* h2_client_stream_fail fails the front of |b|, if still attached, with |status| and
 * |reason|, and forgets it. */
void h2_client_stream_fail(struct h2_client_stream *b, int status, enum cg_reason reason);

/* h2_client_stream_set_callbacks registers the nghttp2 callbacks of the streams
 * (headers, frames, data, close) in |cbs|. */
void h2_client_stream_set_callbacks(nghttp2_session_callbacks *cbs);

#endif
