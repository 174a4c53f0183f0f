/* Certificate directories as certgate writes them (docs/certificates.md): ca.crt, tls.crt,
 * tls.key (0600) and, for client bundles, bundle.p12 (0600, password-protected). */
#ifndef CG_PKI_BUNDLE_H
#define CG_PKI_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "pki/files.h"
#include "pki/identity.h"

#define PKI_BUNDLE_MAX_FILES 4

/* struct pki_bundle holds the encoded files of one bundle. All-zero is empty. */
struct pki_bundle {
    char *ca_pem;      /* the CA certificate */
    size_t ca_pem_len;
    char *cert_pem;    /* the leaf, followed by the CA when built with |chain| */
    size_t cert_pem_len;
    char *key_pem;     /* PKCS#8 private key; wiped on cleanup */
    size_t key_pem_len;
    uint8_t *p12;      /* PKCS#12 with key, leaf and CA; NULL without a password */
    size_t p12_len;
};

/* pki_bundle_build encodes |leaf| and |ca_cert| into |out| (empty before). With
 * |chain|, tls.crt also carries the CA certificate (what a server sends). With a
 * non-NULL |password|, a PKCS#12 file is built too. */
int pki_bundle_build(const struct pki_identity *leaf, X509 *ca_cert, bool chain,
                     const char *password, struct pki_bundle *out, struct cg_errbuf *err);

/* pki_bundle_files describes |b| as files for pki_files_write_new in |out| (capacity
 * PKI_BUNDLE_MAX_FILES) and returns their number. The files borrow |b|'s buffers. */
size_t pki_bundle_files(const struct pki_bundle *b, struct pki_file *out);

/* pki_bundle_cleanup frees |b|, wiping the key material, and zeroes it. */
void pki_bundle_cleanup(struct pki_bundle *b);

#endif
