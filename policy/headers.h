/* Identity headers for the database: which request headers certgate
 * owns (stripped from every client request) and the values it injects after an
 * allowed decision. Pure and allocation-free: values are written into a caller buffer;
 * header names point into the policy (valid while the caller holds its reference). */
#ifndef CG_POLICY_HEADERS_H
#define CG_POLICY_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/str.h"
#include "policy/cert_facts.h"
#include "policy/policy.h"

/* POLICY_MAX_HEADERS is the most headers policy_headers_build produces. */
#define POLICY_MAX_HEADERS 6

/* struct policy_header is one header to add. */
struct policy_header {
    struct cg_str name;  /* as configured (or the default name) */
    struct cg_str value; /* in the caller's buffer; printable, no CR/LF/NUL */
};

/* policy_header_is_owned reports whether a client-sent header or trailer field |name|
 * must be removed before forwarding (the caller removes every duplicate): the identity
 * headers under their configured names and their default names, Client-Cert,
 * Client-Cert-Chain, X-Forwarded-Client-Cert (even when not sent), X-Forwarded-For,
 * X-Forwarded-Proto, X-Forwarded-Host, Forwarded and X-Real-IP (the proxy generates
 * the X-Forwarded-* ones itself), and the fields frameworks read as a replacement
 * method or target (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override,
 * X-Original-URL, X-Rewrite-URL, X-Original-Method). Names compare ignoring ASCII case and taking '_' for
 * '-': CGI, WSGI, PHP and Rack turn both into '_', so "X_Client_Clearance" reaches
 * them as the real header. |p| may be NULL: then only the default names. */
bool policy_header_is_owned(const struct policy *p, struct cg_str name);

/* policy_client_cert_value encodes the DER certificate |der| as the RFC 9440
 * Client-Cert value (a structured-field byte sequence, ":base64:") into |out|, which
 * needs POLICY_CLIENT_CERT_VALUE_LEN(der_len) bytes (the value is NUL-terminated).
 * Returns the value's length, or 0 if |out_cap| is too small. Callers compute it once
 * per connection: base64 of a certificate costs more than the rest of a decision. */
#define POLICY_CLIENT_CERT_VALUE_LEN(n) ((((n) + 2) / 3) * 4 + 3)
size_t policy_client_cert_value(const uint8_t *der, size_t der_len, char *out, size_t out_cap);

/* policy_headers_build produces the identity headers for an allowed decision |d|
 * about the certificate |cert|: the thumbprint (SHA-1, upper-case hex), entry name,
 * clearance, database access (when the route has a database), Client-Cert with the
 * value |client_cert| from policy_client_cert_value (unless disabled in the policy or
 * |client_cert| is empty), and X-Forwarded-Client-Cert when enabled (Envoy's format
 * with Subject, URI and DNS values quoted so that '"', ';' and ',' in them cannot add
 * a field). Nothing is produced when the request was not allowed or the certificate
 * not identified (d->identified). Client-Cert's value is not copied: it must outlive
 * the use of |out|.
 *
 * Values go to |buf| (|buf_cap| bytes); |out| must have room for POLICY_MAX_HEADERS.
 * Returns 0 and sets |*out_num|, or CG_ERR_LIMIT when |buf| is too small (1024 bytes
 * are always enough for certificates whose subject fits in 256 bytes and SANs in
 * 512). */
int policy_headers_build(const struct policy *p, const struct policy_decision *d,
                         const struct policy_cert_facts *cert, struct cg_str client_cert,
                         char *buf, size_t buf_cap, struct policy_header *out, size_t *out_num);

#endif
