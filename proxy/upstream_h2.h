/* Multiplexed HTTP/2 client sessions to the servers of an h2c or h2 upstream, one set
 * per worker, shared by the streams of every client connection on that worker.
 *
 * A stream joins a session of the next healthy server that has room under the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS (else a new session is opened). Connect
 * failures mark the server down through the worker's struct upstream_pool (the same
 * health as HTTP/1.1). After a GOAWAY from the database a session takes no new
 * streams; streams it refused (above last-stream-id, or REFUSED_STREAM) that sent no
 * body yet are retried on another session, others fail with 502 / grpc-status 14.
 * Flow control is end to end: the database's window for a response opens as the client
 * takes the bytes. The stream side is struct h2_backend_ops upstream_h2_backend_ops
 * (proxy/http2_stream.h). */
#ifndef CG_PROXY_UPSTREAM_H2_H
#define CG_PROXY_UPSTREAM_H2_H

struct worker;
struct config_upstream;
struct upstream_pool;
struct upstream_h2_pool;

/* upstream_h2_pool_new creates worker |w|'s sessions for |up| (h2c or h2), using
 * |health| for server choice and down marks. For h2 it builds the client SSL_CTX
 * (tls.ca, optional tls.cert/key); a file that does not load is logged and every
 * stream then fails with 502. */
struct upstream_h2_pool *upstream_h2_pool_new(struct worker *w, const struct config_upstream *up,
                                              struct upstream_pool *health);

/* upstream_h2_pool_free closes every session without callbacks (client streams must be
 * gone). NULL is a no-op. */
void upstream_h2_pool_free(struct upstream_h2_pool *pool);

#endif
