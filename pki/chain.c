/* Client chain validation (pki/chain.h), with the store built and the verification
 * made as proxy/tls/tls_server.c does for a listener's client_ca and crl. */
#include "pki/chain.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

int pki_chain_store_load(const char *ca_file, const char *crl_file, X509_STORE **out,
                         struct cg_errbuf *err)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL || !X509_STORE_load_locations(store, ca_file, NULL)) {
        X509_STORE_free(store);
        return cg_errf_crypto(err, CG_ERR_INVALID, "%s: cannot load client CA certificates",
                              ca_file);
    }
    if (crl_file != NULL) {
        BIO *bio = BIO_new_file(crl_file, "r");
        X509_CRL *crl;
        int n = 0;
        while (bio != NULL && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
            X509_STORE_add_crl(store, crl);
            X509_CRL_free(crl);
            n++;
        }
        BIO_free(bio);
        ERR_clear_error();
        if (n == 0) {
            X509_STORE_free(store);
            return cg_errf(err, CG_ERR_INVALID, "%s: no PEM CRL found", crl_file);
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    *out = store;
    return CG_OK;
}

bool pki_chain_verify(X509_STORE *store, X509 *leaf, X509 *const *chain, size_t num,
                      const char **out_error)
{
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (size_t i = 0; untrusted != NULL && i < num; i++) {
        sk_X509_push(untrusted, chain[i]); /* borrowed: the stack is freed, not them */
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = false;
    int code = X509_V_ERR_UNSPECIFIED;
    if (untrusted != NULL && ctx != NULL && X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        ok = X509_verify_cert(ctx) == 1;
        code = ok ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    ERR_clear_error();
    *out_error = ok ? NULL : X509_verify_cert_error_string(code);
    return ok;
}

X509 *pki_chain_split(const struct pki_import *imp, X509 **chain, size_t *out_num)
{
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    size_t num_ids = pki_import_identities(imp, ids);
    X509 *leaf = pki_import_key_cert(imp);
    if (leaf == NULL) {
        leaf = num_ids > 0 ? ids[0] : imp->certs[0];
    }
    *out_num = 0;
    for (size_t i = 0; i < imp->num_certs; i++) {
        if (imp->certs[i] != leaf) {
            chain[(*out_num)++] = imp->certs[i];
        }
    }
    return leaf;
}
