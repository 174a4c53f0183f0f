#include "pki/renew.h"

#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/timestamp.h"
#include "pki/key.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* Clients with a clock slightly behind must accept the new certificate at once; a
 * short-lived certificate cannot afford much of its life for that. */
#define MAX_BACKDATE_SECONDS 300

/* to_epoch is |t| in seconds since the epoch (0 if unreadable: the certificate then
 * looks long expired, and is renewed). */
static time_t to_epoch(const ASN1_TIME *t)
{
    time_t out;
    cg_timestamp_from_asn1(t, &out);
    return out;
}

bool pki_renew_issued_by(X509 *cert, const struct pki_identity *ca)
{
    if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca->cert)) != 0) {
        return false;
    }
    EVP_PKEY *pub = X509_get_pubkey(ca->cert);
    bool ok = pub != NULL && X509_verify(cert, pub) == 1;
    EVP_PKEY_free(pub);
    ERR_clear_error();
    return ok;
}

time_t pki_renew_due(const X509 *cert)
{
    time_t nb = to_epoch(X509_get0_notBefore(cert));
    time_t na = to_epoch(X509_get0_notAfter(cert));
    return nb + (na - nb) * 2 / 3;
}

/* copy_ext copies extension |nid| of |from| to |to| if present. */
static int copy_ext(X509 *to, X509 *from, int nid)
{
    int idx = X509_get_ext_by_NID(from, nid, -1);
    if (idx < 0) {
        return 1;
    }
    return X509_add_ext(to, X509_get_ext(from, idx), -1);
}

static int add_key_ids(X509 *cert, X509 *issuer)
{
    X509V3_CTX ctx;
    memset(&ctx, 0, sizeof(ctx));
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ski = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_EXTENSION *aki =
        X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    int ok =
        ski != NULL && aki != NULL && X509_add_ext(cert, ski, -1) && X509_add_ext(cert, aki, -1);
    X509_EXTENSION_free(ski);
    X509_EXTENSION_free(aki);
    return ok;
}

static int set_serial(X509 *cert)
{
    uint8_t bytes[16];
    RAND_bytes(bytes, sizeof(bytes));
    bytes[0] &= 0x7f; /* positive */
    bytes[0] |= 0x40; /* full length */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial != NULL && X509_set_serialNumber(cert, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

int pki_renew_server(const struct pki_identity *ca, X509 *old, struct pki_identity *out,
                     struct cg_errbuf *err)
{
    time_t lifetime = to_epoch(X509_get0_notAfter(old)) - to_epoch(X509_get0_notBefore(old));
    if (lifetime <= 0) {
        return cg_errf(err, CG_ERR_INVALID, "certificate has no usable validity period");
    }
    time_t backdate = lifetime / 10 < MAX_BACKDATE_SECONDS ? lifetime / 10 : MAX_BACKDATE_SECONDS;
    EVP_PKEY *key = NULL;
    int rc = pki_key_generate(&key, err);
    if (rc != CG_OK) {
        return rc;
    }
    X509 *cert = X509_new();
    time_t now = time(NULL);
    time_t end = now - backdate + lifetime;
    /* Never outlive the CA: verification would fail. */
    time_t ca_end = to_epoch(X509_get0_notAfter(ca->cert));
    if (end > ca_end) {
        end = ca_end;
    }
    if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) || !set_serial(cert) ||
        !X509_set_subject_name(cert, X509_get_subject_name(old)) ||
        !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) ||
        !X509_set_pubkey(cert, key) ||
        ASN1_TIME_set(X509_getm_notBefore(cert), now - backdate) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), end) == NULL ||
        !copy_ext(cert, old, NID_basic_constraints) || !copy_ext(cert, old, NID_key_usage) ||
        !copy_ext(cert, old, NID_ext_key_usage) || !copy_ext(cert, old, NID_subject_alt_name) ||
        !add_key_ids(cert, ca->cert) || !X509_sign(cert, ca->key, EVP_sha256())) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot issue the renewed certificate");
    }
    out->cert = cert;
    out->key = key;
    return CG_OK;
}

int pki_renew_files(const struct pki_identity *ca, const char *cert_path, const char *key_path,
                    struct cg_errbuf *err)
{
    BIO *bio = BIO_new_file(cert_path, "r");
    X509 *old = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (old == NULL) {
        return cg_errf_crypto(err, CG_ERR_INVALID, "%s: no PEM certificate", cert_path);
    }
    struct pki_identity next = {0};
    char *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len = 0, key_len = 0;
    int rc = pki_renew_server(ca, old, &next, err);
    if (rc == CG_OK) {
        X509 *chain[2] = {next.cert, ca->cert};
        rc = pki_certs_to_pem(chain, 2, &cert_pem, &cert_len, err);
    }
    if (rc == CG_OK) {
        rc = pki_key_to_pem(next.key, &key_pem, &key_len, err);
    }
    /* Key first: until the certificate follows, a reload sees a mismatch and keeps the
     * old pair, never a certificate without its key. */
    if (rc == CG_OK) {
        rc = cg_file_write_atomic(key_path, key_pem, key_len, 0600, err);
    }
    if (rc == CG_OK) {
        rc = cg_file_write_atomic(cert_path, cert_pem, cert_len, 0644, err);
    }
    if (key_pem != NULL) {
        pki_secret_free(key_pem, key_len);
    }
    free(cert_pem);
    pki_identity_cleanup(&next);
    X509_free(old);
    return rc;
}
