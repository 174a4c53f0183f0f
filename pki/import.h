/* Reading certificates (and an optional private key) from the files people have: PEM
 * with any number of certificates and keys, a DER certificate, or a password-protected
 * PKCS#12 (.pfx/.p12) bundle. The format is detected from the bytes.
 *
 * pki_import_parse is a pure parser (bytes in, structure out) and the fuzzing entry
 * point; pki_import_file adds reading the file and naming it in errors. */
#ifndef CG_PKI_IMPORT_H
#define CG_PKI_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/boringssl.h"
#include "common/err.h"

#define PKI_IMPORT_MAX_CERTS 32            /* certificates per file */
#define PKI_IMPORT_MAX_FILE (1024 * 1024)  /* bytes per file */

enum pki_import_format {
    PKI_IMPORT_NONE = 0, /* nothing parsed yet */
    PKI_IMPORT_PEM,      /* one or more PEM blocks */
    PKI_IMPORT_DER,      /* a single DER certificate */
    PKI_IMPORT_PKCS12,   /* a PKCS#12 bundle */
};

/* struct pki_import is what a file held. All-zero is empty. */
struct pki_import {
    enum pki_import_format format;
    X509 *certs[PKI_IMPORT_MAX_CERTS]; /* owned, in file order; at least one on success */
    size_t num_certs;
    EVP_PKEY *key; /* owned; NULL when the file has no private key */
};

/* pki_import_format_str names |f| for messages ("PEM", "DER", "PKCS#12"). */
const char *pki_import_format_str(enum pki_import_format f);

/* pki_import_parse reads |len| bytes of |data| into |out| (zeroed by the caller).
 * |password| decrypts PKCS#12 files and encrypted PKCS#8 keys; NULL tries the empty
 * password. Fails with CG_ERR_INVALID and one line: "not a certificate (expected PEM,
 * DER or PKCS#12)", "wrong password for PKCS#12 file", "private key does not match the
 * certificate", more than PKI_IMPORT_MAX_CERTS certificates, or several keys. On
 * failure |out| is left empty. */
int pki_import_parse(const uint8_t *data, size_t len, const char *password,
                     struct pki_import *out, struct cg_errbuf *err);

/* pki_import_file is pki_import_parse on the contents of |path| (at most
 * PKI_IMPORT_MAX_FILE bytes); errors start with "|path|: ". */
int pki_import_file(const char *path, const char *password, struct pki_import *out,
                    struct cg_errbuf *err);

/* pki_import_identities returns, in |out| (capacity PKI_IMPORT_MAX_CERTS), the
 * certificates of |imp| that identify a client or server: the non-CA ones, or all of
 * them when every certificate is a CA. Borrowed pointers; returns the count. */
size_t pki_import_identities(const struct pki_import *imp, X509 **out);

/* pki_import_key_cert returns the certificate of |imp| that matches its key, or NULL
 * if there is no key. Borrowed. */
X509 *pki_import_key_cert(const struct pki_import *imp);

/* pki_import_cleanup frees everything |imp| holds and zeroes it. */
void pki_import_cleanup(struct pki_import *imp);

#endif
