#include "pki/identity.h"

#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/files.h"
#include "pki/import.h"
#include "pki/key.h"

void pki_identity_cleanup(struct pki_identity *id)
{
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    id->cert = NULL;
    id->key = NULL;
}

int pki_identity_load(const char *cert_path, const char *key_path, struct pki_identity *out,
                      struct cg_errbuf *err)
{
    struct pki_import imp = {0};
    EVP_PKEY *key = NULL;
    int rc = pki_import_file(cert_path, NULL, &imp, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = pki_key_load(key_path, &key, err);
    if (rc != CG_OK) {
        goto out;
    }
    if (!pki_key_matches_cert(key, imp.certs[0])) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: private key does not match the certificate in %s",
                     key_path, cert_path);
        goto out;
    }
    out->cert = imp.certs[0];
    imp.certs[0] = NULL; /* moved; X509_free(NULL) in the cleanup is a no-op */
    out->key = key;
    key = NULL;
out:
    pki_import_cleanup(&imp);
    EVP_PKEY_free(key);
    return rc;
}

int pki_ca_load(const char *dir, struct pki_identity *out, struct cg_errbuf *err)
{
    char *cert_path = pki_path_join(dir, "ca.crt");
    char *key_path = pki_path_join(dir, "ca.key");
    int rc = pki_identity_load(cert_path, key_path, out, err);
    if (rc == CG_OK && X509_check_ca(out->cert) != 1) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: not a CA certificate (basicConstraints CA:TRUE "
                     "with keyCertSign)", cert_path);
        pki_identity_cleanup(out);
    }
    free(cert_path);
    free(key_path);
    return rc;
}
