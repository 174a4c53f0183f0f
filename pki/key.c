#include "pki/key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/mem.h"

int pki_key_generate(EVP_PKEY **out, struct cg_errbuf *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;
    int rc = CG_OK;
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) != 1 ||
        EVP_PKEY_keygen(ctx, &key) != 1) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot generate an EC P-256 key");
    } else {
        *out = key;
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int pki_key_load(const char *path, EVP_PKEY **out, struct cg_errbuf *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cg_file_read(path, 1024 * 1024, &data, &len, err);
    if (rc != CG_OK) {
        return rc;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    pki_secret_free(data, len);
    if (key == NULL) {
        ERR_clear_error();
        return cg_errf(err, CG_ERR_INVALID, "%s: not an unencrypted PEM private key", path);
    }
    *out = key;
    return CG_OK;
}

bool pki_key_matches_cert(const EVP_PKEY *key, const X509 *cert)
{
    EVP_PKEY *pub = X509_get_pubkey((X509 *)cert);
    bool match = pub != NULL && EVP_PKEY_cmp(pub, key) == 1;
    EVP_PKEY_free(pub);
    ERR_clear_error();
    return match;
}

/* bio_take copies a memory BIO's contents into a NUL-terminated heap buffer. */
static void bio_take(BIO *bio, char **out, size_t *out_len)
{
    const uint8_t *data;
    size_t len;
    BIO_mem_contents(bio, &data, &len);
    char *buf = cg_xmalloc(len + 1);
    memcpy(buf, data, len);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
}

int pki_key_to_pem(const EVP_PKEY *key, char **out, size_t *out_len, struct cg_errbuf *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL ||
        PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot encode the private key");
    }
    bio_take(bio, out, out_len);
    /* The BIO held the key too: wipe it before it goes back to the allocator. */
    const uint8_t *data;
    size_t len;
    BIO_mem_contents(bio, &data, &len);
    OPENSSL_cleanse((void *)data, len);
    BIO_free(bio);
    return CG_OK;
}

int pki_certs_to_pem(X509 *const *certs, size_t num_certs, char **out, size_t *out_len,
                     struct cg_errbuf *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "out of memory");
    }
    for (size_t i = 0; i < num_certs; i++) {
        if (PEM_write_bio_X509(bio, certs[i]) != 1) {
            BIO_free(bio);
            return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot encode a certificate");
        }
    }
    bio_take(bio, out, out_len);
    BIO_free(bio);
    return CG_OK;
}

void pki_secret_free(void *p, size_t len)
{
    if (p == NULL) {
        return;
    }
    OPENSSL_cleanse(p, len);
    free(p);
}
