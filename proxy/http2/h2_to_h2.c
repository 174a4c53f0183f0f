/* HTTP/2 stream -> HTTP/2 upstream (`protocol: "h2c"` or `"h2"`): the stream is carried
 * as a stream of the worker's shared upstream sessions (proxy/http2/h2_client.c), its
 * fields as they are (plus te: trailers for gRPC, proxy/http2/h2_server.c builds them),
 * trailers both ways (request trailers filtered first, proxy/http2/h2_trailers.h), flow
 * control end to end: the client's window reopens as the session takes request bytes,
 * the database's as the client takes response bytes. The backend state is the struct
 * h2_client_stream (s->backend), whose callbacks get the stream. */
#include <stdio.h>

#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_client.h"
#include "proxy/http2/h2_stream.h"

static size_t read_body(void *arg, uint8_t *buf, size_t len, bool *out_end,
                        const struct h2_fields **out_trailers)
{
    struct h2_stream *s = arg;
    int n = evbuffer_remove(s->req_body, buf, len);
    if (n < 0) {
        n = 0;
    }
    if (n > 0) {
        h2_stream_request_consumed(s, (size_t)n);
    }
    if (evbuffer_get_length(s->req_body) == 0 && s->req_end) {
        *out_end = true;
        *out_trailers = s->has_req_trailers ? &s->req_trailers : NULL;
    }
    return (size_t)n;
}

static void on_server(void *arg, const char *server)
{
    struct h2_stream *s = arg;
    snprintf(s->upstream, sizeof(s->upstream), "%s", server);
}

static void on_head(void *arg, int status, struct h2_fields *fields, bool end)
{
    struct h2_stream *s = arg;
    s->upstream_status = status;
    s->upstream_us = h2_client_stream_response_us(s->backend);
    h2_stream_response_head(s, status, fields, end);
}

static void on_data(void *arg, const uint8_t *data, size_t len)
{
    struct h2_stream *s = arg;
    evbuffer_add(s->resp_body, data, len);
    h2_stream_response_data(s);
}

static void on_end(void *arg, struct h2_fields *trailers)
{
    h2_stream_response_end(arg, trailers);
}

static void on_fail(void *arg, int status, enum cg_reason reason)
{
    h2_stream_fail(arg, status, grpc_status_from_http(status), reason);
}

static const struct h2_client_stream_callbacks stream_cbs = {
    .read_body = read_body,
    .on_server = on_server,
    .on_head = on_head,
    .on_data = on_data,
    .on_end = on_end,
    .on_fail = on_fail,
};

static void start(struct h2_stream *s)
{
    struct h2_client_stream *cs =
        h2_client_stream_new(s->c->ws, s->az.upstream_index, &stream_cbs, s);
    s->backend = cs;
    bool body = !(s->req_end && evbuffer_get_length(s->req_body) == 0 && !s->has_req_trailers);
    h2_client_stream_submit(cs, s->fwd.nv, s->fwd.num, body);
}

static void on_request_data(struct h2_stream *s)
{
    h2_client_stream_resume(s->backend);
}

static void on_response_consumed(struct h2_stream *s, size_t n)
{
    h2_client_stream_consumed(s->backend, n);
}

static void cancel(struct h2_stream *s)
{
    struct h2_client_stream *cs = s->backend;
    /* Until the database lets go of its stream, it counts against the client's
     * concurrent stream limit. */
    h2_client_stream_cancel(cs, h2_client_stream_submitted(cs) ? h2_stream_zombie_begin(s) : NULL);
}

const struct h2_backend_ops h2_h2_backend_ops = {
    .name = "h2",
    .start = start,
    .on_request_data = on_request_data,
    .on_response_consumed = on_response_consumed,
    .cancel = cancel,
};
