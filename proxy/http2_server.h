/* HTTP/2 on a client connection (ALPN "h2"): one nghttp2 server session driven by the
 * TLS glue, one struct h2_stream per request (proxy/http2_stream.h), each authorized on
 * its own and forwarded by a backend chosen by the listener's upstream protocol
 * (HTTP/1.1 translation, or h2c / h2 multiplexing in proxy/upstream_h2.c).
 *
 * Protections (docs/http2.md): SETTINGS_MAX_CONCURRENT_STREAMS, a header list limit,
 * CONTINUATION and RST_STREAM rate limits, bounded outbound ACKs, a budget of frames
 * without progress (empty DATA, PRIORITY, PING, SETTINGS floods), request trailers
 * filtered like heads (proxy/http2_trailers.h), flow-control windows
 * that open only as fast as the database takes request bytes, the h2_idle timeout and a
 * graceful GOAWAY on drain. */
#ifndef CG_PROXY_HTTP2_SERVER_H
#define CG_PROXY_HTTP2_SERVER_H

struct client_conn;
struct h2_server;
struct worker;

/* h2_server_new attaches HTTP/2 processing to |c| after its handshake. Returns NULL
 * (and aborts |c|) if the session cannot be created. */
struct h2_server *h2_server_new(struct client_conn *c);

/* h2_server_free cancels every stream's backend and frees the session. NULL is a
 * no-op. */
void h2_server_free(struct h2_server *h);

/* Events forwarded by proxy/conn.c. */
void h2_server_on_read(struct h2_server *h);
void h2_server_on_drain(struct h2_server *h);
void h2_server_on_timer(struct h2_server *h);
/* h2_server_on_peer_closed: the client went away; streams in flight are logged. */
void h2_server_on_peer_closed(struct h2_server *h);
/* h2_server_begin_drain: GOAWAY with the last stream id; open streams finish, then the
 * connection closes. */
void h2_server_begin_drain(struct h2_server *h);

/* h2_spare_streams_free frees the streams worker |w| keeps for reuse
 * (w->spare_h2_streams). Called by worker_join once every connection is gone. */
void h2_spare_streams_free(struct worker *w);

#endif
