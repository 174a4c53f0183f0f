/* Server-side TLS of one listener: one long-lived SSL_CTX and the certificates it
 * serves.
 *
 * The SSL_CTX lives as long as the process, so session tickets and the session cache
 * survive certificate rotation. Certificates are an immutable, reference-counted
 * struct tls_cert_set chosen per handshake by SNI (and by the client's signature
 * algorithms when an RSA and an ECDSA certificate share a name); rotation publishes a
 * new set with tls_server_set_certs and handshakes already running keep the old one.
 *
 * A listener with host entries ("hosts") has a set per entry that brings its own
 * certificates: a server name that selects the entry (config_host_names_find: exact
 * name, else its wildcard) is served from the entry's set, whichever of its
 * certificates matches best, else the first; other names are served from the
 * listener's. With strict_sni, a handshake is refused when the name selects no entry
 * and either the listener serves no default (no upstream of its own) or none of its
 * certificates has the name; and, as without hosts, when the client sends no name.
 *
 * Client certificates are requested and any certificate is accepted at the TLS layer:
 * authorization happens per request (policy/). With a client CA configured, the chain
 * is validated during the handshake and the result is recorded, not enforced here. */
#ifndef CG_PROXY_TLS_TLS_SERVER_H
#define CG_PROXY_TLS_TLS_SERVER_H

#include <stdbool.h>
#include <time.h>

#include "common/boringssl.h"
#include "common/err.h"
#include "config/config.h"

#include <openssl/ssl.h>

struct tls_cert_set;
struct tls_server;

/* tls_cert_set_load reads the |num_certs| certificates |certs| (PEM chains, keys,
 * optional OCSP responses; a listener's or a host entry's) and checks that each key
 * matches its certificate. Returns a set with one reference, or CG_ERR_INVALID /
 * CG_ERR_IO naming the file at fault. */
int tls_cert_set_load(const struct config_certificate *certs, size_t num_certs,
                      struct tls_cert_set **out, struct cg_errbuf *err);

/* tls_cert_set_ref / tls_cert_set_unref manage the reference count; the last unref
 * frees the set. unref(NULL) is a no-op. Thread-safe. */
struct tls_cert_set *tls_cert_set_ref(struct tls_cert_set *set);
void tls_cert_set_unref(struct tls_cert_set *set);

/* tls_cert_set_min_not_after returns the earliest expiry among the certificates. */
time_t tls_cert_set_min_not_after(const struct tls_cert_set *set);

/* struct tls_cert_info describes one certificate of a set; the strings belong to the
 * set and live as long as the caller's reference to it. */
struct tls_cert_info {
    const char *file;    /* the configured certificate file */
    const char *subject; /* one-line subject of the leaf */
    time_t not_after;    /* leaf expiry, seconds since the epoch */
    const char *common_name; /* the leaf's subject CN, "" if none */
    const char *thumbprint;  /* SHA-1 of the leaf's DER, upper-case hex */
};

/* tls_cert_set_num returns how many certificates |set| serves (configuration order). */
size_t tls_cert_set_num(const struct tls_cert_set *set);

/* tls_cert_set_info describes certificate |i| (< tls_cert_set_num) of |set|. */
void tls_cert_set_info(const struct tls_cert_set *set, size_t i, struct tls_cert_info *out);

/* tls_cert_set_describe writes one line per certificate ("<file>: <subject>, expires
 * <date> (N days)") to |out|, warning under 30 days. Returns the smallest number of
 * days left. */
long tls_cert_set_describe(const struct tls_cert_set *set, FILE *out);

/* tls_server_new creates the SSL_CTX of |listener| serving |certs| (a reference is
 * taken) for every name until tls_server_set_host_certs gives host entries their own.
 * The client CA and CRL, when configured, are loaded here. The server keeps pointers
 * into |listener|'s host table, which must outlive it. */
int tls_server_new(const struct config_listener *listener, struct tls_cert_set *certs,
                   struct tls_server **out, struct cg_errbuf *err);

/* tls_server_free releases the context; connections that still hold SSL objects keep
 * their own references to the SSL_CTX. */
void tls_server_free(struct tls_server *srv);

/* tls_server_set_certs publishes |certs| for new handshakes (a reference is taken; the
 * previous set is released once no handshake uses it). Thread-safe. */
void tls_server_set_certs(struct tls_server *srv, struct tls_cert_set *certs);

/* tls_server_get_certs returns the current set with a new reference. Thread-safe. */
struct tls_cert_set *tls_server_get_certs(struct tls_server *srv);

/* tls_server_set_host_certs publishes |certs| (a reference is taken) for the names of
 * host entry |host| (its index in the listener's hosts), as tls_server_set_certs does
 * for the listener's. Thread-safe. */
void tls_server_set_host_certs(struct tls_server *srv, size_t host, struct tls_cert_set *certs);

/* tls_server_get_host_certs returns host entry |host|'s own set with a new reference,
 * or NULL when it has none (the listener's serve its names). Thread-safe. */
struct tls_cert_set *tls_server_get_host_certs(struct tls_server *srv, size_t host);

struct tls_conn;

/* tls_server_new_ssl creates an SSL for an accepted connection; |tc| becomes its app
 * data and receives what the handshake callbacks learn (tc->peer). */
SSL *tls_server_new_ssl(struct tls_server *srv, struct tls_conn *tc);

/* tls_server_check_peer validates the client's chain against the listener's client CA
 * (and CRL) after a handshake, fresh or resumed, and records the result in tc->peer.
 * Without a client CA or a client certificate it records "not checked". */
void tls_server_check_peer(struct tls_server *srv, struct tls_conn *tc);

#endif
