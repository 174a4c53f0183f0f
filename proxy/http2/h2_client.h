/* Multiplexed HTTP/2 client sessions to the servers of an h2c or h2 upstream, one set
 * per worker (h2_client_worker_module), shared by the streams of every client
 * connection on that worker.
 *
 * A stream joins a session of the next healthy server that has room under the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS (else a new session is opened). Connect
 * failures mark the server down through the worker's struct upstream_pool (the same
 * health as HTTP/1.1). After a GOAWAY from the database a session takes no new
 * streams; streams it refused (above last-stream-id, or REFUSED_STREAM) that sent no
 * body yet are retried on another session, others fail with 502 / grpc-status 14.
 * Flow control is end to end: the database's window for a response opens as the client
 * takes the bytes. For h2 the TLS is the upstream's struct tls_client
 * (proxy/tls/tls_client.h): connect and handshake within timeouts.upstream_connect, the
 * server's certificate verified; a failed handshake marks the server down, and streams
 * that find no other server fail with 502 and the reason (e.g.
 * "upstream_tls_verify_failed"). The stream side is struct h2_backend_ops
 * h2_client_backend_ops (proxy/http2/h2_stream.h). */
#ifndef CG_PROXY_HTTP2_H2_CLIENT_H
#define CG_PROXY_HTTP2_H2_CLIENT_H

#include "proxy/core/worker.h"

/* The per-worker sessions of every h2c and h2 upstream; closing a worker closes them
 * without callbacks (client streams are gone by then). */
extern const struct worker_module h2_client_worker_module;

#endif
