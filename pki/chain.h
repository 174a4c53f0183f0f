/* Client certificate chains checked the way a listener with tls.client_ca (and crl)
 * checks them (docs/configuration.md): for `certgate policy explain --client-ca` and
 * POST /admin/explain, which must say what such a listener would decide. */
#ifndef CG_PKI_CHAIN_H
#define CG_PKI_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/boringssl.h"
#include "common/err.h"
#include "pki/import.h"

/* pki_chain_store_load reads the PEM CA certificates of |ca_file| and, when |crl_file|
 * is not NULL, the PEM CRLs of that file (at least one; revocation is then checked)
 * into a new store that the caller frees with X509_STORE_free. Returns CG_ERR_INVALID
 * with one line naming the file when either does not load. */
int pki_chain_store_load(const char *ca_file, const char *crl_file, X509_STORE **out,
                         struct cg_errbuf *err);

/* pki_chain_verify validates |leaf| with the untrusted intermediates |chain| (|num|
 * certificates, may be 0) against |store| for client authentication. Returns true when
 * it validates; otherwise false with |*out_error| set to OpenSSL's static text for the
 * reason ("certificate revoked", "unable to get local issuer certificate"...). Only
 * reads its arguments. */
bool pki_chain_verify(X509_STORE *store, X509 *leaf, X509 *const *chain, size_t num,
                      const char **out_error);

/* pki_chain_split picks the client certificate of |imp| (the one matching its key, else
 * the first that is not a CA, else the first) and returns it; the other certificates go
 * to |chain| (capacity PKI_IMPORT_MAX_CERTS) as its untrusted chain, |*out_num| of
 * them. Borrowed pointers; |imp| must hold at least one certificate. */
X509 *pki_chain_split(const struct pki_import *imp, X509 **chain, size_t *out_num);

#endif
