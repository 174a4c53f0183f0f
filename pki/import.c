#include "pki/import.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/cipher.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/pkcs8.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "pki/key.h"

#define NOT_A_CERT "not a certificate (expected PEM, DER or PKCS#12)"

const char *pki_import_format_str(enum pki_import_format f)
{
    switch (f) {
    case PKI_IMPORT_PEM:
        return "PEM";
    case PKI_IMPORT_DER:
        return "DER";
    case PKI_IMPORT_PKCS12:
        return "PKCS#12";
    case PKI_IMPORT_NONE:
        break;
    }
    return "none";
}

void pki_import_cleanup(struct pki_import *imp)
{
    for (size_t i = 0; i < imp->num_certs; i++) {
        X509_free(imp->certs[i]);
    }
    EVP_PKEY_free(imp->key);
    memset(imp, 0, sizeof(*imp));
}

static int add_cert(struct pki_import *out, X509 *cert, struct cg_errbuf *err)
{
    if (out->num_certs == PKI_IMPORT_MAX_CERTS) {
        X509_free(cert);
        return cg_errf(err, CG_ERR_LIMIT, "more than %d certificates in one file",
                       PKI_IMPORT_MAX_CERTS);
    }
    out->certs[out->num_certs++] = cert;
    return CG_OK;
}

static int set_key(struct pki_import *out, EVP_PKEY *key, struct cg_errbuf *err)
{
    if (out->key != NULL) {
        EVP_PKEY_free(key);
        return cg_errf(err, CG_ERR_INVALID, "more than one private key in one file");
    }
    out->key = key;
    return CG_OK;
}

static bool is_wrong_password(void)
{
    uint32_t e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PKCS8 && ERR_GET_REASON(e) == PKCS8_R_INCORRECT_PASSWORD;
}

/* pem_block handles one PEM block; unknown block types (CSRs, CRLs, parameters) are
 * skipped. */
static int pem_block(struct pki_import *out, const char *name, const char *header,
                     const uint8_t *der, long der_len, const char *password,
                     struct cg_errbuf *err)
{
    const uint8_t *p = der;
    if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
        X509 *cert = d2i_X509(NULL, &p, der_len);
        if (cert == NULL || p != der + der_len) {
            X509_free(cert);
            return cg_errf_crypto(err, CG_ERR_INVALID, "malformed CERTIFICATE block");
        }
        return add_cert(out, cert, err);
    }
    if (strcmp(name, PEM_STRING_PKCS8INF) == 0 || strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0 ||
        strcmp(name, PEM_STRING_RSA) == 0) {
        if (header != NULL && strstr(header, "ENCRYPTED") != NULL) {
            return cg_errf(err, CG_ERR_INVALID,
                           "legacy encrypted PEM keys are not supported (convert to PKCS#8)");
        }
        EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, der_len);
        if (key == NULL) {
            return cg_errf_crypto(err, CG_ERR_INVALID, "malformed %s block", name);
        }
        return set_key(out, key, err);
    }
    if (strcmp(name, PEM_STRING_PKCS8) == 0) {
        CBS cbs;
        CBS_init(&cbs, der, (size_t)der_len);
        const char *pw = password != NULL ? password : "";
        EVP_PKEY *key = PKCS8_parse_encrypted_private_key(&cbs, pw, strlen(pw));
        if (key == NULL) {
            /* Without a MAC, a wrong password shows as bad padding after decryption. */
            uint32_t e = ERR_peek_last_error();
            if (is_wrong_password() ||
                (ERR_GET_LIB(e) == ERR_LIB_CIPHER && ERR_GET_REASON(e) == CIPHER_R_BAD_DECRYPT)) {
                ERR_clear_error();
                return cg_errf(err, CG_ERR_INVALID, password != NULL
                                                        ? "wrong password for the encrypted key"
                                                        : "the private key is encrypted: give "
                                                          "its password (--password)");
            }
            return cg_errf_crypto(err, CG_ERR_INVALID, "malformed %s block", name);
        }
        return set_key(out, key, err);
    }
    return CG_OK;
}

static int parse_pem(const uint8_t *data, size_t len, const char *password,
                     struct pki_import *out, struct cg_errbuf *err)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "out of memory");
    }
    int rc = CG_OK;
    for (;;) {
        char *name = NULL, *header = NULL;
        uint8_t *der = NULL;
        long der_len = 0;
        if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1) {
            /* End of input, or a block that does not decode: the latter is an error
             * only if nothing was recognized at all (checked by the caller). */
            uint32_t e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
                rc = cg_errf(err, CG_ERR_INVALID, "malformed PEM block");
            }
            ERR_clear_error();
            break;
        }
        rc = pem_block(out, name, header, der, der_len, password, err);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_cleanse(der, (size_t)der_len);
        OPENSSL_free(der);
        if (rc != CG_OK) {
            break;
        }
    }
    BIO_free(bio);
    return rc;
}

static int parse_pkcs12(const uint8_t *data, size_t len, const char *password,
                        struct pki_import *out, struct cg_errbuf *err)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "out of memory");
    }
    EVP_PKEY *key = NULL;
    CBS cbs;
    CBS_init(&cbs, data, len);
    int rc = CG_OK;
    if (PKCS12_get_key_and_certs(&key, certs, &cbs, password != NULL ? password : "") != 1) {
        if (is_wrong_password()) {
            ERR_clear_error();
            rc = cg_errf(err, CG_ERR_INVALID, password != NULL
                                                  ? "wrong password for PKCS#12 file"
                                                  : "PKCS#12 file needs a password (--password)");
        } else {
            ERR_clear_error();
            rc = cg_errf(err, CG_ERR_INVALID, NOT_A_CERT);
        }
        goto out;
    }
    out->key = key;
    while (sk_X509_num(certs) > 0) {
        rc = add_cert(out, sk_X509_shift(certs), err);
        if (rc != CG_OK) {
            goto out;
        }
    }
out:
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

static bool looks_like_pem(const uint8_t *data, size_t len)
{
    static const char marker[] = "-----BEGIN ";
    return memmem(data, len, marker, sizeof(marker) - 1) != NULL;
}

int pki_import_parse(const uint8_t *data, size_t len, const char *password,
                     struct pki_import *out, struct cg_errbuf *err)
{
    int rc;
    if (len == 0) {
        return cg_errf(err, CG_ERR_INVALID, "empty file: " NOT_A_CERT);
    }
    if (looks_like_pem(data, len)) {
        out->format = PKI_IMPORT_PEM;
        rc = parse_pem(data, len, password, out, err);
    } else if (data[0] == 0x30) {
        const uint8_t *p = data;
        X509 *cert = d2i_X509(NULL, &p, (long)len);
        if (cert != NULL && p == data + len) {
            out->format = PKI_IMPORT_DER;
            rc = add_cert(out, cert, err);
        } else {
            X509_free(cert);
            ERR_clear_error();
            out->format = PKI_IMPORT_PKCS12;
            rc = parse_pkcs12(data, len, password, out, err);
        }
    } else {
        rc = cg_errf(err, CG_ERR_INVALID, NOT_A_CERT);
    }
    if (rc == CG_OK && out->num_certs == 0) {
        rc = cg_errf(err, CG_ERR_INVALID, out->key != NULL
                                              ? "not a certificate (the file holds only a private key)"
                                              : NOT_A_CERT);
    }
    if (rc == CG_OK && out->key != NULL && pki_import_key_cert(out) == NULL) {
        rc = cg_errf(err, CG_ERR_INVALID, "private key does not match the certificate");
    }
    if (rc != CG_OK) {
        pki_import_cleanup(out);
    }
    ERR_clear_error();
    return rc;
}

int pki_import_file(const char *path, const char *password, struct pki_import *out,
                    struct cg_errbuf *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cg_file_read(path, PKI_IMPORT_MAX_FILE, &data, &len, err);
    if (rc != CG_OK) {
        return rc;
    }
    struct cg_errbuf local = {{0}};
    rc = pki_import_parse((const uint8_t *)data, len, password, out, &local);
    pki_secret_free(data, len);
    if (rc != CG_OK) {
        return cg_errf(err, rc, "%s: %s", path, local.msg);
    }
    return CG_OK;
}

X509 *pki_import_key_cert(const struct pki_import *imp)
{
    if (imp->key == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < imp->num_certs; i++) {
        if (pki_key_matches_cert(imp->key, imp->certs[i])) {
            return imp->certs[i];
        }
    }
    return NULL;
}

size_t pki_import_identities(const struct pki_import *imp, X509 **out)
{
    size_t n = 0;
    for (size_t i = 0; i < imp->num_certs; i++) {
        if (X509_check_ca(imp->certs[i]) == 0) {
            out[n++] = imp->certs[i];
        }
    }
    if (n == 0) {
        for (size_t i = 0; i < imp->num_certs; i++) {
            out[n++] = imp->certs[i];
        }
    }
    return n;
}
