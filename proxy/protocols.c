#include "proxy/protocols.h"

#include "proxy/core/conn.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_client.h"
#include "proxy/http1/h1_exchange.h"
#include "proxy/http1/h1_server.h"
#include "proxy/http2/h1_to_h2.h"
#include "proxy/http2/h2_client.h"
#include "proxy/http2/h2_server.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/tls/tls_client.h"

/* Which backend carries an HTTP/2 stream to each kind of upstream. */
static const struct h2_backends h2_backends = {
    .by_upstream =
        {
            [CONFIG_UPSTREAM_HTTP11] = &h2_h1_backend_ops,
            [CONFIG_UPSTREAM_H2C] = &h2_h2_backend_ops,
            [CONFIG_UPSTREAM_H2] = &h2_h2_backend_ops,
        },
};

/* Which backend carries an HTTP/1.1 exchange to each kind of upstream. */
static const struct h1_backends h1_backends = {
    .by_upstream =
        {
            [CONFIG_UPSTREAM_HTTP11] = &h1_h1_backend_ops,
            [CONFIG_UPSTREAM_H2C] = &h1_h2_backend_ops,
            [CONFIG_UPSTREAM_H2] = &h1_h2_backend_ops,
        },
};

/* Every ALPN id certgate serves. proxy/tls/tls_server.c negotiates only the ones a
 * listener's "alpn" lists (preferring h2), so every listener can share the table. */
static const struct conn_alpn all_alpn[] = {
    {"h2", 2, &h2_protocol, &h2_backends},
    {"http/1.1", 8, &h1_protocol, &h1_backends},
};

/* Per-worker state, created in this order and freed in the reverse one. */
static const struct worker_module *const modules[] = {
    &h1_client_worker_module,
    &h1_worker_module,
    &h2_worker_module,
    &h2_client_worker_module,
};

/* The ALPN id each upstream protocol needs over TLS ("h2c" never uses TLS). */
static const char *const upstream_alpn[CONFIG_UPSTREAM_NUM_PROTOCOLS] = {
    [CONFIG_UPSTREAM_HTTP11] = "http/1.1",
    [CONFIG_UPSTREAM_H2] = "h2",
};

int proxy_protocols_upstream_tls(const struct config_upstream *up, struct tls_client **out,
                                 struct cg_errbuf *err)
{
    *out = NULL;
    if (!up->tls.enabled) {
        return CG_OK;
    }
    const char *alpn = upstream_alpn[up->protocol];
    if (alpn == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "upstreams.%s.tls: not allowed with this protocol",
                       up->name);
    }
    return tls_client_new(up, alpn, out, err);
}

void proxy_protocols_listener(const struct config_listener *l, struct listener_rt *lrt)
{
    lrt->alpn = all_alpn;
    lrt->num_alpn = sizeof(all_alpn) / sizeof(all_alpn[0]);
    /* A client that negotiates no ALPN id speaks HTTP/1.1. */
    lrt->no_alpn = &all_alpn[1];
}

void proxy_protocols_runtime(struct runtime *rt)
{
    rt->modules = modules;
    rt->num_modules = sizeof(modules) / sizeof(modules[0]);
}
