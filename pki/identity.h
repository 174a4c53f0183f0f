/* A certificate with its private key: a CA, a server or a client. */
#ifndef CG_PKI_IDENTITY_H
#define CG_PKI_IDENTITY_H

#include "common/boringssl.h"
#include "common/err.h"

/* struct pki_identity owns one certificate and its key. All-zero is empty. */
struct pki_identity {
    X509 *cert;    /* owned */
    EVP_PKEY *key; /* owned; matches |cert| */
};

/* pki_identity_cleanup frees what |id| holds and zeroes it. Safe on an empty one. */
void pki_identity_cleanup(struct pki_identity *id);

/* pki_identity_load reads the first certificate of |cert_path| and the private key of
 * |key_path| (PEM, DER or PKCS#12 without password) into |out| (empty before). Fails
 * with one line naming the file if either is missing or unreadable, or
 * CG_ERR_INVALID if the key does not match the certificate. */
int pki_identity_load(const char *cert_path, const char *key_path, struct pki_identity *out,
                      struct cg_errbuf *err);

/* pki_ca_load loads |dir|/ca.crt and |dir|/ca.key and checks that the certificate is a
 * CA (basicConstraints CA:TRUE) allowed to sign certificates. */
int pki_ca_load(const char *dir, struct pki_identity *out, struct cg_errbuf *err);

#endif
