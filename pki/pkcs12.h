/* PKCS#12 bundles that both BoringSSL and OpenSSL 3 (without -legacy), curl and
 * browsers read: key and certificates encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC,
 * SHA-1 MAC. (Parsing is pki_import_parse.) */
#ifndef CG_PKI_PKCS12_H
#define CG_PKI_PKCS12_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "pki/identity.h"

/* pki_pkcs12_create encodes |id|'s key and certificate plus the |num_chain| chain
 * certificates, protected by |password| (non-empty), with the certificate's CN as
 * friendly name. The DER bytes go to a heap buffer |*out| of |*out_len| bytes that the
 * caller frees. */
int pki_pkcs12_create(const struct pki_identity *id, X509 *const *chain, size_t num_chain,
                      const char *password, uint8_t **out, size_t *out_len,
                      struct cg_errbuf *err);

#endif
