/* HTTP/2 on a client connection (ALPN "h2"): one nghttp2 server session driven by the
 * TLS glue, one struct h2_stream per request (proxy/http2/h2_stream.h), each authorized
 * on its own and forwarded by a backend chosen by the listener's upstream protocol
 * (HTTP/1.1 translation in proxy/http2/h2_to_h1.c, or h2c / h2 multiplexing in
 * proxy/http2/h2_client.c).
 *
 * Protections (docs/http2.md): SETTINGS_MAX_CONCURRENT_STREAMS, a header list limit,
 * CONTINUATION and RST_STREAM rate limits, bounded outbound ACKs, a budget of frames
 * without progress (empty DATA, PRIORITY, PING, SETTINGS floods), request trailers
 * filtered like heads (proxy/http2/h2_trailers.h), flow-control windows that open only
 * as fast as the database takes request bytes, the h2_idle timeout and a graceful
 * GOAWAY on drain. */
#ifndef CG_PROXY_HTTP2_H2_SERVER_H
#define CG_PROXY_HTTP2_H2_SERVER_H

#include "proxy/core/conn.h"
#include "proxy/core/worker.h"

/* The protocol a listener serves "h2" with. Draining sends GOAWAY with the last stream
 * id; open streams finish, then the connection closes. */
extern const struct conn_protocol h2_protocol;

/* HTTP/2's per-worker state: streams kept for reuse. */
extern const struct worker_module h2_worker_module;

#endif
