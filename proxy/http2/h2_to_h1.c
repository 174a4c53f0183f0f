/* HTTP/2 stream -> HTTP/1.1 upstream translation (docs/http2.md): each stream is one
 * exchange of the HTTP/1.1 client (proxy/http1/h1_client.c), which takes a connection of
 * the worker's upstream pool for its time. This backend's whole state is that client
 * (s->backend), whose callbacks get the stream.
 *
 * Request: ":method :path HTTP/1.1", Host from :authority (else the name the client's
 * connection asked for, as for HTTP/1.0 clients), the forwarded fields (cookie fields
 * joined with "; " as RFC 9113 §8.2.3 says), Content-Length when the client sent one,
 * else Transfer-Encoding: chunked when a body follows (proxy/http2/h2_to_h1_head.h).
 * Body bytes move from the stream to the socket only while the socket's output is under
 * the high-water mark, and each move reopens the client's window by the same amount.
 * Request trailers are dropped (HTTP/1.1 databases do not use them).
 *
 * Response: hop-by-hop fields and those listed in Connection dropped (nghttp2 lower-cases
 * the names), Content-Length kept for a length-delimited body only; the body, de-chunked
 * by the client, becomes DATA frames. What the stream holds for the client plus what the
 * socket may read next stays within h2_stream_buffer_limit: reads are sized to the room
 * left and pause when none is. */
#include <string.h>

#include "common/str.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_client.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_to_h1_head.h"

/* note_server copies the database's address into the stream, for the log. */
static void note_server(struct h2_stream *s)
{
    const char *server = h1_client_server(s->backend);
    size_t n = strlen(server);
    if (n >= sizeof(s->upstream)) {
        n = sizeof(s->upstream) - 1;
    }
    memcpy(s->upstream, server, n);
    s->upstream[n] = '\0';
}

/* pump moves body bytes to the socket while it has room. */
static void pump(struct h2_stream *s)
{
    struct h1_client *cl = s->backend;
    size_t room = h1_client_request_room(cl);
    if (room == 0) {
        return;
    }
    size_t avail = evbuffer_get_length(s->req_body);
    if (avail > 0) {
        size_t n = avail < room ? avail : room;
        h1_client_request_body(cl, s->req_body, n);
        h2_stream_request_consumed(s, n);
    }
    if (s->req_end && evbuffer_get_length(s->req_body) == 0) {
        h1_client_request_end(cl);
    }
}

/* bound_input keeps what the stream buffers for the client, plus what the upstream
 * socket may still read, within h2_stream_buffer_limit: reads are limited to the room
 * left, and stop (pause) when there is none. */
static void bound_input(struct h2_stream *s)
{
    struct h1_client *cl = s->backend;
    size_t limit = h2_stream_buffer_limit(s);
    size_t have = evbuffer_get_length(s->resp_body);
    if (have >= limit) {
        h1_client_pause_read(cl);
        return;
    }
    h1_client_set_input_max(cl, limit - have);
}

static bool write_head(void *arg, struct evbuffer *out)
{
    struct h2_stream *s = arg;
    note_server(s);
    struct h2_h1_head head = {
        .method = cg_str_from_cstr(s->method),
        .target = cg_str_from_cstr(s->path),
        /* nghttp2 refuses a request with neither :authority nor host, but HTTP/1.1
         * requires a Host: the name the client's connection asked for. */
        .host = s->authority != NULL ? cg_str_from_cstr(s->authority)
                                     : conn_default_host(s->c, s->az.upstream_index),
        .fields = s->fwd.nv,
        .num_fields = s->fwd.num,
        .content_length = s->content_length,
        .body_follows = !s->req_end || evbuffer_get_length(s->req_body) > 0,
    };
    return h2_h1_head_write(out, &head);
}

static void on_writable(void *arg)
{
    pump(arg);
}

static void on_head(void *arg, const struct h1_response *resp, bool end)
{
    struct h2_stream *s = arg;
    s->upstream_status = resp->status;
    s->upstream_us = h1_client_response_us(s->backend);
    /* Fields point into the connection's input; nghttp2 copies them (and lower-cases
     * the names) when the head is submitted, before the client drains them. */
    nghttp2_nv nva[H1_MAX_RESPONSE_HEADERS];
    size_t num = 0;
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct h1_header *hd = &resp->headers[i];
        if (hd->hop_by_hop) {
            continue;
        }
        if (resp->body != H1_BODY_LENGTH && resp->body != H1_BODY_NONE &&
            cg_str_case_eq(hd->name, CG_STR_LIT("content-length"))) {
            continue;
        }
        nva[num++] =
            (nghttp2_nv){(uint8_t *)(uintptr_t)hd->name.p, (uint8_t *)(uintptr_t)hd->value.p,
                         hd->name.len, hd->value.len, NGHTTP2_NV_FLAG_NONE};
    }
    h2_stream_response_head_nv(s, resp->status, nva, num, end);
}

static void on_body(void *arg, struct evbuffer *src, size_t n, bool last)
{
    struct h2_stream *s = arg;
    if (n > 0) {
        evbuffer_remove_buffer(src, s->resp_body, n);
    }
    if (last) {
        h2_stream_response_end(s, NULL);
        return;
    }
    if (n > 0) {
        h2_stream_response_data(s);
    }
    bound_input(s);
}

static void on_error(void *arg, int status, enum cg_reason reason)
{
    struct h2_stream *s = arg;
    note_server(s);
    h2_stream_fail(s, status, grpc_status_from_http(status), reason);
}

static const struct h1_client_callbacks client_cbs = {
    .write_head = write_head,
    .on_writable = on_writable,
    .on_head = on_head,
    .on_body = on_body,
    .on_error = on_error,
};

static void start(struct h2_stream *s)
{
    struct h1_client *cl = h1_client_new(s->c->ws, &client_cbs, s);
    s->backend = cl;
    struct h1_client_request req = {
        .upstream_index = s->az.upstream_index,
        .method = cg_str_from_cstr(s->method),
        .input_max = h2_stream_buffer_limit(s),
    };
    h1_client_start(cl, &req);
}

static void on_request_data(struct h2_stream *s)
{
    pump(s);
}

static void on_response_consumed(struct h2_stream *s, size_t n)
{
    struct h1_client *cl = s->backend;
    if (!s->resp_submitted) {
        return; /* the head still needs its room */
    }
    size_t limit = h2_stream_buffer_limit(s);
    size_t have = evbuffer_get_length(s->resp_body);
    if (!h1_client_read_paused(cl)) {
        if (have < limit) {
            h1_client_set_input_max(cl, limit - have); /* more room */
        }
    } else if (have < limit / 2) {
        h1_client_set_input_max(cl, limit - have);
        h1_client_resume_read(cl); /* delivers from the loop, not from here */
    }
}

static void cancel(struct h2_stream *s)
{
    h1_client_free(s->backend);
}

const struct h2_backend_ops h2_h1_backend_ops = {
    .name = "http/1.1",
    .start = start,
    .on_request_data = on_request_data,
    .on_response_consumed = on_response_consumed,
    .cancel = cancel,
};
