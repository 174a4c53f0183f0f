/* HTTP/1.1 on a client connection: requests parsed by proxy/http1_parse.c, forwarded
 * to an HTTP/1.1 upstream with bodies streamed both ways under back-pressure,
 * keep-alive, pipelining, Expect: 100-continue and Upgrade tunnels. */
#ifndef CG_PROXY_HTTP1_SERVER_H
#define CG_PROXY_HTTP1_SERVER_H

struct client_conn;
struct h1_server;
struct worker;

/* h1_server_new attaches HTTP/1.1 processing to |c| after its handshake. */
struct h1_server *h1_server_new(struct client_conn *c);

/* h1_server_free gives the exchange in progress back to the worker (its upstream
 * connection is closed unless it was complete) and frees |h|. NULL is a no-op. */
void h1_server_free(struct h1_server *h);

/* Events forwarded by proxy/conn.c. */
void h1_server_on_read(struct h1_server *h);
void h1_server_on_drain(struct h1_server *h);
void h1_server_on_timer(struct h1_server *h);
/* h1_server_on_peer_closed: the client went away (EOF or error) before we closed. */
void h1_server_on_peer_closed(struct h1_server *h);
/* h1_server_begin_drain: graceful shutdown; idle connections close now, busy ones
 * after their current response. */
void h1_server_begin_drain(struct h1_server *h);

/* h1_spare_exchanges_free frees the exchanges worker |w| keeps for reuse
 * (w->spare_h1_exchanges). Called by worker_join once every connection is gone. */
void h1_spare_exchanges_free(struct worker *w);

#endif
