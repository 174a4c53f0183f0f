#include "proxy/tls/tls_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/mem.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Sessions kept per server: enough for the connections a pool opens at once after a
 * quiet spell to resume, each with a ticket of its own. */
#define SESSIONS_PER_SERVER 8

/* The sessions one server gave us, newest last. Workers share them: the lock is taken
 * once per new connection and once per session the server sends, never per request. */
struct tls_client_sessions {
    pthread_mutex_t lock;
    SSL_SESSION *sessions[SESSIONS_PER_SERVER]; /* owned references */
    size_t num_sessions;
};

struct tls_client {
    SSL_CTX *ctx;
    const struct config_upstream *up;
};

/* Each client SSL points at the sessions of its server, for on_new_session. */
static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_index_init(void)
{
    ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    CG_BUG_ON(ex_index < 0);
}

/* on_new_session keeps a session the server just gave us (after the handshake in TLS
 * 1.2, in a NewSessionTicket message any time later in TLS 1.3), dropping the oldest
 * when full. Returning 1 takes the caller's reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct tls_client_sessions *ss = SSL_get_ex_data(ssl, ex_index);
    if (ss == NULL || !SSL_SESSION_is_resumable(session)) {
        return 0;
    }
    pthread_mutex_lock(&ss->lock);
    if (ss->num_sessions == SESSIONS_PER_SERVER) {
        SSL_SESSION_free(ss->sessions[0]);
        memmove(&ss->sessions[0], &ss->sessions[1],
                (SESSIONS_PER_SERVER - 1) * sizeof(ss->sessions[0]));
        ss->num_sessions--;
    }
    ss->sessions[ss->num_sessions++] = session;
    pthread_mutex_unlock(&ss->lock);
    return 1;
}

/* take_session returns a reference to the newest session of |ss|, or NULL. A TLS 1.3
 * session leaves the cache (a ticket is used once: reusing it would let an observer link
 * the connections); a TLS 1.2 one stays for the next connection too. */
static SSL_SESSION *take_session(struct tls_client_sessions *ss)
{
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&ss->lock);
    if (ss->num_sessions > 0) {
        s = ss->sessions[ss->num_sessions - 1];
        if (SSL_SESSION_should_be_single_use(s)) {
            ss->num_sessions--;
        } else {
            SSL_SESSION_up_ref(s);
        }
    }
    pthread_mutex_unlock(&ss->lock);
    return s;
}

/* readable fails with the system's reason when |path| cannot be opened: BoringSSL's own
 * message for a missing file is less clear. */
static int readable(const char *name, const char *key, const char *path, struct cg_errbuf *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return cg_errf(err, CG_ERR_IO, "upstreams.%s.tls.%s: %s: %s", name, key, path,
                       strerror(errno));
    }
    fclose(f);
    return CG_OK;
}

static int load_files(SSL_CTX *ctx, const struct config_upstream *up, struct cg_errbuf *err)
{
    const struct config_upstream_tls *t = &up->tls;
    int rc = readable(up->name, "ca", t->ca, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
        return cg_errf_crypto(err, CG_ERR_INVALID,
                              "upstreams.%s.tls.ca: %s: no PEM CA certificate could be loaded",
                              up->name, t->ca);
    }
    if (t->cert == NULL) {
        return CG_OK;
    }
    if ((rc = readable(up->name, "cert", t->cert, err)) != CG_OK ||
        (rc = readable(up->name, "key", t->key, err)) != CG_OK) {
        return rc;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        return cg_errf_crypto(err, CG_ERR_INVALID,
                              "upstreams.%s.tls.cert: %s: no PEM certificate could be loaded",
                              up->name, t->cert);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        uint32_t e = (uint32_t)ERR_peek_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return cg_errf(err, CG_ERR_INVALID, "upstreams.%s.tls.key: %s does not match %s",
                           up->name, t->key, t->cert);
        }
        return cg_errf_crypto(err, CG_ERR_INVALID,
                              "upstreams.%s.tls.key: %s: no PEM private key could be loaded",
                              up->name, t->key);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return cg_errf(err, CG_ERR_INVALID, "upstreams.%s.tls.key: %s does not match %s",
                       up->name, t->key, t->cert);
    }
    return CG_OK;
}

int tls_client_new(const struct config_upstream *up, const char *alpn, struct tls_client **out,
                   struct cg_errbuf *err)
{
    pthread_once(&ex_once, ex_index_init);
    size_t alpn_len = strlen(alpn);
    CG_BUG_ON(!up->tls.enabled || alpn_len == 0 || alpn_len > 255);
    struct tls_client *cl = cg_xcalloc(1, sizeof(*cl));
    cl->up = up;
    int rc;
    /* TLS_method (not the buffers method): the built-in verifier needs X509 objects. */
    cl->ctx = SSL_CTX_new(TLS_method());
    if (cl->ctx == NULL || !SSL_CTX_set_min_proto_version(cl->ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(cl->ctx, TLS1_3_VERSION)) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "upstream %s: cannot create TLS context",
                            up->name);
        goto fail;
    }
    /* The suites the listeners accept: forward secret AEAD only for TLS 1.2 (TLS 1.3
     * suites are fixed in BoringSSL). */
    if (!SSL_CTX_set_strict_cipher_list(
            cl->ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "upstream %s: cipher list", up->name);
        goto fail;
    }
    uint8_t protos[256];
    protos[0] = (uint8_t)alpn_len;
    memcpy(protos + 1, alpn, alpn_len);
    /* SSL_CTX_set_alpn_protos returns 0 on success. */
    if (SSL_CTX_set_alpn_protos(cl->ctx, protos, (unsigned)alpn_len + 1) != 0) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "upstream %s: ALPN", up->name);
        goto fail;
    }
    /* The chain and the name are checked in the handshake, which fails without both. */
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(cl->ctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(cl->ctx, on_new_session);
    if ((rc = load_files(cl->ctx, up, err)) != CG_OK) {
        goto fail;
    }
    *out = cl;
    return CG_OK;
fail:
    ERR_clear_error();
    tls_client_free(cl);
    return rc;
}

void tls_client_free(struct tls_client *cl)
{
    if (cl == NULL) {
        return;
    }
    SSL_CTX_free(cl->ctx);
    free(cl);
}

struct tls_client_sessions *tls_client_sessions_new(void)
{
    struct tls_client_sessions *ss = cg_xcalloc(1, sizeof(*ss));
    pthread_mutex_init(&ss->lock, NULL);
    return ss;
}

void tls_client_sessions_free(struct tls_client_sessions *ss)
{
    if (ss == NULL) {
        return;
    }
    for (size_t k = 0; k < ss->num_sessions; k++) {
        SSL_SESSION_free(ss->sessions[k]);
    }
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}

/* set_peer_ip makes the certificate's IP address SANs name the server's address. */
static int set_peer_ip(X509_VERIFY_PARAM *param, const struct config_address *a)
{
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->addr;
        return X509_VERIFY_PARAM_set1_ip(param, (const uint8_t *)&sin->sin_addr, 4);
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->addr;
    return X509_VERIFY_PARAM_set1_ip(param, (const uint8_t *)&sin6->sin6_addr, 16);
}

SSL *tls_client_new_ssl(struct tls_client *cl, const struct config_address *server,
                       struct tls_client_sessions *ss)
{
    SSL *ssl = SSL_new(cl->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(ssl);
    const char *sni = cl->up->tls.sni;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    /* Names come from subjectAltName only (RFC 6125 §6.4.4): a subject CN is not
     * evidence of a host name. */
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    bool ok = SSL_set_ex_data(ssl, ex_index, ss) == 1;
    if (sni != NULL) {
        ok = ok && SSL_set_tlsext_host_name(ssl, sni) == 1 &&
             X509_VERIFY_PARAM_set1_host(param, sni, strlen(sni)) == 1;
    } else {
        /* No SNI (RFC 6066 forbids IP literals in it): the address is what we know. */
        ok = ok && set_peer_ip(param, server) == 1;
    }
    if (!ok) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    SSL_SESSION *session = take_session(ss);
    if (session != NULL) {
        SSL_set_session(ssl, session); /* takes its own reference */
        SSL_SESSION_free(session);
    }
    return ssl;
}

enum tls_client_failure tls_client_failure(const SSL *ssl, uint32_t ssl_err, char *out,
                                           size_t out_len)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        snprintf(out, out_len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        return TLS_CLIENT_VERIFY_FAILED;
    }
    if (ssl_err == 0) {
        snprintf(out, out_len, "connection closed during the handshake");
        return TLS_CLIENT_HANDSHAKE_FAILED;
    }
    const char *reason = ERR_reason_error_string(ssl_err);
    snprintf(out, out_len, "%s", reason != NULL ? reason : "TLS error");
    if (ERR_GET_LIB(ssl_err) == ERR_LIB_SSL &&
        ERR_GET_REASON(ssl_err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        return TLS_CLIENT_VERIFY_FAILED;
    }
    return TLS_CLIENT_HANDSHAKE_FAILED;
}

bool tls_client_server_alert(uint32_t ssl_err)
{
    return ssl_err != 0 && ERR_GET_LIB(ssl_err) == ERR_LIB_SSL &&
           ERR_GET_REASON(ssl_err) >= SSL_AD_REASON_OFFSET;
}

enum cg_reason tls_client_failure_reason(enum tls_client_failure f)
{
    switch (f) {
    case TLS_CLIENT_VERIFY_FAILED:
        return CG_REASON_UPSTREAM_TLS_VERIFY_FAILED;
    case TLS_CLIENT_HANDSHAKE_FAILED:
        break;
    }
    return CG_REASON_UPSTREAM_TLS_HANDSHAKE_FAILED;
}
