/* Renewal of a server certificate from the private CA that issued it: what certgate
 * does for its own serving certificate at two thirds of its lifetime (docs/certificates.md). */
#ifndef CG_PKI_RENEW_H
#define CG_PKI_RENEW_H

#include <stdbool.h>
#include <time.h>

#include "common/boringssl.h"
#include "common/err.h"
#include "pki/identity.h"

#include <openssl/x509.h>

/* pki_renew_issued_by reports whether |cert| was signed by |ca| (issuer name and
 * signature), i.e. whether pki_renew_server can renew it. */
bool pki_renew_issued_by(X509 *cert, const struct pki_identity *ca);

/* pki_renew_due returns the time at which |cert| should be renewed: notBefore plus two
 * thirds of its lifetime. */
time_t pki_renew_due(const X509 *cert);

/* pki_renew_server issues the successor of |old| with |ca|: a fresh key, a new random
 * serial, the same subject and extensions (subjectAltName, key usage, extended key
 * usage, basic constraints), new key identifiers, and the same lifetime starting now.
 * |out| (empty before) receives certificate and key. */
int pki_renew_server(const struct pki_identity *ca, X509 *old, struct pki_identity *out,
                     struct cg_errbuf *err);

/* pki_renew_files renews the certificate in |cert_path| (leaf first; a chain after it
 * is replaced by |ca|'s certificate) and its key in |key_path| with |ca|, and replaces
 * both files atomically, key first (mode 0600). */
int pki_renew_files(const struct pki_identity *ca, const char *cert_path, const char *key_path,
                    struct cg_errbuf *err);

#endif
