/* One HTTP/2 request stream of a client connection, and the interface between the
 * client-facing session (proxy/http2/h2_server.c, which owns every struct h2_stream) and
 * the backend that carries the request to the database: proxy/http2/h2_to_h1.c (HTTP/1.1
 * translation, over proxy/http1/h1_client.c) or proxy/http2/h2_to_h2.c (a stream of the
 * multiplexed h2c / h2 sessions of proxy/http2/h2_client.c).
 *
 * Ownership: the server allocates a stream when its HEADERS begin and frees it when
 * nghttp2 closes it, never from inside a backend callback. A backend is attached with
 * s->ops / s->backend when the request is authorized; it detaches itself (and frees
 * its own state) when it calls h2_stream_response_end or h2_stream_fail, and the server
 * detaches it through ops->cancel when the stream goes away first. After either, no
 * call crosses between them, and the backend keeps no pointer to the stream: a freed
 * stream's memory serves a later stream of the same worker.
 *
 * Bytes: request DATA accumulates in s->req_body; the backend removes what it forwards
 * and reports it with h2_stream_request_consumed, which reopens the client's flow
 * control window by exactly that much (so the window never exceeds what is buffered).
 * Response bytes go the other way through s->resp_body; the server reports what the
 * client took with ops->on_response_consumed. */
#ifndef CG_PROXY_HTTP2_H2_STREAM_H
#define CG_PROXY_HTTP2_H2_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "config/config.h"
#include "proxy/core/authz.h"

#include "common/reason.h"

struct client_conn;
struct config;
struct config_limits;
struct h2_server;
struct h2_stream;

/* struct h2_fields is a list of header fields. Copied bytes live in blocks owned by
 * the list that never move, so every nv entry points at its bytes as soon as it is
 * added; clearing keeps the newest block for reuse. Every name and value is followed
 * by a NUL (values may be used as C strings). An all-zero struct is an empty list. */
struct h2_fields_block;
struct h2_fields {
    nghttp2_nv *nv; /* num entries, cap allocated */
    size_t num, cap;
    struct h2_fields_block *block; /* newest block of copied bytes, older ones follow */
};

/* Flags of h2_fields_add_ex. */
#define H2F_LOWER 0x1u     /* lower-case the (copied) name */
#define H2F_REF_NAME 0x2u  /* refer to |name| instead of copying it */
#define H2F_REF_VALUE 0x4u /* refer to |value| instead of copying it */

/* h2_fields_add_ex appends one field. Without H2F_REF_* it copies name and value;
 * with them the list refers to the caller's bytes, which must be NUL-terminated and
 * outlive every use of the list (static strings, the stream's own request fields,
 * per-connection values). H2F_LOWER applies to copied names only. */
void h2_fields_add_ex(struct h2_fields *f, const char *name, size_t name_len, const char *value,
                      size_t value_len, unsigned flags);

/* h2_fields_add appends a copy of one field; |lower| lower-cases the name. */
static inline void h2_fields_add(struct h2_fields *f, const char *name, size_t name_len,
                                 const char *value, size_t value_len, bool lower)
{
    h2_fields_add_ex(f, name, name_len, value, value_len, lower ? H2F_LOWER : 0);
}

/* h2_fields_store copies |len| bytes of |p| into the list's storage, NUL-terminated,
 * without adding a field: the copy lives until h2_fields_clear or _cleanup. With |p|
 * NULL the |len| bytes are left for the caller to fill. */
char *h2_fields_store(struct h2_fields *f, const char *p, size_t len);

/* h2_fields_find returns the first field called |name| (exact bytes) or NULL. */
const nghttp2_nv *h2_fields_find(const struct h2_fields *f, const char *name);
/* h2_fields_clear empties the list and keeps its newest block and entry array. */
void h2_fields_clear(struct h2_fields *f);
/* h2_fields_recycle is h2_fields_clear for a list about to be reused by another
 * request: it keeps the storage only when it is of ordinary size. */
void h2_fields_recycle(struct h2_fields *f);
/* h2_fields_cleanup frees everything; the list is empty (all zero) afterwards. */
void h2_fields_cleanup(struct h2_fields *f);

/* Operations a backend offers to the stream. Each may be called only while attached. */
struct h2_backend_ops {
    const char *name;
    /* start forwards the authorized request (s->fwd); errors are reported through
     * h2_stream_fail, possibly from inside start. */
    void (*start)(struct h2_stream *s);
    /* on_request_data: new bytes in s->req_body, or s->req_end became true. */
    void (*on_request_data)(struct h2_stream *s);
    /* on_response_consumed: the client took |n| bytes out of s->resp_body. */
    void (*on_response_consumed)(struct h2_stream *s, size_t n);
    /* cancel: the stream is going away (client reset, deadline, connection end): stop
     * all work, free the backend state, never call the stream again. */
    void (*cancel)(struct h2_stream *s);
};

/* Where a stream is. */
enum h2_stream_state {
    H2S_HEADERS = 0, /* the request head is arriving */
    H2S_PENDING,     /* authorized, waiting to be started after the current read */
    H2S_FORWARDING,  /* a backend carries it */
    H2S_DONE,        /* certgate or the backend gave the final answer; closing */
};

struct h2_stream {
    struct h2_server *h;
    struct client_conn *c;
    const struct config *cfg;
    int32_t id;
    enum h2_stream_state state;

    /* Request as received. */
    struct h2_fields req; /* regular fields, lower case, in order */
    /* Pseudo-header copies (in req's storage) or NULL; path becomes the normalized
     * target once decided, authority the Host field's value when :authority is absent. */
    const char *method, *scheme, *authority, *path;
    size_t header_bytes; /* RFC 9113 size (name + value + 32) so far */
    bool too_large;      /* header list over the limit: answer 431 */
    bool bad;            /* malformed in a way nghttp2 lets through: 400 */
    bool is_grpc;        /* content-type application/grpc* */
    bool req_end;        /* END_STREAM received */
    bool has_req_trailers;
    /* Request trailers, lower case; once req_end, only the fields that may be
     * forwarded (proxy/http2/h2_trailers.h). */
    struct h2_fields req_trailers;
    int64_t content_length;    /* -1 when absent */
    uint64_t grpc_timeout_ms;  /* 0 when absent */
    struct evbuffer *req_body; /* DATA not yet taken by the backend */
    uint64_t bytes_in;

    /* Decision and what goes upstream. */
    bool decided;
    struct authz_result az; /* for the log; az.headers/path are stale later */
    struct h2_fields fwd;   /* :method :scheme :authority :path, then fields */
    char request_id[40];
    char upstream[64]; /* server "ip:port" for the log */
    int upstream_status;    /* (backend sets) the database's status; 0 when none came */
    uint64_t upstream_us;   /* (backend sets) request sent to the database's response head */
    const char *user_agent; /* the user-agent field's value (in req's storage) or NULL */
    uint64_t start_us;
    struct event *ev_deadline;  /* grpc-timeout */
    struct event *ev_body_idle; /* timeouts.client_body_idle between DATA frames of a
                                   request body (not for gRPC); created on demand */

    /* Response. */
    int status;
    bool resp_submitted; /* response HEADERS submitted */
    bool resp_end;       /* no more body bytes will come */
    bool deferred;       /* the data provider returned DEFERRED */
    struct h2_fields resp_trailers;
    struct evbuffer *resp_body; /* bytes for the client's DATA frames */
    uint64_t bytes_out;
    int grpc_status; /* -1 unless known, for the log */
    enum cg_reason reason;
    bool logged;

    const struct h2_backend_ops *ops; /* NULL when no backend is attached */
    void *backend;
    struct h2_stream *next_pending; /* h2_server's start queue */
    bool queued;                    /* on that queue */
    struct h2_stream *prev, *next;  /* h2_server's list of live streams */
};

/* h2_stream_response_head submits the response head. |fields| (regular fields,
 * lower case) is copied. With |end_stream| the response has no body and the backend
 * is detached. */
void h2_stream_response_head(struct h2_stream *s, int status, struct h2_fields *fields,
                             bool end_stream);

/* h2_stream_response_head_nv is h2_stream_response_head with the fields as |num|
 * entries of |nva| (regular fields; names in any case: nghttp2 lower-cases them as it
 * copies them, before this returns). */
void h2_stream_response_head_nv(struct h2_stream *s, int status, const nghttp2_nv *nva, size_t num,
                                bool end_stream);

/* h2_stream_response_data tells that bytes were appended to s->resp_body. */
void h2_stream_response_data(struct h2_stream *s);

/* h2_stream_response_end ends the body, with |trailers| (copied; NULL or empty for
 * none). The backend is detached. */
void h2_stream_response_end(struct h2_stream *s, struct h2_fields *trailers);

/* h2_stream_fail ends the stream with an error: before the head, a JSON error response
 * |status| (or gRPC trailers-only |grpc_status|); after it, gRPC trailers with
 * |grpc_status| or RST_STREAM INTERNAL_ERROR. The backend is detached. */
void h2_stream_fail(struct h2_stream *s, int status, int grpc_status, enum cg_reason reason);

/* h2_stream_request_consumed reopens the client's window by |n| bytes the backend
 * took out of s->req_body. */
void h2_stream_request_consumed(struct h2_stream *s, size_t n);

/* h2_response_buffer_limit returns how many response bytes one stream may buffer for
 * its client before certgate stops reading the database for it: max(buffer_high_water
 * / 4, 64 KiB). The HTTP/2 upstream advertises it as its stream window. */
size_t h2_response_buffer_limit(const struct config_limits *lim);

/* h2_stream_buffer_limit returns h2_response_buffer_limit for the stream's
 * configuration: a backend stops reading from the database once s->resp_body and what
 * it has read besides reach it. */
size_t h2_stream_buffer_limit(const struct h2_stream *s);

/* h2_stream_zombie_begin is called by a backend whose cancel leaves work running after
 * the stream is gone (an upstream RST_STREAM not yet sent): until h2_zombie_end, that
 * work counts against the client connection's concurrent stream limit, so a client
 * cannot open and reset streams faster than the database lets go of them. The returned
 * handle stays valid even if the connection ends first. */
struct h2_zombies *h2_stream_zombie_begin(struct h2_stream *s);
void h2_zombie_end(struct h2_zombies *z);

/* h2_stream_log_id writes "w1c2s3" for logs. */
const char *h2_stream_log_id(const struct h2_stream *s, char *buf, size_t cap);

/* struct h2_backends says which backend carries a stream to each kind of upstream
 * (the argument h2_protocol's attach gets; proxy/protocols.c defines it). */
struct h2_backends {
    const struct h2_backend_ops *by_upstream[CONFIG_UPSTREAM_NUM_PROTOCOLS];
};

/* The HTTP/1.1 translation backend (proxy/http2/h2_to_h1.c). */
extern const struct h2_backend_ops h2_h1_backend_ops;

/* The h2c / h2 backend: streams of the worker's upstream sessions (proxy/http2/h2_to_h2.c
 * over proxy/http2/h2_client.c). */
extern const struct h2_backend_ops h2_h2_backend_ops;

#endif
