/* HTTP/1.1 on a client connection: requests parsed by proxy/http1/h1_parse.c, forwarded
 * to an HTTP/1.1 upstream with bodies streamed both ways under back-pressure,
 * keep-alive, pipelining, Expect: 100-continue and Upgrade tunnels. */
#ifndef CG_PROXY_HTTP1_H1_SERVER_H
#define CG_PROXY_HTTP1_H1_SERVER_H

#include "proxy/core/conn.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_parse.h"

/* The protocol a listener serves "http/1.1" (and connections without ALPN) with. */
extern const struct conn_protocol h1_protocol;

/* HTTP/1.1's per-worker state: spare exchanges and parsing scratch. */
extern const struct worker_module h1_worker_module;

/* Response heads from an HTTP/1.1 upstream have at most this many fields. */
#define H1_MAX_RESPONSE_HEADERS 200

/* h1_worker_response_headers returns worker |w|'s array of H1_MAX_RESPONSE_HEADERS
 * fields for parsing one response head at a time (nothing may keep a pointer into it
 * across a return to the event loop). */
struct h1_header *h1_worker_response_headers(struct worker *w);

#endif
