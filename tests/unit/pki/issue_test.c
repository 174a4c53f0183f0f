/* Tests of pki/issue.c: the CA, server and client certificates carry the extensions,
 * names and validity that TLS stacks and the policy's pin rule rely on. */
#include "pki/issue.h"

#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/boringssl.h"

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/key.h"

static struct pki_identity ca;

static void setup(void)
{
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_ca_create("test CA", 3650, &ca, &err), 0);
}

static void teardown(void)
{
    pki_identity_cleanup(&ca);
}

static long days_valid(X509 *cert)
{
    int days = 0, secs = 0;
    ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
                                    X509_get0_notAfter(cert)), 1);
    return days;
}

static bool verifies(X509 *leaf, X509 *root, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, root);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    bool ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static char *san_text(X509 *cert)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    ck_assert_ptr_nonnull(names);
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type == GEN_DNS) {
            strcat(buf, "DNS:");
            strncat(buf, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                    (size_t)ASN1_STRING_length(gn->d.dNSName));
        } else if (gn->type == GEN_IPADD) {
            char hex[3];
            strcat(buf, "IP:");
            for (int j = 0; j < ASN1_STRING_length(gn->d.iPAddress); j++) {
                snprintf(hex, sizeof(hex), "%02x", ASN1_STRING_get0_data(gn->d.iPAddress)[j]);
                strcat(buf, hex);
            }
        }
        strcat(buf, " ");
    }
    GENERAL_NAMES_free(names);
    return buf;
}

START_TEST(ca_is_a_ca)
{
    ck_assert_int_eq(X509_check_ca(ca.cert), 1);
    ck_assert(X509_get_extension_flags(ca.cert) & EXFLAG_CA);
    ck_assert(X509_get_extension_flags(ca.cert) & EXFLAG_SS);
    uint32_t ku = X509_get_key_usage(ca.cert);
    ck_assert(ku & KU_KEY_CERT_SIGN);
    ck_assert(ku & KU_CRL_SIGN);
    ck_assert(!(ku & KU_DIGITAL_SIGNATURE));
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca.cert, NID_basic_constraints, &crit, NULL);
    ck_assert_ptr_nonnull(bc);
    ck_assert_int_eq(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *kus = X509_get_ext_d2i(ca.cert, NID_key_usage, &crit, NULL);
    ck_assert_int_eq(crit, 1);
    ASN1_BIT_STRING_free(kus);
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(ca.cert));
    ck_assert_int_eq(days_valid(ca.cert), 3650);
    ck_assert(pki_key_matches_cert(ca.key, ca.cert));
    ck_assert(verifies(ca.cert, ca.cert, X509_PURPOSE_ANY));
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca.cert), NID_commonName, cn, sizeof(cn));
    ck_assert_str_eq(cn, "test CA");
}
END_TEST

START_TEST(serials_are_random_128_bit)
{
    struct cg_errbuf err = {{0}};
    struct pki_identity a = {0}, b = {0};
    ck_assert_int_eq(pki_issue_client(&ca, "a", 10, &a, &err), 0);
    ck_assert_int_eq(pki_issue_client(&ca, "a", 10, &b, &err), 0);
    BIGNUM *sa = ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.cert), NULL);
    BIGNUM *sb = ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.cert), NULL);
    ck_assert_int_ne(BN_cmp(sa, sb), 0);
    ck_assert_int_eq(BN_num_bytes(sa), 16);
    ck_assert(!BN_is_negative(sa));
    BN_free(sa);
    BN_free(sb);
    pki_identity_cleanup(&a);
    pki_identity_cleanup(&b);
}
END_TEST

START_TEST(server_cert_extensions)
{
    struct cg_errbuf err = {{0}};
    struct pki_identity leaf = {0};
    const char *sans[] = {"localhost", "127.0.0.1", "::1", "[2001:db8::5]", "*.db.example"};
    ck_assert_int_eq(pki_issue_server(&ca, "localhost", sans, 5, 90, &leaf, &err), 0);
    ck_assert_str_eq(san_text(leaf.cert), "DNS:localhost IP:7f000001 "
                     "IP:00000000000000000000000000000001 "
                     "IP:20010db8000000000000000000000005 DNS:*.db.example ");
    ck_assert_int_eq(X509_check_ca(leaf.cert), 0);
    ck_assert(X509_get_key_usage(leaf.cert) == KU_DIGITAL_SIGNATURE);
    ck_assert(X509_get_extended_key_usage(leaf.cert) == XKU_SSL_SERVER);
    ck_assert_int_eq(days_valid(leaf.cert), 90);
    ck_assert(verifies(leaf.cert, ca.cert, X509_PURPOSE_SSL_SERVER));
    ck_assert(!verifies(leaf.cert, ca.cert, X509_PURPOSE_SSL_CLIENT));
    ck_assert_int_eq(X509_check_host(leaf.cert, "localhost", 9, 0, NULL), 1);
    ck_assert_int_eq(X509_check_ip_asc(leaf.cert, "::1", 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(leaf.cert, "2001:db8::5", 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(leaf.cert, "127.0.0.2", 0), 0);
    /* AKI is the CA's SKI */
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf.cert);
    ck_assert_ptr_nonnull(aki);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca.cert)), 0);
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(leaf.cert));
    ck_assert(pki_key_matches_cert(leaf.key, leaf.cert));
    ck_assert(!pki_key_matches_cert(ca.key, leaf.cert));
    pki_identity_cleanup(&leaf);
}
END_TEST

START_TEST(client_cert_extensions)
{
    struct cg_errbuf err = {{0}};
    struct pki_identity leaf = {0};
    ck_assert_int_eq(pki_issue_client(&ca, "HR app", 1825, &leaf, &err), 0);
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf.cert), NID_commonName, cn, sizeof(cn));
    ck_assert_str_eq(cn, "HR app");
    ck_assert(X509_get_extended_key_usage(leaf.cert) == XKU_SSL_CLIENT);
    ck_assert(X509_get_key_usage(leaf.cert) == KU_DIGITAL_SIGNATURE);
    ck_assert_int_eq(X509_check_ca(leaf.cert), 0);
    ck_assert_int_eq(days_valid(leaf.cert), 1825);
    ck_assert(verifies(leaf.cert, ca.cert, X509_PURPOSE_SSL_CLIENT));
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.cert),
                                           X509_get0_subject_key_id(ca.cert)), 0);
    ck_assert_ptr_null(X509_get_ext_d2i(leaf.cert, NID_subject_alt_name, NULL, NULL));
    /* Backdated a little for clock skew, but not by more than ten minutes. */
    time_t now = time(NULL) - 600;
    ck_assert_int_gt(X509_cmp_time(X509_get0_notBefore(leaf.cert), &now), 0);
    now = time(NULL);
    ck_assert_int_lt(X509_cmp_time(X509_get0_notBefore(leaf.cert), &now), 0);
    pki_identity_cleanup(&leaf);
}
END_TEST

START_TEST(validity_is_cut_at_ca_expiry)
{
    struct cg_errbuf err = {{0}};
    struct pki_identity short_ca = {0}, leaf = {0};
    ck_assert_int_eq(pki_ca_create("short CA", 30, &short_ca, &err), 0);
    ck_assert_int_eq(pki_issue_client(&short_ca, "x", 1825, &leaf, &err), 0);
    time_t limit = time(NULL) + 31 * 86400;
    ck_assert_int_lt(X509_cmp_time(X509_get0_notAfter(leaf.cert), &limit), 0);
    ck_assert_int_eq(ASN1_TIME_diff(&(int){0}, &(int){0}, X509_get0_notAfter(leaf.cert),
                                    X509_get0_notAfter(short_ca.cert)), 1);
    ck_assert(verifies(leaf.cert, short_ca.cert, X509_PURPOSE_SSL_CLIENT));
    pki_identity_cleanup(&leaf);
    pki_identity_cleanup(&short_ca);
}
END_TEST

START_TEST(bad_inputs_are_refused)
{
    struct cg_errbuf err = {{0}};
    struct pki_identity leaf = {0};
    const char *bad[] = {"not a name!"};
    ck_assert_int_eq(pki_issue_server(&ca, "x", bad, 1, 10, &leaf, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "neither an IP address nor a DNS name"));
    ck_assert_int_eq(pki_issue_server(&ca, "x", bad, 0, 10, &leaf, &err), CG_ERR_INVALID);
    ck_assert_int_eq(pki_issue_client(&ca, "x", 0, &leaf, &err), CG_ERR_INVALID);
    ck_assert_int_eq(pki_issue_client(&ca, "x", PKI_MAX_DAYS + 1, &leaf, &err), CG_ERR_INVALID);
    ck_assert_int_eq(pki_issue_client(&ca, "", 10, &leaf, &err), CG_ERR_INVALID);
    char long_name[80];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(pki_issue_client(&ca, long_name, 10, &leaf, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(leaf.cert);
    ck_assert_int_eq(pki_san_check("db-1.example.com", NULL), 0);
    ck_assert_int_eq(pki_san_check("-bad.example", NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_san_check("a..b", NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_san_check("10.0.0.1,10.0.0.2", NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_san_check("[::1]", NULL), 0);
    /* The one host-name rule (common/hostname.h), as for SNI and an upstream's sni. */
    ck_assert_int_eq(pki_san_check("db_1.internal", NULL), 0);
    ck_assert_int_eq(pki_san_check("*.db.example.com", NULL), 0);
    ck_assert_int_eq(pki_san_check("bad-.example", NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_san_check("db.example.com.", NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_san_check("10.0.0.300", NULL), CG_ERR_INVALID);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_issue");
    TCase *tc = tcase_create("issue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ca_is_a_ca);
    tcase_add_test(tc, serials_are_random_128_bit);
    tcase_add_test(tc, server_cert_extensions);
    tcase_add_test(tc, client_cert_extensions);
    tcase_add_test(tc, validity_is_cut_at_ca_expiry);
    tcase_add_test(tc, bad_inputs_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
