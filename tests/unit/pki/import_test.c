/* Tests of pki/import.c: format detection, multi-certificate files, keys, and every
 * error a user can cause. Known vectors: tests/data/pki/ was made with the openssl CLI
 * and the expected values were computed by it (see tests/data/pki/README.md). */
#include "pki/import.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/hex.h"
#include "policy/cert_facts.h"

#include <openssl/base64.h>
#include <openssl/mem.h>
#include <openssl/x509.h>

/* openssl x509 -in client.pem -noout -fingerprint -sha1 / -sha256 */
#define VEC_SHA1 "C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3"
#define VEC_SHA256 "D822E9DA44ABBFE933E2DAE299FFDC4EF3CE7713953C314288C982FFE12AF137"
/* openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256 | base64 */
#define VEC_PIN "cuxEKgaF6muaLD+CLZKpglyl//HCQFzKkU/MawMp6g0="
/* openssl x509 -noout -ext authorityKeyIdentifier */
#define VEC_AKI "E665BDC0830DCBAAE797BEB211E55C621A675E8E"
/* openssl x509 -noout -issuer -nameopt RFC2253 */
#define VEC_ISSUER "O=certgate tests,CN=vector CA"
#define VEC_CA_SHA1 "38D55AC325E9F9168EC12AAC5830938E6388F7D1"

static const char *data_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/pki/%s", CG_TEST_DATA_DIR, name);
    return buf;
}

static void facts(X509 *cert, struct policy_cert_facts *f)
{
    uint8_t *der = NULL;
    int len = i2d_X509(cert, &der);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(policy_cert_facts_from_der(der, (size_t)len, f, NULL), 0);
    OPENSSL_free(der);
}

static void assert_sha1(X509 *cert, const char *expected)
{
    struct policy_cert_facts f = {0};
    facts(cert, &f);
    char hex[41];
    cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, hex);
    ck_assert_str_eq(hex, expected);
    policy_cert_facts_cleanup(&f);
}

static int import(const char *name, const char *password, struct pki_import *out,
                  struct cg_errbuf *err)
{
    memset(out, 0, sizeof(*out));
    return pki_import_file(data_path(name), password, out, err);
}

START_TEST(vectors_match_openssl)
{
    struct pki_import imp;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(import("client.pem", NULL, &imp, &err), 0);
    ck_assert_int_eq(imp.format, PKI_IMPORT_PEM);
    ck_assert_uint_eq(imp.num_certs, 1);
    ck_assert_ptr_null(imp.key);
    struct policy_cert_facts f = {0};
    facts(imp.certs[0], &f);
    char sha1[41], sha256[65], pin[64], aki[41];
    cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, sha1);
    cg_hex_encode(f.sha256, sizeof(f.sha256), CG_HEX_UPPER, sha256);
    EVP_EncodeBlock((uint8_t *)pin, f.spki_sha256, sizeof(f.spki_sha256));
    ck_assert_uint_eq(f.aki_len, 20);
    cg_hex_encode(f.aki, f.aki_len, CG_HEX_UPPER, aki);
    ck_assert_str_eq(sha1, VEC_SHA1);
    ck_assert_str_eq(sha256, VEC_SHA256);
    ck_assert_str_eq(pin, VEC_PIN);
    ck_assert_str_eq(aki, VEC_AKI);
    ck_assert_str_eq(f.issuer, VEC_ISSUER);
    ck_assert_str_eq(f.subject_cn, "vector client");
    policy_cert_facts_cleanup(&f);
    pki_import_cleanup(&imp);
}
END_TEST

START_TEST(der_and_openssl3_pkcs12)
{
    struct pki_import imp;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(import("client.der", NULL, &imp, &err), 0);
    ck_assert_int_eq(imp.format, PKI_IMPORT_DER);
    ck_assert_uint_eq(imp.num_certs, 1);
    assert_sha1(imp.certs[0], VEC_SHA1);
    pki_import_cleanup(&imp);

    /* openssl pkcs12 -export (OpenSSL 3 defaults: AES-256-CBC, PBKDF2) */
    ck_assert_int_eq(import("client-openssl3.p12", "vector-pw", &imp, &err), 0);
    ck_assert_int_eq(imp.format, PKI_IMPORT_PKCS12);
    ck_assert_uint_eq(imp.num_certs, 2);
    ck_assert_ptr_nonnull(imp.key);
    X509 *leaf = pki_import_key_cert(&imp);
    ck_assert_ptr_nonnull(leaf);
    assert_sha1(leaf, VEC_SHA1);
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    ck_assert_uint_eq(pki_import_identities(&imp, ids), 1);
    assert_sha1(ids[0], VEC_SHA1);
    pki_import_cleanup(&imp);
}
END_TEST

START_TEST(chain_pem_with_key)
{
    /* chain.pem + client.key: one file holding everything, in that order */
    char *chain = NULL, *key = NULL;
    size_t chain_len, key_len;
    ck_assert_int_eq(cg_file_read(data_path("chain.pem"), 1 << 20, &chain, &chain_len, NULL), 0);
    ck_assert_int_eq(cg_file_read(data_path("client.key"), 1 << 20, &key, &key_len, NULL), 0);
    char *all = malloc(chain_len + key_len + 32);
    int n = sprintf(all, "junk before\n%s%sjunk after\n", key, chain);
    struct pki_import imp = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_import_parse((uint8_t *)all, (size_t)n, NULL, &imp, &err), 0);
    ck_assert_uint_eq(imp.num_certs, 2);
    ck_assert_ptr_nonnull(imp.key);
    assert_sha1(imp.certs[0], VEC_SHA1);
    assert_sha1(imp.certs[1], VEC_CA_SHA1);
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    ck_assert_uint_eq(pki_import_identities(&imp, ids), 1); /* the CA is chain, not identity */
    pki_import_cleanup(&imp);
    /* only the CA: then it is what the user means to register */
    ck_assert_int_eq(import("ca.pem", NULL, &imp, &err), 0);
    ck_assert_uint_eq(pki_import_identities(&imp, ids), 1);
    pki_import_cleanup(&imp);
    free(all);
    free(chain);
    free(key);
}
END_TEST

START_TEST(key_mismatch)
{
    char *cert = NULL, *key = NULL;
    size_t cert_len, key_len;
    ck_assert_int_eq(cg_file_read(data_path("client.pem"), 1 << 20, &cert, &cert_len, NULL), 0);
    ck_assert_int_eq(cg_file_read(data_path("other.key"), 1 << 20, &key, &key_len, NULL), 0);
    char *all = malloc(cert_len + key_len + 1);
    memcpy(all, cert, cert_len);
    memcpy(all + cert_len, key, key_len);
    struct pki_import imp = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_import_parse((uint8_t *)all, cert_len + key_len, NULL, &imp, &err),
                     CG_ERR_INVALID);
    ck_assert_str_eq(err.msg, "private key does not match the certificate");
    ck_assert_uint_eq(imp.num_certs, 0);
    ck_assert_ptr_null(imp.key);
    /* two keys */
    memcpy(all, key, key_len);
    memcpy(all + key_len, key, key_len);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_import_parse((uint8_t *)all, 2 * key_len, NULL, &imp, &err),
                     CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than one private key"));
    free(all);
    free(cert);
    free(key);
}
END_TEST

static void expect_error(const uint8_t *data, size_t len, const char *password,
                         const char *message)
{
    struct pki_import imp = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_ne(pki_import_parse(data, len, password, &imp, &err), 0);
    ck_assert_msg(strstr(err.msg, message) != NULL, "got '%s', expected '%s'", err.msg, message);
    ck_assert_uint_eq(imp.num_certs, 0);
}

START_TEST(errors)
{
    static const char garbage[] = "hello, world\n";
    expect_error((const uint8_t *)garbage, strlen(garbage), NULL, "not a certificate");
    expect_error((const uint8_t *)"", 0, NULL, "not a certificate");
    static const uint8_t der_junk[] = {0x30, 0x82, 0x01, 0x00, 0x01, 0x02};
    expect_error(der_junk, sizeof(der_junk), NULL, "not a certificate");
    static const char pem_csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n"
                                  "-----END CERTIFICATE REQUEST-----\n";
    expect_error((const uint8_t *)pem_csr, strlen(pem_csr), NULL, "not a certificate");
    static const char pem_bad[] = "-----BEGIN CERTIFICATE-----\nMAA=\n"
                                  "-----END CERTIFICATE-----\n";
    expect_error((const uint8_t *)pem_bad, strlen(pem_bad), NULL, "malformed CERTIFICATE");

    char *key = NULL, *p12 = NULL;
    size_t key_len, p12_len;
    ck_assert_int_eq(cg_file_read(data_path("client.key"), 1 << 20, &key, &key_len, NULL), 0);
    expect_error((const uint8_t *)key, key_len, NULL, "only a private key");
    ck_assert_int_eq(
        cg_file_read(data_path("client-openssl3.p12"), 1 << 20, &p12, &p12_len, NULL), 0);
    expect_error((const uint8_t *)p12, p12_len, "wrong", "wrong password for PKCS#12 file");
    expect_error((const uint8_t *)p12, p12_len, NULL, "needs a password");
    /* a truncated PKCS#12 is not a certificate, not a password problem */
    expect_error((const uint8_t *)p12, p12_len / 2, "vector-pw", "not a certificate");
    free(key);
    free(p12);

    struct pki_import imp = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_import_file("/nonexistent/x.pem", NULL, &imp, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.pem"));
}
END_TEST

START_TEST(too_many_certificates)
{
    char *cert = NULL;
    size_t cert_len;
    ck_assert_int_eq(cg_file_read(data_path("client.pem"), 1 << 20, &cert, &cert_len, NULL), 0);
    size_t n = PKI_IMPORT_MAX_CERTS + 1;
    char *all = malloc(cert_len * n);
    for (size_t i = 0; i < n; i++) {
        memcpy(all + i * cert_len, cert, cert_len);
    }
    expect_error((uint8_t *)all, cert_len * n, NULL, "more than 32 certificates");
    free(all);
    free(cert);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_import");
    TCase *tc = tcase_create("import");
    tcase_add_test(tc, vectors_match_openssl);
    tcase_add_test(tc, der_and_openssl3_pkcs12);
    tcase_add_test(tc, chain_pem_with_key);
    tcase_add_test(tc, key_mismatch);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, too_many_certificates);
    suite_add_tcase(s, tc);
    return s;
}
