/* One HTTP/1.1 request/response exchange of a client connection, and the interface
 * between the HTTP/1.1 server (proxy/http1/h1_server.c, which owns every struct
 * h1_exchange) and the backend that carries the exchange to the database:
 * proxy/http1/h1_to_h1.c (an HTTP/1.1 upstream, over proxy/http1/h1_client.c, Upgrade
 * tunnels included) or proxy/http2/h1_to_h2.c (a stream on the worker's HTTP/2 upstream
 * sessions). The server parses, authorizes, answers errors, keeps connections alive,
 * pipelines, answers Expect: 100-continue and logs; the backend carries the exchange.
 *
 * Ownership (as for HTTP/2 streams, proxy/http2/h2_stream.h): the server attaches a
 * backend (ex->ops, ex->backend) once the request is authorized and calls ops->start.
 * The backend detaches itself when it calls h1_exchange_response_end or
 * h1_exchange_fail; the server detaches it through ops->cancel when the exchange ends
 * first (the client went away or timed out, a malformed body, a body over
 * limits.max_body). After either, no call crosses between them. The server frees no
 * exchange from inside a backend call.
 *
 * Request body: the server reads the client only once the backend asked for body bytes
 * with h1_exchange_request_resume (the first call answers 100 Continue to a client that
 * expects it). It takes the framing off (Content-Length or chunked; chunk extensions and
 * request trailers are dropped) into ex->req_body and calls ops->on_request_body; the
 * backend removes what its database takes and calls h1_exchange_request_resume again
 * when it has room. The server stops reading while ex->req_body holds
 * limits.buffer_high_water bytes. After an Upgrade the client's bytes arrive the same
 * way, unframed.
 *
 * Response: the backend writes the head, the body and the end; the server frames them
 * for its client: Content-Length when the backend knows the length, chunked for a body
 * of unknown length (HTTP/1.1 clients; trailers are kept there), the end of the
 * connection for HTTP/1.0 clients. When h1_exchange_response_full says the client is
 * slow, the backend stops reading its database until ops->on_response_drain. */
#ifndef CG_PROXY_HTTP1_H1_EXCHANGE_H
#define CG_PROXY_HTTP1_H1_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"
#include "proxy/core/authz.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_parse.h"

#include "common/reason.h"

struct client_conn;
struct h1_exchange;
struct h1_server;

/* Paths up to this length live inside struct h1_exchange; longer ones get the heap. */
#define H1_EXCHANGE_PATH_INLINE 240
#define H1_EXCHANGE_MAX_METHOD 32
#define H1_EXCHANGE_MAX_HOST 256
#define H1_EXCHANGE_MAX_USER_AGENT 255 /* longer ones are cut for the access log */

/* Operations a backend offers the server. Each is called only while it is attached. */
struct h1_backend_ops {
    const char *name;
    /* start carries the authorized request. |req| is its parsed head: its slices are
     * valid until the backend first calls an h1_exchange_* function, so the backend
     * copies what it needs first. Errors go through h1_exchange_fail, possibly from
     * inside start. */
    void (*start)(struct h1_exchange *ex, const struct h1_request *req);
    /* on_request_body: bytes were added to ex->req_body, or ex->req_end became true. */
    void (*on_request_body)(struct h1_exchange *ex);
    /* on_response_drain: the client took what was queued for it (its TLS output fell
     * below the low-water mark). */
    void (*on_response_drain)(struct h1_exchange *ex);
    /* cancel: the exchange is going away: stop, free the backend state, never call the
     * exchange again. */
    void (*cancel)(struct h1_exchange *ex);
};

/* struct h1_backends says which backend carries an exchange to each kind of upstream
 * (the argument h1_protocol's attach gets; proxy/protocols.c defines it). */
struct h1_backends {
    const struct h1_backend_ops *by_upstream[CONFIG_UPSTREAM_NUM_PROTOCOLS];
};

/* The HTTP/1.1 upstream backend (proxy/http1/h1_to_h1.c). */
extern const struct h1_backend_ops h1_h1_backend_ops;

/* struct h1_exchange is one request and its response. It is about 1.5 KiB plus an
 * evbuffer and an event, so it is not part of the connection: exchanges are recycled
 * through the worker's spare list, which keeps idle keep-alive connections small and
 * spares a busy worker allocations per request. The server resets a used one to the
 * all-zero request state and keeps what it owns. Fields marked (backend) are the
 * backend's to read; the rest is the server's. */
struct h1_exchange {
    struct h1_server *h;           /* owner while attached; NULL when spare */
    struct client_conn *c;         /* (backend) the client connection */
    struct h1_exchange *next_free; /* link in the worker's spare list */
    struct event *ev_next;         /* continues with the client's input from the loop */
    struct evbuffer *req_body;     /* (backend) request body bytes the backend has not
                                      taken yet, framing removed */

    /* The request (copied out of the receive buffer). */
    char method[H1_EXCHANGE_MAX_METHOD + 1]; /* (backend) */
    char host[H1_EXCHANGE_MAX_HOST + 1];     /* (backend) Host (or the target's
                                                authority) as received; "" if none */
    char *path; /* (backend) the normalized target: path_inline, or the heap */
    size_t path_cap;
    char path_inline[H1_EXCHANGE_PATH_INLINE];
    char request_id[WORKER_REQUEST_ID_SIZE];
    char user_agent[H1_EXCHANGE_MAX_USER_AGENT + 1]; /* for the access log; "" if none */
    int minor;         /* (backend) the client's HTTP minor version */
    bool head_request; /* (backend) method HEAD */
    bool client_close; /* close after this response */
    bool expect_continue;
    bool continue_sent;
    bool upgrade;                  /* (backend) the client asked for an Upgrade */
    enum h1_body_kind req_framing; /* (backend) NONE, LENGTH or CHUNKED as the client
                                      framed the body */
    uint64_t req_length;           /* (backend) the Content-Length with H1_BODY_LENGTH */
    uint64_t req_remaining;        /* Content-Length bytes not yet read */
    struct h1_chunked req_chunk;
    bool req_wanted;   /* the backend asked for body bytes (h1_exchange_request_resume) */
    bool req_end;      /* (backend) the whole body is in req_body or was taken */
    uint64_t bytes_in; /* request body bytes */
    uint64_t start_us; /* monotonic, when the request started */
    size_t head_len;   /* bytes of the request head still at the start of the client's
                          input (the slices start gets point there) */

    /* The response. */
    bool resp_head_done; /* the head was written (perhaps held back, head_held) */
    bool head_held;      /* the head waits in the worker's scratch buffer for body bytes */
    int status;
    bool resp_chunked_out;  /* chunk-encoded towards the client */
    bool resp_done;         /* the end of the body went to the client */
    uint64_t bytes_out;     /* response body bytes */
    enum cg_reason reason;  /* why we answered ourselves / closed, for the log */
    const char *detail;     /* the parser's words for a malformed request, or NULL */
    const char *upstream;   /* (backend sets) "ip:port" of the database for the log
                               (configuration lifetime), or "" */
    int upstream_status;    /* (backend sets) the database's final status (or 101); 0
                               when it sent none */
    uint64_t upstream_us;   /* (backend sets) request head sent to its response head */
    bool decided;           /* |az| holds this request's decision */
    struct authz_result az; /* (backend, during start) identity headers to inject */

    const struct h1_backend_ops *ops; /* NULL when no backend is attached */
    void *backend;
};

/* struct h1_exchange_head is a response head for the server to write. */
struct h1_exchange_head {
    int status;
    struct cg_str reason;           /* empty: the standard text of |status| */
    const struct h1_header *fields; /* end-to-end fields: those marked hop_by_hop are
                                       skipped, Transfer-Encoding and Content-Length too
                                       (the server writes its own framing), except a
                                       Content-Length of a HEAD or 304 response */
    size_t num_fields;
    size_t fields_bound;     /* bytes the fields take as "name: value\r\n" lines at most,
                                when the backend knows (0: counted here) */
    enum h1_body_kind body;  /* NONE: no body; LENGTH: |content_length| bytes;
                                CHUNKED or UNTIL_CLOSE: a body of unknown length */
    uint64_t content_length; /* with H1_BODY_LENGTH */
};

/* h1_exchange_request_resume tells the server that the backend takes request body
 * bytes now: it reads the client again (what is already buffered is handled from the
 * event loop, never from inside this call) and answers 100 Continue the first time if
 * the client expects it. */
void h1_exchange_request_resume(struct h1_exchange *ex);

/* h1_exchange_response_interim writes and sends an interim (1xx) response. */
void h1_exchange_response_interim(struct h1_exchange *ex, const struct h1_exchange_head *head);

/* h1_exchange_response_head writes the final response head, with the framing the
 * server chooses for |head|'s body (and Connection: close when the connection ends
 * after this response). With |more| the head waits in the worker's scratch buffer to go
 * out with the first body bytes: the backend then calls h1_exchange_response_body or
 * _end before it returns to the event loop. */
void h1_exchange_response_head(struct h1_exchange *ex, const struct h1_exchange_head *head,
                               bool more);

/* h1_exchange_response_body moves the first |n| bytes of |src| (n may be 0) to the
 * client, framed, and sends what is queued. With |last| they end the body (the last
 * chunk goes in the same write) and h1_exchange_response_end must follow without
 * trailers. */
void h1_exchange_response_body(struct h1_exchange *ex, struct evbuffer *src, size_t n, bool last);

/* h1_exchange_response_end ends the response, with |trailers| (fields marked
 * hop_by_hop skipped) when the body is chunked towards the client; they are dropped
 * otherwise. The backend is detached; the connection goes on with the next request or
 * closes. After an Upgrade it ends the tunnel: the connection closes. */
void h1_exchange_response_end(struct h1_exchange *ex, const struct h1_header *trailers,
                              size_t num_trailers);

/* h1_exchange_fail ends the exchange with an error: before the response head, a JSON
 * error response |status| with |reason|; after it, the response is cut (the
 * connection is aborted, or closed after an Upgrade) and |reason| logged. The backend
 * is detached. */
void h1_exchange_fail(struct h1_exchange *ex, int status, enum cg_reason reason);

/* h1_exchange_upgrade writes |head| (status 101) with Connection: upgrade and the
 * Upgrade field among its fields, and turns the exchange into a tunnel: from now on
 * h1_exchange_response_body carries the database's bytes unframed, and the client's
 * arrive in ex->req_body. */
void h1_exchange_upgrade(struct h1_exchange *ex, const struct h1_exchange_head *head);

/* h1_exchange_response_full reports whether the client has more queued than
 * limits.buffer_high_water: the backend stops reading its database until
 * ops->on_response_drain. */
bool h1_exchange_response_full(const struct h1_exchange *ex);

#endif
