/* Tests for policy/cert_facts.c against certificates made with the openssl CLI
 * (tests/data/policy/README.md) and one built here with BoringSSL. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/boringssl.h"
#include "common/hex.h"

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/cert_facts.h"

static uint8_t *load_der(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/policy/%s", CG_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    ck_assert_int_gt(n, 0);
    X509_free(x);
    *len = (size_t)n;
    return der;
}

static void facts_of(const char *name, struct policy_cert_facts *f)
{
    size_t len;
    uint8_t *der = load_der(name, &len);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(policy_cert_facts_from_der(der, len, f, &err), 0);
    OPENSSL_free(der);
}

static void ck_hex(const uint8_t *bytes, size_t len, const char *expected_colons)
{
    uint8_t want[32];
    size_t want_len;
    ck_assert_int_eq(policy_thumbprint_parse(expected_colons, want, &want_len), 0);
    ck_assert_uint_eq(want_len, len);
    ck_assert_mem_eq(bytes, want, len);
}

START_TEST(test_openssl_fingerprints)
{
    struct policy_cert_facts f;
    facts_of("client.pem", &f);
    ck_hex(f.sha1, 20, "F1:BC:E0:E5:CD:13:02:74:D4:58:A3:64:4F:BD:0D:F9:AD:19:6A:5E");
    ck_hex(f.sha256, 32,
           "42:33:6B:51:BD:A5:B7:B2:17:EF:BB:02:92:79:6F:A0:38:CC:9D:72:70:7C:19:35:F5:27:7B:"
           "A3:81:C9:A8:56");
    char hex[65];
    cg_hex_encode(f.sha1, 20, CG_HEX_UPPER, hex);
    ck_assert_str_eq(hex, "F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E");
    /* SPKI pin: base64 Jq27yyCJEaLLamCqlU1fWMQNpSXqHX7Uo/hLfAOosu8= */
    static const uint8_t pin[32] = {0x26, 0xad, 0xbb, 0xcb, 0x20, 0x89, 0x11, 0xa2,
                                    0xcb, 0x6a, 0x60, 0xaa, 0x95, 0x4d, 0x5f, 0x58,
                                    0xc4, 0x0d, 0xa5, 0x25, 0xea, 0x1d, 0x7e, 0xd4,
                                    0xa3, 0xf8, 0x4b, 0x7c, 0x03, 0xa8, 0xb2, 0xef};
    ck_assert_mem_eq(f.spki_sha256, pin, 32);
    policy_cert_facts_cleanup(&f);
}
END_TEST

START_TEST(test_names_match_openssl_rfc2253)
{
    struct policy_cert_facts f;
    facts_of("client.pem", &f);
    /* openssl x509 -noout -subject -issuer -nameopt RFC2253 */
    ck_assert_str_eq(f.subject, "CN=app \\\"x\\\"\\;y,O=Acme,C=US");
    ck_assert_str_eq(f.issuer, "CN=certgate test CA,O=Acme\\, Inc.");
    ck_assert_str_eq(f.subject_cn, "app \"x\";y"); /* plain, for matchers */
    ck_assert_str_eq(f.serial_hex, "1001");
    ck_assert_uint_eq(f.aki_len, 20);
    ck_hex(f.aki, 20, "CB:53:2E:07:A7:32:2C:A8:3A:25:06:6B:20:E1:2C:85:AF:2C:FA:C5");
    ck_assert_int_eq((long long)f.not_before, 1795518036LL); /* Nov 24 11:00:36 2026 GMT */
    ck_assert_int_eq((long long)f.not_after, 1953198036LL);  /* Nov 23 11:00:36 2031 GMT */
    ck_assert_uint_eq(f.num_dns_sans, 2);
    ck_assert_str_eq(f.dns_sans[0], "client.example.com");
    ck_assert_str_eq(f.dns_sans[1], "alt.example.com");
    ck_assert_uint_eq(f.num_uri_sans, 1);
    ck_assert_str_eq(f.uri_sans[0], "spiffe://example.org/ns/db/sa/app");
    policy_cert_facts_cleanup(&f);
    policy_cert_facts_cleanup(&f); /* zeroed: a second cleanup is harmless */
}
END_TEST

START_TEST(test_same_key_renewed_and_other_issuer)
{
    struct policy_cert_facts a, b, c;
    facts_of("client.pem", &a);
    facts_of("client_renewed.pem", &b);
    facts_of("client_other_issuer.pem", &c);
    ck_assert_mem_ne(a.sha1, b.sha1, 20);
    ck_assert_mem_eq(a.spki_sha256, b.spki_sha256, 32);
    ck_assert_mem_eq(a.spki_sha256, c.spki_sha256, 32);
    ck_assert_str_eq(a.issuer, b.issuer);
    ck_assert_str_eq(c.issuer, "CN=other CA,O=Other");
    ck_assert_mem_eq(a.aki, b.aki, 20);
    ck_assert_mem_ne(a.aki, c.aki, 20);
    policy_cert_facts_cleanup(&a);
    policy_cert_facts_cleanup(&b);
    policy_cert_facts_cleanup(&c);
}
END_TEST

START_TEST(test_rejects_garbage)
{
    struct policy_cert_facts f;
    struct cg_errbuf err = {{0}};
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    ck_assert_int_eq(policy_cert_facts_from_der(junk, sizeof(junk), &f, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(f.subject);
    ck_assert_int_eq(policy_cert_facts_from_der(NULL, 0, &f, &err), CG_ERR_INVALID);

    size_t len;
    uint8_t *der = load_der("client.pem", &len);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(policy_cert_facts_from_der(longer, len + 1, &f, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "trailing"));
    ck_assert_int_eq(policy_cert_facts_from_der(der, len - 1, &f, &err), CG_ERR_INVALID);
    free(longer);
    OPENSSL_free(der);
}
END_TEST

/* A certificate built here: multi-valued RDN, non-ASCII and control characters, no AKI,
 * an unprintable SAN. */
START_TEST(test_generated_name_escaping)
{
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    ck_assert_int_eq(EC_KEY_generate_key(ec), 1);
    EVP_PKEY *pkey = EVP_PKEY_new();
    ck_assert_int_eq(EVP_PKEY_assign_EC_KEY(pkey, ec), 1);

    X509 *x = X509_new();
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x2a);
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const uint8_t *)"FR", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const uint8_t *)"Soci\xc3\xa9t\xc3\xa9",
                               -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const uint8_t *)"a", -1, -1, 0);
    /* set = -1: same RDN as the previous entry (multi-valued). */
    X509_NAME_add_entry_by_txt(name, "UID", MBSTRING_UTF8, (const uint8_t *)"b", -1, -1, -1);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)" #lead\ntrail ", -1, -1,
                               0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_NAME_free(name);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
                                               "DNS:ok.example,DNS:bad name,URI:urn:x");
    ck_assert_ptr_nonnull(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ck_assert_int_gt(X509_sign(x, pkey, EVP_sha256()), 0);
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    ck_assert_int_gt(len, 0);

    struct policy_cert_facts f;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(policy_cert_facts_from_der(der, (size_t)len, &f, &err), 0);
    ck_assert_str_eq(f.subject, "CN=\\ #lead\\0Atrail\\ ,OU=a+UID=b,O=Soci\\C3\\A9t\\C3\\A9,C=FR");
    ck_assert_str_eq(f.issuer, f.subject);
    ck_assert_ptr_null(f.subject_cn); /* a control character: not usable for matching */
    ck_assert_str_eq(f.serial_hex, "2A");
    ck_assert_uint_eq(f.aki_len, 0);
    ck_assert_uint_eq(f.num_dns_sans, 1); /* "bad name" has a space: dropped */
    ck_assert_str_eq(f.dns_sans[0], "ok.example");
    ck_assert_uint_eq(f.num_uri_sans, 1);
    ck_assert_int_eq((long long)(f.not_after - f.not_before), 7200);
    policy_cert_facts_cleanup(&f);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(pkey);
}
END_TEST

/* pem_key reads the public key of the PEM certificate tests/data/policy/|name|. */
static EVP_PKEY *pem_key(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/policy/%s", CG_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    EVP_PKEY *key = X509_get_pubkey(x);
    X509_free(x);
    ck_assert_ptr_nonnull(key);
    return key;
}

START_TEST(test_signed_by)
{
    /* What the pin rule relies on: the issuer's key verifies the certificates it signed,
     * and nothing else passes. */
    EVP_PKEY *ca = pem_key("ca.pem");
    EVP_PKEY *leaf_key = pem_key("client.pem"); /* a key that signed nothing here */
    size_t len, renewed_len, other_len;
    uint8_t *der = load_der("client.pem", &len);
    uint8_t *renewed = load_der("client_renewed.pem", &renewed_len);
    uint8_t *other = load_der("client_other_issuer.pem", &other_len);
    ck_assert(policy_cert_signed_by(der, len, ca));
    ck_assert(policy_cert_signed_by(renewed, renewed_len, ca));
    ck_assert(!policy_cert_signed_by(other, other_len, ca));
    ck_assert(!policy_cert_signed_by(der, len, leaf_key));
    ck_assert(!policy_cert_signed_by(der, len, NULL));
    ck_assert(!policy_cert_signed_by(NULL, 0, ca));
    /* one flipped bit in the signed part, or bytes after the certificate */
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, der, len);
    copy[len / 2] ^= 0x01;
    ck_assert(!policy_cert_signed_by(copy, len, ca));
    memcpy(copy, der, len);
    copy[len] = 0;
    ck_assert(!policy_cert_signed_by(copy, len + 1, ca));
    ck_assert(policy_cert_signed_by(copy, len, ca));
    free(copy);
    OPENSSL_free(der);
    OPENSSL_free(renewed);
    OPENSSL_free(other);
    EVP_PKEY_free(ca);
    EVP_PKEY_free(leaf_key);
}
END_TEST

START_TEST(test_thumbprint_formats)
{
    uint8_t out[32];
    size_t len;
    ck_assert_int_eq(policy_thumbprint_parse("f1bce0e5cd130274d458a3644fbd0df9ad196a5e", out, &len),
                     0);
    ck_assert_uint_eq(len, 20);
    ck_assert_uint_eq(out[0], 0xf1);
    ck_assert_int_eq(policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E", out, &len),
                     0);
    ck_assert_int_eq(policy_thumbprint_parse(
                         "f1:BC:e0:E5:CD:13:02:74:D4:58:A3:64:4F:BD:0D:F9:AD:19:6A:5E", out, &len),
                     0);
    ck_assert_uint_eq(len, 20);
    ck_assert_int_eq(
        policy_thumbprint_parse("42336B51BDA5B7B217EFBB0292796FA038CC9D72707C1935F5277BA381C9A856",
                                out, &len),
        0);
    ck_assert_uint_eq(len, 32);
    /* wrong lengths, odd digits, mixed separators, stray characters */
    ck_assert_int_eq(policy_thumbprint_parse("", out, &len), CG_ERR_INVALID);
    ck_assert_int_eq(policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A", out, &len),
                     CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E0", out, &len),
        CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E00", out, &len),
        CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse("F1:BCE0E5CD130274D458A3644FBD0DF9AD196A5E", out, &len),
        CG_ERR_INVALID);
    ck_assert_int_eq(policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A5G", out, &len),
                     CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse(" F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E", out, &len),
        CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse("F1BCE0E5CD130274D458A3644FBD0DF9AD196A5E:", out, &len),
        CG_ERR_INVALID);
    ck_assert_int_eq(
        policy_thumbprint_parse(
            "42336B51BDA5B7B217EFBB0292796FA038CC9D72707C1935F5277BA381C9A85600", out, &len),
        CG_ERR_INVALID);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("cert_facts");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_openssl_fingerprints);
    tcase_add_test(tc, test_names_match_openssl_rfc2253);
    tcase_add_test(tc, test_same_key_renewed_and_other_issuer);
    tcase_add_test(tc, test_rejects_garbage);
    tcase_add_test(tc, test_generated_name_escaping);
    tcase_add_test(tc, test_thumbprint_formats);
    tcase_add_test(tc, test_signed_by);
    suite_add_tcase(s, tc);
    return s;
}
