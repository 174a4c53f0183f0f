#include "pki/bundle.h"

#include <stdlib.h>
#include <string.h>

#include "pki/key.h"
#include "pki/pkcs12.h"

int pki_bundle_build(const struct pki_identity *leaf, X509 *ca_cert, bool chain,
                     const char *password, struct pki_bundle *out, struct cg_errbuf *err)
{
    X509 *certs[2] = {leaf->cert, ca_cert};
    int rc = pki_certs_to_pem(&ca_cert, 1, &out->ca_pem, &out->ca_pem_len, err);
    if (rc == CG_OK) {
        rc = pki_certs_to_pem(certs, chain ? 2 : 1, &out->cert_pem, &out->cert_pem_len, err);
    }
    if (rc == CG_OK) {
        rc = pki_key_to_pem(leaf->key, &out->key_pem, &out->key_pem_len, err);
    }
    if (rc == CG_OK && password != NULL) {
        rc = pki_pkcs12_create(leaf, &ca_cert, 1, password, &out->p12, &out->p12_len, err);
    }
    if (rc != CG_OK) {
        pki_bundle_cleanup(out);
    }
    return rc;
}

size_t pki_bundle_files(const struct pki_bundle *b, struct pki_file *out)
{
    size_t n = 0;
    out[n++] = (struct pki_file){"ca.crt", b->ca_pem, b->ca_pem_len, 0644};
    out[n++] = (struct pki_file){"tls.crt", b->cert_pem, b->cert_pem_len, 0644};
    out[n++] = (struct pki_file){"tls.key", b->key_pem, b->key_pem_len, 0600};
    if (b->p12 != NULL) {
        out[n++] = (struct pki_file){"bundle.p12", b->p12, b->p12_len, 0600};
    }
    return n;
}

void pki_bundle_cleanup(struct pki_bundle *b)
{
    free(b->ca_pem);
    free(b->cert_pem);
    pki_secret_free(b->key_pem, b->key_pem_len);
    pki_secret_free(b->p12, b->p12_len);
    memset(b, 0, sizeof(*b));
}
