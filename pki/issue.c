#include "pki/issue.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/hostname.h"
#include "common/mem.h"
#include "pki/key.h"

#define BACKDATE_SECONDS 300

static bool is_ip(const char *s, char *out, size_t out_len)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1) {
        snprintf(out, out_len, "%s", s);
        return true;
    }
    size_t len = strlen(s);
    if (len > 2 && len < 64 && s[0] == '[' && s[len - 1] == ']') {
        char inner[64];
        memcpy(inner, s + 1, len - 2);
        inner[len - 2] = '\0';
        if (inet_pton(AF_INET6, inner, buf) == 1) {
            snprintf(out, out_len, "%s", inner);
            return true;
        }
    }
    return false;
}

/* is_host_name accepts a host name as common/hostname.h defines it, optionally with a
 * "*." wildcard in front. */
static bool is_host_name(const char *s)
{
    return cg_hostname_pattern_valid(cg_str_from_cstr(s));
}

/* looks_numeric reports whether |s| is only digits and dots: meant as an IPv4 address. */
static bool looks_numeric(const char *s)
{
    bool digit = false;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            digit = true;
        } else if (*s != '.') {
            return false;
        }
    }
    return digit;
}

int pki_san_check(const char *san, struct cg_errbuf *err)
{
    char ip[64];
    if (is_ip(san, ip, sizeof(ip)) || is_host_name(san)) {
        return CG_OK;
    }
    if (looks_numeric(san)) {
        return cg_errf(err, CG_ERR_INVALID,
                       "'%s' is not a valid IPv4 address (four numbers from 0 to 255) and "
                       "not a DNS name",
                       san);
    }
    return cg_errf(err, CG_ERR_INVALID,
                   "'%s' is neither an IP address nor a DNS name (letters, digits, '-', '_' and "
                   "dots, optionally \"*.\" in front)",
                   san);
}

int pki_name_check(const char *name, struct cg_errbuf *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > PKI_MAX_CN_LEN) {
        return cg_errf(err, CG_ERR_INVALID, "name must be 1 to %d bytes long", PKI_MAX_CN_LEN);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            return cg_errf(err, CG_ERR_INVALID, "name contains a control character");
        }
    }
    return CG_OK;
}

static int set_random_serial(X509 *cert, struct cg_errbuf *err)
{
    uint8_t bytes[16];
    RAND_bytes(bytes, sizeof(bytes));
    bytes[0] &= 0x7f; /* positive */
    bytes[0] |= 0x01; /* and never shorter than 16 bytes, never zero */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    ASN1_INTEGER *serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial != NULL && X509_set_serialNumber(cert, serial) == 1;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? CG_OK : cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot set the serial number");
}

/* new_cert starts a certificate for |key| named CN=|cn|, issued by |issuer| (NULL for
 * self-signed), valid |days| but never beyond the issuer. */
static int new_cert(const char *cn, const X509 *issuer, const EVP_PKEY *key, unsigned days,
                    X509 **out, struct cg_errbuf *err)
{
    int rc = pki_name_check(cn, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (days == 0 || days > PKI_MAX_DAYS) {
        return cg_errf(err, CG_ERR_INVALID, "days must be between 1 and %u", PKI_MAX_DAYS);
    }
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (cert == NULL || name == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const uint8_t *)cn,
                                   -1, -1, 0) != 1 ||
        X509_set_subject_name(cert, name) != 1 ||
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_set_pubkey(cert, (EVP_PKEY *)key) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE_SECONDS) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) == NULL) {
        rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot build the certificate for '%s'", cn);
        goto fail;
    }
    if (issuer != NULL) {
        /* A certificate outliving its CA would fail verification: cut it there. */
        time_t end = time(NULL) + (time_t)days * 86400;
        if (X509_cmp_time(X509_get0_notAfter(issuer), &end) < 0 &&
            X509_set1_notAfter(cert, X509_get0_notAfter(issuer)) != 1) {
            rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot set the validity");
            goto fail;
        }
    }
    rc = set_random_serial(cert, err);
    if (rc != CG_OK) {
        goto fail;
    }
    X509_NAME_free(name);
    *out = cert;
    return CG_OK;
fail:
    X509_NAME_free(name);
    X509_free(cert);
    return rc;
}

static int add_ext(X509 *cert, const X509 *issuer, int nid, const char *value,
                   struct cg_errbuf *err)
{
    X509V3_CTX ctx;
    memset(&ctx, 0, sizeof(ctx));
    X509V3_set_ctx(&ctx, issuer != NULL ? (X509 *)issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot add extension %s = %s",
                              OBJ_nid2sn(nid), value);
    }
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? CG_OK : cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot add extension");
}

struct ext_spec {
    int nid;
    const char *value;
};

static int finish(X509 *cert, const X509 *issuer, const EVP_PKEY *sign_key,
                  const struct ext_spec *exts, size_t num_exts, struct cg_errbuf *err)
{
    for (size_t i = 0; i < num_exts; i++) {
        if (exts[i].value == NULL) {
            continue;
        }
        int rc = add_ext(cert, issuer, exts[i].nid, exts[i].value, err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    if (X509_sign(cert, (EVP_PKEY *)sign_key, EVP_sha256()) == 0) {
        return cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot sign the certificate");
    }
    return CG_OK;
}

/* make_identity generates a key and signs a certificate for it with |exts|: by
 * |issuer|, or self-signed when |issuer| is NULL. */
static int make_identity(const char *cn, const struct pki_identity *issuer, unsigned days,
                         const struct ext_spec *exts, size_t num_exts, struct pki_identity *out,
                         struct cg_errbuf *err)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = pki_key_generate(&key, err);
    if (rc != CG_OK) {
        return rc;
    }
    X509 *issuer_cert = issuer != NULL ? issuer->cert : NULL;
    rc = new_cert(cn, issuer_cert, key, days, &cert, err);
    if (rc == CG_OK) {
        rc = finish(cert, issuer_cert, issuer != NULL ? issuer->key : key, exts, num_exts, err);
    }
    if (rc != CG_OK) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return rc;
    }
    out->cert = cert;
    out->key = key;
    return CG_OK;
}

int pki_ca_create(const char *common_name, unsigned days, struct pki_identity *out,
                  struct cg_errbuf *err)
{
    static const struct ext_spec exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    return make_identity(common_name, NULL, days, exts, sizeof(exts) / sizeof(exts[0]), out, err);
}

/* issue_leaf signs a leaf for a fresh key with the given EKU and subjectAltName. */
static int issue_leaf(const struct pki_identity *ca, const char *cn, unsigned days,
                      const char *eku, const char *san, struct pki_identity *out,
                      struct cg_errbuf *err)
{
    if (X509_get0_subject_key_id(ca->cert) == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "the CA certificate has no subject key "
                       "identifier, which client pins need");
    }
    const struct ext_spec exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, eku},
        {NID_subject_alt_name, san},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    return make_identity(cn, ca, days, exts, sizeof(exts) / sizeof(exts[0]), out, err);
}

int pki_issue_server(const struct pki_identity *ca, const char *common_name,
                     const char *const *sans, size_t num_sans, unsigned days,
                     struct pki_identity *out, struct cg_errbuf *err)
{
    if (num_sans == 0 || num_sans > PKI_MAX_SANS) {
        return cg_errf(err, CG_ERR_INVALID, "a server certificate needs 1 to %d names",
                       PKI_MAX_SANS);
    }
    /* Each entry is at most 253 bytes plus "DNS:" and a comma. */
    size_t cap = num_sans * 260 + 1, len = 0;
    char *list = cg_xmalloc(cap);
    list[0] = '\0';
    int rc = CG_OK;
    for (size_t i = 0; i < num_sans; i++) {
        char ip[64];
        if (is_ip(sans[i], ip, sizeof(ip))) {
            len += (size_t)snprintf(list + len, cap - len, "%sIP:%s", i ? "," : "", ip);
        } else if (is_host_name(sans[i])) {
            len += (size_t)snprintf(list + len, cap - len, "%sDNS:%s", i ? "," : "", sans[i]);
        } else {
            rc = pki_san_check(sans[i], err);
            goto out;
        }
    }
    rc = issue_leaf(ca, common_name, days, "serverAuth", list, out, err);
out:
    free(list);
    return rc;
}

int pki_issue_client(const struct pki_identity *ca, const char *name, unsigned days,
                     struct pki_identity *out, struct cg_errbuf *err)
{
    return issue_leaf(ca, name, days, "clientAuth", NULL, out, err);
}
