#include "pki/pkcs12.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pkcs8.h>
#include <openssl/x509.h>

#include "common/mem.h"

/* PBKDF and MAC iterations; OpenSSL 3's default is 2048. */
#define PKCS12_ITERATIONS 10000

int pki_pkcs12_create(const struct pki_identity *id, X509 *const *chain, size_t num_chain,
                      const char *password, uint8_t **out, size_t *out_len,
                      struct cg_errbuf *err)
{
    if (password == NULL || password[0] == '\0') {
        return cg_errf(err, CG_ERR_INVALID, "a PKCS#12 bundle needs a non-empty password");
    }
    char friendly[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(id->cert), NID_commonName, friendly,
                              sizeof(friendly));
    STACK_OF(X509) *stack = sk_X509_new_null();
    if (stack == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "out of memory");
    }
    for (size_t i = 0; i < num_chain; i++) {
        if (sk_X509_push(stack, chain[i]) == 0) {
            sk_X509_free(stack);
            return cg_errf_crypto(err, CG_ERR_CRYPTO, "out of memory");
        }
    }
    PKCS12 *p12 = PKCS12_create(password, friendly[0] ? friendly : NULL, id->key, id->cert,
                                stack, NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                                NID_pbe_WithSHA1And3_Key_TripleDES_CBC, PKCS12_ITERATIONS,
                                PKCS12_ITERATIONS, 0);
    sk_X509_free(stack); /* the certificates stay owned by the caller */
    if (p12 == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot create the PKCS#12 bundle");
    }
    uint8_t *der = NULL;
    int len = i2d_PKCS12(p12, &der);
    PKCS12_free(p12);
    if (len <= 0) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot encode the PKCS#12 bundle");
    }
    /* Hand out a malloc'd copy so that callers free it like every other buffer. */
    *out = cg_xmalloc((size_t)len);
    memcpy(*out, der, (size_t)len);
    *out_len = (size_t)len;
    OPENSSL_free(der);
    return CG_OK;
}
