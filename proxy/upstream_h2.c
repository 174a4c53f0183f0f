#include "proxy/http2_stream.h"
#include "proxy/grpc.h"

static void start(struct h2_stream *s)
{
    h2_stream_fail(s, 502, GRPC_UNAVAILABLE, "h2_upstream_unavailable");
}
static void nop(struct h2_stream *s)
{
}
static void nop2(struct h2_stream *s, size_t n)
{
}
const struct h2_backend_ops upstream_h2_backend_ops = {
    .name = "h2", .start = start, .on_request_data = nop, .on_response_consumed = nop2, .cancel = nop,
};
