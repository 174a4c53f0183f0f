#include "proxy/core/metrics.h"

#include <stdlib.h>

#include "common/boringssl.h"
#include "common/mem.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

struct worker_metrics *worker_metrics_new(size_t num_listeners)
{
    struct worker_metrics *m = cg_xcalloc(1, sizeof(*m));
    worker_metrics_grow(m, num_listeners);
    return m;
}

void worker_metrics_grow(struct worker_metrics *m, size_t num_listeners)
{
    if (num_listeners <= m->num_listeners) {
        return;
    }
    m->listeners = cg_xrealloc(m->listeners, num_listeners * sizeof(*m->listeners));
    for (size_t i = m->num_listeners; i < num_listeners; i++) {
        /* About 140 KiB per listener, nearly all of it request counters that stay zero:
         * calloc maps such a block fresh from the kernel, and only the pages of the
         * counters a worker actually touches ever become resident. */
        m->listeners[i] = cg_xcalloc(1, sizeof(**m->listeners));
    }
    m->num_listeners = num_listeners;
}

void worker_metrics_free(struct worker_metrics *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->num_listeners; i++) {
        free(m->listeners[i]);
    }
    free(m->listeners);
    free(m);
}

const char *metrics_protocol_str(enum metrics_protocol p)
{
    switch (p) {
    case METRICS_PROTOCOL_HTTP11:
        return "http/1.1";
    case METRICS_PROTOCOL_H2:
        return "h2";
    case METRICS_NUM_PROTOCOLS:
        break;
    }
    return "?";
}

const char *metrics_conn_slot_str(unsigned slot)
{
    return slot == METRICS_CONN_HANDSHAKE ? "handshake"
                                          : metrics_protocol_str((enum metrics_protocol)slot);
}

const char *metrics_decision_str(enum metrics_decision d)
{
    static const char *const names[METRICS_NUM_DECISIONS] = {"none", "allow", "deny", "audit"};
    return (unsigned)d < METRICS_NUM_DECISIONS ? names[d] : "?";
}

const char *metrics_tls_version_str(enum metrics_tls_version v)
{
    return v == METRICS_TLS_1_3 ? "TLSv1.3" : "TLSv1.2";
}

const char *metrics_handshake_error_str(enum metrics_handshake_error e)
{
    static const char *const names[METRICS_NUM_HS_ERRORS] = {
        [METRICS_HS_IP_NOT_ALLOWED] = "ip_not_allowed",
        [METRICS_HS_BAD_PROXY_HEADER] = "bad_proxy_header",
        [METRICS_HS_INVALID_SNI] = "invalid_sni",
        [METRICS_HS_UNKNOWN_SNI] = "unknown_sni",
        [METRICS_HS_TIMEOUT] = "timeout",
        [METRICS_HS_CLIENT_CLOSED] = "client_closed",
        [METRICS_HS_PROTOCOL_VERSION] = "protocol_version",
        [METRICS_HS_NO_SHARED_CIPHER] = "no_shared_cipher",
        [METRICS_HS_NO_ALPN] = "no_application_protocol",
        [METRICS_HS_HTTP_REQUEST] = "http_request",
        [METRICS_HS_PEER_ALERT] = "peer_alert",
        [METRICS_HS_TLS_ERROR] = "tls_error",
    };
    return (unsigned)e < METRICS_NUM_HS_ERRORS ? names[e] : "?";
}

enum metrics_handshake_error metrics_handshake_error_of(uint32_t ssl_err)
{
    if (ssl_err == 0) {
        return METRICS_HS_CLIENT_CLOSED;
    }
    if (ERR_GET_LIB(ssl_err) != ERR_LIB_SSL) {
        return METRICS_HS_TLS_ERROR;
    }
    int reason = ERR_GET_REASON(ssl_err);
    if (reason >= SSL_AD_REASON_OFFSET) {
        return METRICS_HS_PEER_ALERT;
    }
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
        return METRICS_HS_PROTOCOL_VERSION;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUP:
    case SSL_R_NO_COMMON_SIGNATURE_ALGORITHMS:
        return METRICS_HS_NO_SHARED_CIPHER;
    case SSL_R_NO_APPLICATION_PROTOCOL:
        return METRICS_HS_NO_ALPN;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        return METRICS_HS_HTTP_REQUEST;
    default:
        return METRICS_HS_TLS_ERROR;
    }
}

enum metrics_tls_version metrics_tls_version_of(int version)
{
    return version == TLS1_3_VERSION ? METRICS_TLS_1_3 : METRICS_TLS_1_2;
}
