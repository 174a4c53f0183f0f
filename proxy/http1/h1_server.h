/* HTTP/1.1 on a client connection: requests parsed by proxy/http1/h1_parse.c and
 * authorized, then carried to the database by the backend of the listener's upstream
 * protocol (struct h1_backend_ops, proxy/http1/h1_exchange.h), with bodies streamed
 * both ways under back-pressure, keep-alive, pipelining, Expect: 100-continue and
 * Upgrade tunnels (HTTP/1.1 upstreams). */
#ifndef CG_PROXY_HTTP1_H1_SERVER_H
#define CG_PROXY_HTTP1_H1_SERVER_H

#include "proxy/core/conn.h"
#include "proxy/core/worker.h"

/* The protocol a listener serves "http/1.1" (and connections without ALPN) with. Its
 * attach takes a struct h1_backends (proxy/http1/h1_exchange.h). */
extern const struct conn_protocol h1_protocol;

/* HTTP/1.1's per-worker state: spare exchanges and parsing scratch. */
extern const struct worker_module h1_worker_module;

#endif
