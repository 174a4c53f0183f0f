/* Tests of proxy/tls/tls_client.c: handshakes in memory (a BIO pair) between an SSL
 * from tls_client_new_ssl and a BoringSSL server holding certificates issued here. What
 * the client sends (SNI, ALPN, its certificate), what it verifies (chain, name, IP
 * address), how it explains a failure, session resumption per server, and the errors
 * for files that do not load. */
#include "proxy/tls/tls_client.h"

#include <arpa/inet.h>
#include "check_main.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "pki/issue.h"
#include "pki/key.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

static char dir[64];
static struct pki_identity ca, server, rogue_ca, rogue_server, client, other_client;
static char ca_pem[128], client_pem[128], client_key[128], other_key[128], junk_pem[128];

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_cert(const char *path, X509 *cert)
{
    struct cg_errbuf err = {{0}};
    char *pem;
    size_t len;
    ck_assert_int_eq(pki_certs_to_pem(&cert, 1, &pem, &len, &err), 0);
    write_file(path, pem, len);
    free(pem);
}

static void write_key(const char *path, EVP_PKEY *key)
{
    struct cg_errbuf err = {{0}};
    char *pem;
    size_t len;
    ck_assert_int_eq(pki_key_to_pem(key, &pem, &len, &err), 0);
    write_file(path, pem, len);
    pki_secret_free(pem, len);
}

static void setup(void)
{
    struct cg_errbuf err = {{0}};
    snprintf(dir, sizeof(dir), "/tmp/cg-tls-client-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *sans[] = {"localhost", "127.0.0.1", "::1"};
    ck_assert_int_eq(pki_ca_create("test CA", 30, &ca, &err), 0);
    ck_assert_int_eq(pki_issue_server(&ca, "localhost", sans, 3, 30, &server, &err), 0);
    ck_assert_int_eq(pki_ca_create("rogue CA", 30, &rogue_ca, &err), 0);
    ck_assert_int_eq(pki_issue_server(&rogue_ca, "localhost", sans, 2, 30, &rogue_server, &err),
                     0);
    ck_assert_int_eq(pki_issue_client(&ca, "proxy", 30, &client, &err), 0);
    ck_assert_int_eq(pki_issue_client(&ca, "other", 30, &other_client, &err), 0);
    snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
    snprintf(client_pem, sizeof(client_pem), "%s/client.pem", dir);
    snprintf(client_key, sizeof(client_key), "%s/client.key", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
    snprintf(junk_pem, sizeof(junk_pem), "%s/junk.pem", dir);
    write_cert(ca_pem, ca.cert);
    write_cert(client_pem, client.cert);
    write_key(client_key, client.key);
    write_key(other_key, other_client.key);
    write_file(junk_pem, "not PEM\n", 8);
}

static void teardown(void)
{
    const char *files[] = {ca_pem, client_pem, client_key, other_key, junk_pem};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
    }
    rmdir(dir);
    pki_identity_cleanup(&ca);
    pki_identity_cleanup(&server);
    pki_identity_cleanup(&rogue_ca);
    pki_identity_cleanup(&rogue_server);
    pki_identity_cleanup(&client);
    pki_identity_cleanup(&other_client);
}

/* ---- an upstream configuration --------------------------------------------------- */

/* Servers: 0 is 127.0.0.1 and 2 is [::1], which the test server certificate names; 1 is
 * 10.0.0.1, which it does not. */
struct upstream {
    struct config_upstream up;
    struct config_address servers[3];
    struct tls_client_sessions *sessions[3]; /* each server's cache */
};

/* The upstream of the client client_new made last: handshake connects to its servers. */
static struct upstream *current;

static void upstream_init(struct upstream *u, const char *sni)
{
    memset(u, 0, sizeof(*u));
    static char name[] = "db";
    u->up.name = name;
    u->up.servers = u->servers;
    u->up.num_servers = 3;
    const char *ips[] = {"127.0.0.1", "10.0.0.1"};
    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&u->servers[i].addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(8443);
        ck_assert_int_eq(inet_pton(AF_INET, ips[i], &sin->sin_addr), 1);
        u->servers[i].addr_len = sizeof(*sin);
        u->servers[i].text = (char *)ips[i];
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&u->servers[2].addr;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(8443);
    sin6->sin6_addr = in6addr_loopback;
    u->servers[2].addr_len = sizeof(*sin6);
    static char text6[] = "[::1]:8443";
    u->servers[2].text = text6;
    u->up.tls.enabled = true;
    u->up.tls.ca = ca_pem;
    u->up.tls.sni = (char *)sni;
}

static struct tls_client *client_new(struct upstream *u, const char *alpn)
{
    struct cg_errbuf err = {{0}};
    struct tls_client *cl = NULL;
    ck_assert_msg(tls_client_new(&u->up, alpn, &cl, &err) == CG_OK, "%s", err.msg);
    for (size_t i = 0; i < 3; i++) {
        u->sessions[i] = tls_client_sessions_new();
    }
    current = u;
    return cl;
}

/* client_free frees |cl| and the session caches of its upstream's servers. */
static void client_free(struct tls_client *cl)
{
    tls_client_free(cl);
    for (size_t i = 0; i < 3; i++) {
        tls_client_sessions_free(current->sessions[i]);
        current->sessions[i] = NULL;
    }
}

/* ---- a server ---------------------------------------------------------------------- */

struct server_seen {
    char sni[64];
    char alpn[64]; /* the protocols the client offered, comma-separated */
};

static int on_alpn(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                   unsigned in_len, void *arg)
{
    struct server_seen *seen = SSL_get_app_data(ssl);
    size_t n = 0;
    for (unsigned i = 0; i < in_len && n + in[i] + 2 < sizeof(seen->alpn); i += 1u + in[i]) {
        if (n > 0) {
            seen->alpn[n++] = ',';
        }
        memcpy(seen->alpn + n, in + i + 1, in[i]);
        n += in[i];
    }
    seen->alpn[n] = '\0';
    *out = in + 1;
    *out_len = in[0];
    return SSL_TLSEXT_ERR_OK;
}

/* server_ctx serves |id|; with |client_ca| it requires a client certificate from it. */
static SSL_CTX *server_ctx(const struct pki_identity *id, X509 *client_ca, uint16_t max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, id->cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, id->key), 1);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    if (client_ca != NULL) {
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), client_ca);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

struct pair {
    SSL *c, *s;
    struct server_seen seen;
    int c_ret, s_ret;   /* last SSL_do_handshake results */
    uint32_t c_err;     /* the client's first BoringSSL error, 0 if none */
};

/* handshake runs both sides until each is done or failed (bounded). The server SSL
 * owns the server end of the BIO pair, the client SSL the other. */
static void handshake(struct pair *p, struct tls_client *cl, size_t index, SSL_CTX *sctx)
{
    memset(p, 0, sizeof(*p));
    ERR_clear_error();
    p->c = tls_client_new_ssl(cl, &current->servers[index], current->sessions[index]);
    ck_assert_ptr_nonnull(p->c);
    p->s = SSL_new(sctx);
    ck_assert_ptr_nonnull(p->s);
    SSL_set_accept_state(p->s);
    SSL_set_app_data(p->s, &p->seen);
    BIO *cb, *sb;
    ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(p->c, cb, cb);
    SSL_set_bio(p->s, sb, sb);
    bool c_done = false, s_done = false;
    for (int i = 0; i < 20 && !(c_done && s_done); i++) {
        if (!c_done) {
            p->c_ret = SSL_do_handshake(p->c);
            int e = SSL_get_error(p->c, p->c_ret);
            if (p->c_ret == 1 || e != SSL_ERROR_WANT_READ) {
                c_done = true;
                if (p->c_ret != 1) {
                    p->c_err = (uint32_t)ERR_peek_error();
                    ERR_clear_error();
                }
            }
        }
        if (!s_done) {
            p->s_ret = SSL_do_handshake(p->s);
            int e = SSL_get_error(p->s, p->s_ret);
            if (p->s_ret == 1 || e != SSL_ERROR_WANT_READ) {
                s_done = true;
                ERR_clear_error();
            }
        }
    }
    const char *sni = SSL_get_servername(p->s, TLSEXT_NAMETYPE_host_name);
    snprintf(p->seen.sni, sizeof(p->seen.sni), "%s", sni != NULL ? sni : "");
}

/* exchange makes the server write (which sends TLS 1.3 tickets) and the client read
 * it, so that the client stores its session. */
static void exchange(struct pair *p)
{
    ck_assert_int_eq(SSL_write(p->s, "hi", 2), 2);
    char buf[8];
    ck_assert_int_eq(SSL_read(p->c, buf, sizeof(buf)), 2);
}

static void pair_free(struct pair *p)
{
    SSL_free(p->c);
    SSL_free(p->s);
}

/* ---- tests -------------------------------------------------------------------------- */

START_TEST(test_sni_alpn_and_verified_name)
{
    struct upstream u;
    upstream_init(&u, "localhost");
    struct tls_client *cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx = server_ctx(&server, NULL, TLS1_3_VERSION);
    struct pair p;
    handshake(&p, cl, 0, sctx);
    ck_assert_int_eq(p.c_ret, 1);
    ck_assert_str_eq(p.seen.sni, "localhost");
    ck_assert_str_eq(p.seen.alpn, "http/1.1");
    ck_assert_int_eq(SSL_get_verify_result(p.c), X509_V_OK);
    pair_free(&p);
    SSL_CTX_free(sctx);
    client_free(cl);
}
END_TEST

START_TEST(test_wrong_name_fails_verification)
{
    struct upstream u;
    upstream_init(&u, "db.example");
    struct tls_client *cl = client_new(&u, "h2");
    SSL_CTX *sctx = server_ctx(&server, NULL, TLS1_3_VERSION);
    struct pair p;
    handshake(&p, cl, 0, sctx);
    ck_assert_int_ne(p.c_ret, 1);
    ck_assert_str_eq(p.seen.alpn, "h2");
    char why[200];
    ck_assert_int_eq(tls_client_failure(p.c, p.c_err, why, sizeof(why)), TLS_CLIENT_VERIFY_FAILED);
    ck_assert_msg(strstr(why, "Hostname mismatch") != NULL, "%s", why);
    ck_assert_str_eq(cg_reason_str(tls_client_failure_reason(TLS_CLIENT_VERIFY_FAILED)),
                     "upstream_tls_verify_failed");
    pair_free(&p);
    SSL_CTX_free(sctx);
    client_free(cl);
}
END_TEST

START_TEST(test_without_sni_the_address_is_verified)
{
    struct upstream u;
    upstream_init(&u, NULL);
    struct tls_client *cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx = server_ctx(&server, NULL, TLS1_3_VERSION);
    struct pair p;
    /* Server 0 is 127.0.0.1, which the certificate names; no SNI goes out. */
    handshake(&p, cl, 0, sctx);
    ck_assert_int_eq(p.c_ret, 1);
    ck_assert_str_eq(p.seen.sni, "");
    pair_free(&p);
    /* Server 2 is ::1, which it names too. */
    handshake(&p, cl, 2, sctx);
    ck_assert_int_eq(p.c_ret, 1);
    pair_free(&p);
    /* Server 1 is 10.0.0.1, which it does not. */
    handshake(&p, cl, 1, sctx);
    ck_assert_int_ne(p.c_ret, 1);
    char why[200];
    ck_assert_int_eq(tls_client_failure(p.c, p.c_err, why, sizeof(why)), TLS_CLIENT_VERIFY_FAILED);
    ck_assert_msg(strstr(why, "IP address mismatch") != NULL, "%s", why);
    pair_free(&p);
    SSL_CTX_free(sctx);
    client_free(cl);
}
END_TEST

/* A certificate whose only host name is its subject CN does not name the host: only
 * subjectAltNames count. */
START_TEST(test_subject_cn_is_not_a_name)
{
    X509 *cn_only = X509_dup(server.cert);
    ck_assert_ptr_nonnull(cn_only);
    int i = X509_get_ext_by_NID(cn_only, NID_subject_alt_name, -1);
    ck_assert_int_ge(i, 0);
    X509_EXTENSION_free(X509_delete_ext(cn_only, i));
    ck_assert_int_gt(X509_sign(cn_only, ca.key, EVP_sha256()), 0);
    struct pki_identity id = {.cert = cn_only, .key = server.key};
    struct upstream u;
    upstream_init(&u, "localhost"); /* the subject is CN=localhost */
    struct tls_client *cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx = server_ctx(&id, NULL, TLS1_3_VERSION);
    struct pair p;
    handshake(&p, cl, 0, sctx);
    ck_assert_int_ne(p.c_ret, 1);
    char why[200];
    ck_assert_int_eq(tls_client_failure(p.c, p.c_err, why, sizeof(why)), TLS_CLIENT_VERIFY_FAILED);
    ck_assert_msg(strstr(why, "Hostname mismatch") != NULL, "%s", why);
    pair_free(&p);
    SSL_CTX_free(sctx);
    client_free(cl);
    X509_free(cn_only);
}
END_TEST

START_TEST(test_other_ca_fails_verification)
{
    struct upstream u;
    upstream_init(&u, "localhost");
    struct tls_client *cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx = server_ctx(&rogue_server, NULL, TLS1_3_VERSION);
    struct pair p;
    handshake(&p, cl, 0, sctx);
    ck_assert_int_ne(p.c_ret, 1);
    ck_assert_int_ne(p.s_ret, 1); /* the server got our alert */
    char why[200];
    ck_assert_int_eq(tls_client_failure(p.c, p.c_err, why, sizeof(why)), TLS_CLIENT_VERIFY_FAILED);
    ck_assert_msg(strstr(why, "unable to get local issuer certificate") != NULL, "%s", why);
    pair_free(&p);
    SSL_CTX_free(sctx);
    client_free(cl);
}
END_TEST

START_TEST(test_client_certificate)
{
    struct upstream u;
    upstream_init(&u, "localhost");
    u.up.tls.cert = client_pem;
    u.up.tls.key = client_key;
    struct tls_client *cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx = server_ctx(&server, ca.cert, TLS1_3_VERSION);
    struct pair p;
    handshake(&p, cl, 0, sctx);
    ck_assert_int_eq(p.c_ret, 1);
    ck_assert_int_eq(p.s_ret, 1);
    X509 *peer = SSL_get_peer_certificate(p.s);
    ck_assert_ptr_nonnull(peer);
    ck_assert_int_eq(X509_cmp(peer, client.cert), 0);
    X509_free(peer);
    pair_free(&p);
    client_free(cl);

    /* Without one, a TLS 1.2 server refuses in the handshake; a TLS 1.3 server after
     * our side is done, with an alert that tls_client_server_alert recognizes. */
    upstream_init(&u, "localhost");
    cl = client_new(&u, "http/1.1");
    SSL_CTX *sctx12 = server_ctx(&server, ca.cert, TLS1_2_VERSION);
    handshake(&p, cl, 0, sctx12);
    ck_assert_int_ne(p.c_ret, 1);
    char why[200];
    ck_assert_int_eq(tls_client_failure(p.c, p.c_err, why, sizeof(why)),
                     TLS_CLIENT_HANDSHAKE_FAILED);
    ck_assert(tls_client_server_alert(p.c_err));
    ck_assert_str_eq(cg_reason_str(tls_client_failure_reason(TLS_CLIENT_HANDSHAKE_FAILED)),
                     "upstream_tls_handshake_failed");
    pair_free(&p);
    handshake(&p, cl, 0, sctx);
    ck_assert_int_eq(p.c_ret, 1);
    ck_assert_int_ne(p.s_ret, 1);
    char buf[8];
    ck_assert_int_le(SSL_read(p.c, buf, sizeof(buf)), 0);
    uint32_t e = (uint32_t)ERR_peek_error();
    ERR_clear_error();
    ck_assert(tls_client_server_alert(e));
    ck_assert(!tls_client_server_alert(0));
    pair_free(&p);
    SSL_CTX_free(sctx12);
    SSL_CTX_free(sctx);
    client_free(cl);
}
END_TEST

/* Sessions are resumed per server, from the server's own tickets; a TLS 1.3 ticket is
 * used once, and each connection brings new ones. */
START_TEST(test_session_resumption_per_server)
{
    const uint16_t versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (size_t v = 0; v < 2; v++) {
        uint16_t version = versions[v];
        struct upstream u;
        upstream_init(&u, "localhost");
        struct tls_client *cl = client_new(&u, "http/1.1");
        SSL_CTX *sctx = server_ctx(&server, NULL, version);
        struct pair p;
        handshake(&p, cl, 0, sctx);
        ck_assert_int_eq(p.c_ret, 1);
        ck_assert(!SSL_session_reused(p.c));
        exchange(&p);
        pair_free(&p);
        for (int i = 0; i < 3; i++) {
            handshake(&p, cl, 0, sctx);
            ck_assert_int_eq(p.c_ret, 1);
            ck_assert_msg(SSL_session_reused(p.c), "version %x connection %d", version, i);
            exchange(&p);
            pair_free(&p);
        }
        /* Server 1 never gave us a session. */
        handshake(&p, cl, 1, sctx);
        ck_assert(!SSL_session_reused(p.c));
        pair_free(&p);
        SSL_CTX_free(sctx);
        client_free(cl);
    }
}
END_TEST

static int load_error(struct upstream *u, struct cg_errbuf *err)
{
    struct tls_client *cl = NULL;
    int rc = tls_client_new(&u->up, "http/1.1", &cl, err);
    ck_assert_ptr_null(cl);
    return rc;
}

START_TEST(test_files_that_do_not_load)
{
    struct upstream u;
    struct cg_errbuf err = {{0}};
    upstream_init(&u, "localhost");
    static char missing[] = "/nonexistent/ca.pem";
    u.up.tls.ca = missing;
    ck_assert_int_eq(load_error(&u, &err), CG_ERR_IO);
    ck_assert_msg(strstr(err.msg, "upstreams.db.tls.ca: /nonexistent/ca.pem") != NULL, "%s",
                  err.msg);

    memset(&err, 0, sizeof(err));
    u.up.tls.ca = junk_pem;
    ck_assert_int_eq(load_error(&u, &err), CG_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "upstreams.db.tls.ca") != NULL, "%s", err.msg);

    memset(&err, 0, sizeof(err));
    u.up.tls.ca = ca_pem;
    u.up.tls.cert = client_pem;
    u.up.tls.key = other_key;
    ck_assert_int_eq(load_error(&u, &err), CG_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "upstreams.db.tls.key") != NULL &&
                      strstr(err.msg, "does not match") != NULL,
                  "%s", err.msg);

    memset(&err, 0, sizeof(err));
    u.up.tls.cert = junk_pem;
    u.up.tls.key = client_key;
    ck_assert_int_eq(load_error(&u, &err), CG_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "upstreams.db.tls.cert") != NULL, "%s", err.msg);
    ck_assert_uint_eq(ERR_peek_error(), 0); /* nothing left on the error queue */
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("tls_client");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sni_alpn_and_verified_name);
    tcase_add_test(tc, test_wrong_name_fails_verification);
    tcase_add_test(tc, test_without_sni_the_address_is_verified);
    tcase_add_test(tc, test_subject_cn_is_not_a_name);
    tcase_add_test(tc, test_other_ca_fails_verification);
    tcase_add_test(tc, test_client_certificate);
    tcase_add_test(tc, test_session_resumption_per_server);
    tcase_add_test(tc, test_files_that_do_not_load);
    suite_add_tcase(s, tc);
    return s;
}
