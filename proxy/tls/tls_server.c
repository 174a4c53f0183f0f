#include "proxy/tls/tls_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/hostname.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timestamp.h"
#include "pki/chain.h"
#include "proxy/tls/tls_conn.h"

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#define MAX_CHAIN 10
#define MAX_NAMES 64

/* One served certificate: chain as CRYPTO_BUFFERs (what SSL_set_chain_and_key wants),
 * its key, and the DNS names it is selected by. */
struct tls_cert {
    char *file;
    CRYPTO_BUFFER *chain[MAX_CHAIN];
    size_t num_chain;
    EVP_PKEY *key;
    bool is_rsa;
    char *names[MAX_NAMES]; /* lower-case DNS SANs (or the CN), "*.x" wildcards kept */
    size_t num_names;
    CRYPTO_BUFFER *ocsp; /* DER OCSP response to staple, or NULL */
    time_t not_after;
    char *subject;
    char common_name[128];  /* the leaf's CN, "" if none */
    char thumbprint[41];    /* SHA-1 of the leaf's DER, upper-case hex */
};

struct tls_cert_set {
    atomic_int refs;
    struct tls_cert *certs;
    size_t num_certs;
};

struct tls_server {
    SSL_CTX *ctx;
    pthread_mutex_t lock;             /* guards the set pointer swaps (handshake rate, not
                                         requests) */
    struct tls_cert_set *certs;       /* the listener's */
    struct tls_cert_set **host_certs; /* per host entry of the listener: its own set, or
                                         NULL when it has none (the listener's serve it) */
    size_t num_hosts;
    struct config_host_names host_names; /* the listener's table (points into the
                                            configuration, which outlives the server) */
    bool has_default;      /* names no host entry has are served (the listener has its own
                              upstream, or no hosts at all) */
    X509_STORE *client_ca; /* NULL: no chain validation */
    unsigned alpn;         /* CONFIG_ALPN_* the listener offers */
    bool strict_sni;
};

static void cert_cleanup(struct tls_cert *c)
{
    free(c->file);
    for (size_t i = 0; i < c->num_chain; i++) {
        CRYPTO_BUFFER_free(c->chain[i]);
    }
    EVP_PKEY_free(c->key);
    for (size_t i = 0; i < c->num_names; i++) {
        free(c->names[i]);
    }
    CRYPTO_BUFFER_free(c->ocsp);
    free(c->subject);
}

static char *lower_dup(const char *s, size_t len)
{
    char *p = cg_xstrndup(s, len);
    for (char *q = p; *q; q++) {
        *q = (char)tolower((unsigned char)*q);
    }
    return p;
}

static void collect_names(struct tls_cert *c, X509 *leaf)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    for (size_t i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS && c->num_names < MAX_NAMES) {
            const ASN1_IA5STRING *s = gn->d.dNSName;
            c->names[c->num_names++] = lower_dup((const char *)s->data, (size_t)s->length);
        }
    }
    GENERAL_NAMES_free(sans);
    if (c->num_names == 0) {
        char cn[256];
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
        if (n > 0) {
            c->names[c->num_names++] = lower_dup(cn, (size_t)n);
        }
    }
}

static int load_cert(const struct config_certificate *cc, struct tls_cert *c, struct cg_errbuf *err)
{
    int rc = CG_ERR_INVALID;
    X509 *leaf = NULL;
    c->file = cg_xstrdup(cc->cert);
    BIO *bio = BIO_new_file(cc->cert, "r");
    if (bio == NULL) {
        return cg_errf_crypto(err, CG_ERR_IO, "%s: cannot open certificate", cc->cert);
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (c->num_chain == MAX_CHAIN) {
            X509_free(x);
            rc = cg_errf(err, CG_ERR_INVALID, "%s: more than %d certificates in the chain",
                         cc->cert, MAX_CHAIN);
            goto out;
        }
        uint8_t *der = NULL;
        int der_len = i2d_X509(x, &der);
        if (der_len <= 0) {
            X509_free(x);
            rc = cg_errf_crypto(err, CG_ERR_INVALID, "%s: cannot encode certificate", cc->cert);
            goto out;
        }
        c->chain[c->num_chain++] = CRYPTO_BUFFER_new(der, (size_t)der_len, NULL);
        OPENSSL_free(der);
        if (leaf == NULL) {
            leaf = x;
        } else {
            X509_free(x);
        }
    }
    ERR_clear_error();
    if (leaf == NULL) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: no PEM certificate found", cc->cert);
        goto out;
    }
    BIO_free(bio);
    bio = BIO_new_file(cc->key, "r");
    if (bio == NULL) {
        rc = cg_errf_crypto(err, CG_ERR_IO, "%s: cannot open key", cc->key);
        goto out;
    }
    c->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (c->key == NULL) {
        rc = cg_errf_crypto(err, CG_ERR_INVALID, "%s: no PEM private key found", cc->key);
        goto out;
    }
    if (!X509_check_private_key(leaf, c->key)) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: key does not match certificate %s", cc->key,
                     cc->cert);
        ERR_clear_error();
        goto out;
    }
    c->is_rsa = EVP_PKEY_id(c->key) == EVP_PKEY_RSA;
    collect_names(c, leaf);
    cg_timestamp_from_asn1(X509_get0_notAfter(leaf), &c->not_after);
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
    c->subject = cg_xstrdup(subject);
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, c->common_name,
                                  sizeof(c->common_name)) < 0) {
        c->common_name[0] = '\0';
    }
    uint8_t sha1[SHA_DIGEST_LENGTH];
    SHA1(CRYPTO_BUFFER_data(c->chain[0]), CRYPTO_BUFFER_len(c->chain[0]), sha1);
    cg_hex_encode(sha1, sizeof(sha1), CG_HEX_UPPER, c->thumbprint);
    if (cc->ocsp != NULL) {
        char *data;
        size_t len;
        rc = cg_file_read(cc->ocsp, 1 << 20, &data, &len, err);
        if (rc != CG_OK) {
            goto out;
        }
        c->ocsp = CRYPTO_BUFFER_new((const uint8_t *)data, len, NULL);
        free(data);
    }
    rc = CG_OK;
out:
    X509_free(leaf);
    BIO_free(bio);
    return rc;
}

int tls_cert_set_load(const struct config_certificate *certs, size_t num_certs,
                      struct tls_cert_set **out, struct cg_errbuf *err)
{
    struct tls_cert_set *set = cg_xcalloc(1, sizeof(*set));
    atomic_init(&set->refs, 1);
    set->certs = cg_xcalloc(num_certs ? num_certs : 1, sizeof(*set->certs));
    set->num_certs = num_certs;
    for (size_t i = 0; i < num_certs; i++) {
        int rc = load_cert(&certs[i], &set->certs[i], err);
        if (rc != CG_OK) {
            tls_cert_set_unref(set);
            return rc;
        }
    }
    *out = set;
    return CG_OK;
}

struct tls_cert_set *tls_cert_set_ref(struct tls_cert_set *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void tls_cert_set_unref(struct tls_cert_set *set)
{
    if (set == NULL || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < set->num_certs; i++) {
        cert_cleanup(&set->certs[i]);
    }
    free(set->certs);
    free(set);
}

time_t tls_cert_set_min_not_after(const struct tls_cert_set *set)
{
    time_t min = 0;
    for (size_t i = 0; i < set->num_certs; i++) {
        if (min == 0 || set->certs[i].not_after < min) {
            min = set->certs[i].not_after;
        }
    }
    return min;
}

size_t tls_cert_set_num(const struct tls_cert_set *set)
{
    return set->num_certs;
}

void tls_cert_set_info(const struct tls_cert_set *set, size_t i, struct tls_cert_info *out)
{
    const struct tls_cert *c = &set->certs[i];
    out->file = c->file;
    out->subject = c->subject ? c->subject : "";
    out->not_after = c->not_after;
    out->common_name = c->common_name;
    out->thumbprint = c->thumbprint;
}

long tls_cert_set_describe(const struct tls_cert_set *set, FILE *out)
{
    long min_days = 0;
    time_t now = time(NULL);
    for (size_t i = 0; i < set->num_certs; i++) {
        const struct tls_cert *c = &set->certs[i];
        long days = (long)((c->not_after - now) / 86400);
        char date[CG_TIMESTAMP_RFC3339_SIZE];
        cg_timestamp_rfc3339(c->not_after, date);
        fprintf(out, "  certificate %s: %s, %s, expires %s (%ld days left)%s\n", c->file,
                c->subject, c->is_rsa ? "RSA" : "ECDSA", date, days,
                c->not_after < now ? "  EXPIRED" : (days < 30 ? "  WARNING: under 30 days" : ""));
        if (i == 0 || days < min_days) {
            min_days = days;
        }
    }
    return min_days;
}

/* name_matches implements RFC 6125 matching of a lower-case SNI against one name:
 * exact, or "*.example.com" matching exactly one left-most label. */
static bool name_matches(const char *pattern, const char *sni)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(sni, '.');
        return dot != NULL && dot != sni && strcmp(dot, pattern + 1) == 0;
    }
    return strcmp(pattern, sni) == 0;
}

static bool client_accepts_ecdsa(const SSL *ssl)
{
    const uint16_t *sigalgs;
    size_t n = SSL_get0_peer_verify_algorithms(ssl, &sigalgs);
    for (size_t i = 0; i < n; i++) {
        if (sigalgs[i] == SSL_SIGN_ECDSA_SECP256R1_SHA256 ||
            sigalgs[i] == SSL_SIGN_ECDSA_SECP384R1_SHA384) {
            return true;
        }
    }
    return n == 0; /* no list: TLS 1.2 defaults allow ECDSA with SHA-1; be permissive */
}

/* choose returns the certificate of |set| for |sni|: a name match (ECDSA preferred when
 * the client can verify it), else the first certificate unless strict. */
static const struct tls_cert *choose(const struct tls_cert_set *set, const char *sni, bool ecdsa_ok,
                                     bool strict)
{
    if (set->num_certs == 0) {
        return NULL;
    }
    const struct tls_cert *fallback = NULL;
    if (sni[0] != '\0') {
        for (size_t i = 0; i < set->num_certs; i++) {
            const struct tls_cert *c = &set->certs[i];
            for (size_t j = 0; j < c->num_names; j++) {
                if (name_matches(c->names[j], sni)) {
                    if (!c->is_rsa && !ecdsa_ok) {
                        break;
                    }
                    if (c->is_rsa && ecdsa_ok) {
                        if (fallback == NULL) {
                            fallback = c;
                        }
                        break;
                    }
                    return c;
                }
            }
        }
        if (fallback != NULL) {
            return fallback;
        }
    }
    if (strict) {
        return NULL;
    }
    return &set->certs[0];
}

static struct tls_server *server_of(const SSL *ssl)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* ip_literal reports whether the |len| bytes at |p| are an IPv4 or IPv6 address. */
static bool ip_literal(const uint8_t *p, size_t len)
{
    char buf[64];
    uint8_t addr[16];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* parse_sni extracts the host_name from a server_name extension body (RFC 6066 §3)
 * into |peer|, lower case. RFC 6066 forbids IP literals and a trailing dot, but real
 * clients (wrk, some HTTP libraries connecting to an address) send the address they
 * dialled: an IP literal counts as no server name, as nginx treats it, and one trailing
 * dot is dropped. Any other name that is not a DNS host name (common/hostname.h:
 * letters, digits, '-', '_' and dots) marks peer->sni_refused; it is kept, cut to the
 * buffer and without NUL bytes, only for the refusal's log line. Returns false when the
 * extension itself is malformed. */
static bool parse_sni(const uint8_t *data, size_t len, struct tls_peer_info *peer)
{
    CBS ext, list, name;
    uint8_t type;
    CBS_init(&ext, data, len);
    if (!CBS_get_u16_length_prefixed(&ext, &list) || CBS_len(&ext) != 0) {
        return false;
    }
    while (CBS_len(&list) > 0) {
        if (!CBS_get_u8(&list, &type) || !CBS_get_u16_length_prefixed(&list, &name)) {
            return false;
        }
        if (type != TLSEXT_NAMETYPE_host_name) {
            continue;
        }
        if (ip_literal(CBS_data(&name), CBS_len(&name))) {
            return true; /* peer->sni stays empty */
        }
        size_t name_len = CBS_len(&name);
        if (name_len > 1 && CBS_data(&name)[name_len - 1] == '.') {
            name_len--;
        }
        size_t n = 0;
        for (size_t i = 0; i < name_len && n < sizeof(peer->sni) - 1; i++) {
            char c = (char)tolower(CBS_data(&name)[i]);
            if (c != '\0') {
                peer->sni[n++] = c;
            }
        }
        peer->sni[n] = '\0';
        peer->sni_refused =
            !cg_hostname_valid((struct cg_str){(const char *)CBS_data(&name), name_len});
        return true;
    }
    return true;
}

/* on_client_hello runs before the resumption decision: it records the SNI and makes
 * it the session-id context, so a session is never resumed under another name. */
static enum ssl_select_cert_result_t on_client_hello(const SSL_CLIENT_HELLO *hello)
{
    SSL *ssl = hello->ssl;
    struct tls_conn *tc = SSL_get_app_data(ssl);
    struct tls_server *srv = server_of(ssl);
    const uint8_t *data;
    size_t len;
    tc->peer.sni[0] = '\0';
    tc->peer.sni_refused = false;
    tc->peer.sni_unknown = false;
    if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_server_name, &data, &len) &&
        !parse_sni(data, len, &tc->peer)) {
        return ssl_select_cert_error;
    }
    if (tc->peer.sni_refused) {
        /* on_servername refuses it with the unrecognized_name alert (RFC 6066 §3). */
        return ssl_select_cert_success;
    }
    if (srv->strict_sni && tc->peer.sni[0] == '\0') {
        CG_LOG_DEBUG("tls: handshake without SNI refused (strict_sni)");
        tc->peer.sni_unknown = true;
        return ssl_select_cert_error;
    }
    char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    size_t n = strlen(tc->peer.sni);
    /* The context is at most 32 bytes: hash longer names so that they stay distinct. */
    if (n > sizeof(sid_ctx)) {
        SHA256((const uint8_t *)tc->peer.sni, n, (uint8_t *)sid_ctx);
        n = SHA256_DIGEST_LENGTH;
    } else {
        memcpy(sid_ctx, tc->peer.sni, n);
    }
    if (n == 0) {
        sid_ctx[0] = '\0';
        n = 1;
    }
    if (!SSL_set_session_id_context(ssl, (const uint8_t *)sid_ctx, n)) {
        return ssl_select_cert_error;
    }
    return ssl_select_cert_success;
}

/* on_servername runs once BoringSSL has parsed the ClientHello: a server name that is
 * not a host name ends the handshake with unrecognized_name. It never reaches the
 * certificate choice, the session cache or a log line unescaped. */
static int on_servername(SSL *ssl, int *out_alert, void *arg)
{
    const struct tls_conn *tc = SSL_get_app_data(ssl);
    if (tc->peer.sni_refused) {
        *out_alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* select_set returns, with a reference, the certificates that serve |sni|: its host
 * entry's own, else the listener's; NULL when strict_sni refuses the name (it selects no
 * host entry and the listener serves no default). |*out_strict| says whether a name
 * that no certificate of the set has is refused: a name a host entry lists is always
 * served by that entry's certificates. */
static struct tls_cert_set *select_set(struct tls_server *srv, const char *sni, bool *out_strict)
{
    const struct config_host *h = config_host_names_find(&srv->host_names, cg_str_from_cstr(sni));
    *out_strict = h == NULL && srv->strict_sni;
    if (h == NULL && srv->strict_sni && !srv->has_default) {
        return NULL;
    }
    pthread_mutex_lock(&srv->lock);
    struct tls_cert_set *set = h != NULL && h->index < srv->num_hosts && srv->host_certs[h->index]
                                   ? srv->host_certs[h->index]
                                   : srv->certs;
    tls_cert_set_ref(set);
    pthread_mutex_unlock(&srv->lock);
    return set;
}

static int on_cert(SSL *ssl, void *arg)
{
    struct tls_server *srv = arg;
    struct tls_conn *tc = SSL_get_app_data(ssl);
    bool strict;
    struct tls_cert_set *set = select_set(srv, tc->peer.sni, &strict);
    const struct tls_cert *c =
        set != NULL ? choose(set, tc->peer.sni, client_accepts_ecdsa(ssl), strict) : NULL;
    int ok = 0;
    if (c == NULL) {
        CG_LOG_DEBUG("tls: no certificate for SNI \"%s\" (strict_sni)", tc->peer.sni);
        tc->peer.sni_unknown = true;
    } else if (SSL_set_chain_and_key(ssl, c->chain, c->num_chain, c->key, NULL) &&
               (c->ocsp == NULL || SSL_set_ocsp_response(ssl, CRYPTO_BUFFER_data(c->ocsp),
                                                         CRYPTO_BUFFER_len(c->ocsp)))) {
        ok = 1;
    }
    /* SSL_set_chain_and_key took its own references. */
    tls_cert_set_unref(set);
    return ok;
}

static enum ssl_verify_result_t on_verify(SSL *ssl, uint8_t *out_alert)
{
    /* Any certificate passes the TLS layer; who it is and what it may do is decided per
     * request by the policy, and the chain against client_ca after the handshake. */
    return ssl_verify_ok;
}

static int on_alpn(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                   unsigned in_len, void *arg)
{
    struct tls_server *srv = arg;
    static const uint8_t h2[] = "h2";
    static const uint8_t h11[] = "http/1.1";
    /* Server preference: h2 first when enabled. */
    const struct {
        unsigned bit;
        const uint8_t *name;
        uint8_t len;
    } prefs[] = {{CONFIG_ALPN_H2, h2, 2}, {CONFIG_ALPN_HTTP11, h11, 8}};
    for (size_t p = 0; p < sizeof(prefs) / sizeof(prefs[0]); p++) {
        if (!(srv->alpn & prefs[p].bit)) {
            continue;
        }
        for (unsigned i = 0; i < in_len;) {
            uint8_t len = in[i];
            if (i + 1u + len > in_len) {
                break;
            }
            if (len == prefs[p].len && memcmp(in + i + 1, prefs[p].name, len) == 0) {
                *out = in + i + 1;
                *out_len = len;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1u + len;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int load_client_ca(const struct config_listener_tls *tls, X509_STORE **out,
                          struct cg_errbuf *err)
{
    return pki_chain_store_load(tls->client_ca, tls->crl, out, err);
}

int tls_server_new(const struct config_listener *listener, struct tls_cert_set *certs,
                   struct tls_server **out, struct cg_errbuf *err)
{
    struct tls_server *srv = cg_xcalloc(1, sizeof(*srv));
    pthread_mutex_init(&srv->lock, NULL);
    srv->alpn = listener->alpn;
    srv->strict_sni = listener->tls.strict_sni;
    srv->certs = tls_cert_set_ref(certs);
    srv->num_hosts = listener->num_hosts;
    srv->host_certs = cg_xcalloc(srv->num_hosts ? srv->num_hosts : 1, sizeof(*srv->host_certs));
    srv->host_names = listener->host_names;
    srv->has_default = listener->num_hosts == 0 || listener->upstream != NULL;
    int rc;
    if (listener->tls.client_ca != NULL) {
        rc = load_client_ca(&listener->tls, &srv->client_ca, err);
        if (rc != CG_OK) {
            goto fail;
        }
    }
    /* The buffers method keeps peer certificates as CRYPTO_BUFFERs only; TLS_method()
     * would also parse them into X509 objects held by every session (~2 KiB per idle
     * connection), and certgate reads them through SSL_get0_peer_certificates. */
    srv->ctx = SSL_CTX_new(TLS_with_buffers_method());
    if (srv->ctx == NULL ||
        !SSL_CTX_set_min_proto_version(srv->ctx, (uint16_t)listener->tls.min_version) ||
        !SSL_CTX_set_max_proto_version(srv->ctx, TLS1_3_VERSION)) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "listener %s: cannot create TLS context",
                            listener->name);
        goto fail;
    }
    SSL_CTX_set_app_data(srv->ctx, srv);
    SSL_CTX_set_select_certificate_cb(srv->ctx, on_client_hello);
    SSL_CTX_set_tlsext_servername_callback(srv->ctx, on_servername);
    SSL_CTX_set_cert_cb(srv->ctx, on_cert, srv);
    SSL_CTX_set_custom_verify(srv->ctx, SSL_VERIFY_PEER, on_verify);
    SSL_CTX_set_alpn_select_cb(srv->ctx, on_alpn, srv);
    SSL_CTX_set_session_cache_mode(srv->ctx, SSL_SESS_CACHE_SERVER);
    if (!listener->tls.session_tickets) {
        SSL_CTX_set_options(srv->ctx, SSL_OP_NO_TICKET);
    }
    /* Modern AEAD suites only for TLS 1.2 (TLS 1.3 suites are fixed in BoringSSL). */
    if (!SSL_CTX_set_strict_cipher_list(
            srv->ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "listener %s: cipher list", listener->name);
        goto fail;
    }
    /* certgate never sends a client CA list: clients may present any certificate. */
    *out = srv;
    return CG_OK;
fail:
    tls_server_free(srv);
    return rc;
}

void tls_server_free(struct tls_server *srv)
{
    if (srv == NULL) {
        return;
    }
    SSL_CTX_free(srv->ctx);
    X509_STORE_free(srv->client_ca);
    tls_cert_set_unref(srv->certs);
    for (size_t i = 0; i < srv->num_hosts; i++) {
        tls_cert_set_unref(srv->host_certs[i]);
    }
    free(srv->host_certs);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

void tls_server_set_certs(struct tls_server *srv, struct tls_cert_set *certs)
{
    tls_cert_set_ref(certs);
    pthread_mutex_lock(&srv->lock);
    struct tls_cert_set *old = srv->certs;
    srv->certs = certs;
    pthread_mutex_unlock(&srv->lock);
    tls_cert_set_unref(old);
}

struct tls_cert_set *tls_server_get_certs(struct tls_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    struct tls_cert_set *set = tls_cert_set_ref(srv->certs);
    pthread_mutex_unlock(&srv->lock);
    return set;
}

void tls_server_set_host_certs(struct tls_server *srv, size_t host, struct tls_cert_set *certs)
{
    CG_BUG_ON(host >= srv->num_hosts);
    tls_cert_set_ref(certs);
    pthread_mutex_lock(&srv->lock);
    struct tls_cert_set *old = srv->host_certs[host];
    srv->host_certs[host] = certs;
    pthread_mutex_unlock(&srv->lock);
    tls_cert_set_unref(old);
}

struct tls_cert_set *tls_server_get_host_certs(struct tls_server *srv, size_t host)
{
    CG_BUG_ON(host >= srv->num_hosts);
    pthread_mutex_lock(&srv->lock);
    struct tls_cert_set *set = srv->host_certs[host];
    if (set != NULL) {
        tls_cert_set_ref(set);
    }
    pthread_mutex_unlock(&srv->lock);
    return set;
}

SSL *tls_server_new_ssl(struct tls_server *srv, struct tls_conn *tc)
{
    SSL *ssl = SSL_new(srv->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    SSL_set_app_data(ssl, tc);
    SSL_set_accept_state(ssl);
    /* Drop handshake-only configuration once done: less memory per idle connection. */
    SSL_set_shed_handshake_config(ssl, 1);
    return ssl;
}

void tls_server_check_peer(struct tls_server *srv, struct tls_conn *tc)
{
    tc->peer.chain_checked = false;
    tc->peer.chain_ok = false;
    tc->peer.chain_error = 0;
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(tc->ssl);
    if (srv->client_ca == NULL || chain == NULL || sk_CRYPTO_BUFFER_num(chain) == 0) {
        return;
    }
    X509 *leaf = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); i++) {
        const CRYPTO_BUFFER *b = sk_CRYPTO_BUFFER_value(chain, i);
        const uint8_t *p = CRYPTO_BUFFER_data(b);
        X509 *x = d2i_X509(NULL, &p, (long)CRYPTO_BUFFER_len(b));
        if (x == NULL) {
            goto out;
        }
        if (i == 0) {
            leaf = x;
        } else {
            sk_X509_push(untrusted, x);
        }
    }
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    if (vctx != NULL && X509_STORE_CTX_init(vctx, srv->client_ca, leaf, untrusted)) {
        X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
        tc->peer.chain_checked = true;
        tc->peer.chain_ok = X509_verify_cert(vctx) == 1;
        tc->peer.chain_error = tc->peer.chain_ok ? 0 : X509_STORE_CTX_get_error(vctx);
    }
    X509_STORE_CTX_free(vctx);
out:
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    ERR_clear_error();
}
