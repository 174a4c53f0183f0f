/* HTTP/1.1 exchange -> HTTP/2 upstream: the backend of the HTTP/1.1 server for
 * `protocol: "h2c"` and `"h2"` upstreams (proxy/http2/h1_to_h2.c). */
#ifndef CG_PROXY_HTTP2_H1_TO_H2_H
#define CG_PROXY_HTTP2_H1_TO_H2_H

#include "proxy/http1/h1_exchange.h"

/* h1_h2_backend_ops carries an HTTP/1.1 exchange as a stream of the worker's shared
 * upstream sessions (proxy/http2/h2_client.h). */
extern const struct h1_backend_ops h1_h2_backend_ops;

#endif
