/* The client side of TLS towards the servers of one upstream, for every upstream
 * protocol (HTTP/1.1 over TLS in proxy/upstream/upstream_pool.c, h2 in
 * proxy/http2/h2_client.c).
 *
 * One struct tls_client per upstream with "tls", built once on the main thread and
 * shared by every worker (an SSL_CTX is thread-safe): the CAs of tls.ca, the optional
 * client certificate for mutual TLS, and the ALPN id the protocol needs. Each
 * connection gets an SSL that sends tls.sni and verifies that the server's certificate
 * chains to tls.ca, is valid now, and names tls.sni in a DNS subjectAltName (without
 * sni: the server's IP address in an IP subjectAltName; the subject CN never counts). A
 * handshake whose certificate does not verify fails; tls_client_failure says why.
 *
 * Sessions are resumed per server: each server of the upstream keeps the last few
 * sessions it gave us (TLS 1.3 tickets are used once, RFC 8446 appendix C.4) in a
 * struct tls_client_sessions that the server's shared state owns
 * (proxy/upstream/upstream_server.h), so a new connection to the database costs an
 * abbreviated handshake, and a server that stays in the upstream across a DNS change
 * keeps them. A resumed session was verified against the same CAs and name when it was
 * made. */
#ifndef CG_PROXY_TLS_TLS_CLIENT_H
#define CG_PROXY_TLS_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reason.h"
#include "common/boringssl.h"
#include "common/err.h"
#include "config/config.h"

#include <openssl/ssl.h>

struct tls_client;
struct tls_client_sessions;

/* tls_client_new loads the client TLS of upstream |up| (up->tls.enabled): the CAs of
 * tls.ca, and tls.cert / tls.key when given (the key must match the certificate), and
 * offers the ALPN id |alpn| ("h2", "http/1.1"). |up| must outlive the client. Returns 0,
 * or CG_ERR_IO / CG_ERR_INVALID with one line in |err| naming the upstream key and the
 * file that does not load. */
int tls_client_new(const struct config_upstream *up, const char *alpn, struct tls_client **out,
                   struct cg_errbuf *err);

/* tls_client_free frees the client and its cached sessions; connections that still
 * hold SSL objects keep their own reference to the SSL_CTX. NULL is a no-op. */
void tls_client_free(struct tls_client *cl);

/* tls_client_sessions_new creates an empty session cache for one server; any thread.
 * tls_client_sessions_free frees it with its sessions, once no SSL made with it is left
 * (NULL is a no-op). */
struct tls_client_sessions *tls_client_sessions_new(void);
void tls_client_sessions_free(struct tls_client_sessions *ss);

/* tls_client_new_ssl creates the SSL of a new connection to |server|: client mode, SNI
 * and the name or address to verify set, a session from |sessions| (that server's
 * cache, which must outlive the SSL and receives the sessions the server sends)
 * offered. Returns NULL when out of resources. The caller owns it (tls_conn_init takes
 * it). Thread-safe. */
SSL *tls_client_new_ssl(struct tls_client *cl, const struct config_address *server,
                        struct tls_client_sessions *sessions);

/* Why a client handshake failed. */
enum tls_client_failure {
    TLS_CLIENT_HANDSHAKE_FAILED = 0, /* the server refused us or the protocol failed: an
                                        alert (e.g. our client certificate refused), no
                                        common version or cipher, no ALPN match, the
                                        connection closed during the handshake */
    TLS_CLIENT_VERIFY_FAILED,        /* the server's certificate was refused: it does not
                                        chain to tls.ca, is expired, or does not name
                                        tls.sni (or the server's address) */
};

/* tls_client_failure tells why the handshake of |ssl| (from tls_client_new_ssl) failed;
 * |ssl_err| is the BoringSSL error code of the failure, 0 if none (struct tls_conn
 * keeps it). It writes a line for the log into |out| (|out_len| > 0): the verification
 * result text ("certificate has expired", "Hostname mismatch", ...) or the TLS error. */
enum tls_client_failure tls_client_failure(const SSL *ssl, uint32_t ssl_err, char *out,
                                           size_t out_len);

/* tls_client_server_alert tells whether |ssl_err| (struct tls_conn's ssl_err) is an
 * alert the server sent. In TLS 1.3 a server checks our client certificate after our
 * side of the handshake is done: its refusal arrives as such an alert, before any
 * application data. */
bool tls_client_server_alert(uint32_t ssl_err);

/* tls_client_failure_reason returns the reason an owner gives the client and the access
 * log for |f|: CG_REASON_UPSTREAM_TLS_VERIFY_FAILED or _HANDSHAKE_FAILED. */
enum cg_reason tls_client_failure_reason(enum tls_client_failure f);

#endif
