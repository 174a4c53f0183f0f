/* Tests of pki/pkcs12.c: bundles round-trip through the importer with their key and
 * whole chain, and a wrong password is reported as such. (OpenSSL 3 reading them
 * without -legacy is checked by tests/integration/test_pki_cli.py.) */
#include "pki/pkcs12.h"

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "pki/import.h"
#include "pki/issue.h"
#include "pki/key.h"

static struct pki_identity ca, leaf;

static void setup(void)
{
    ck_assert_int_eq(pki_ca_create("p12 CA", 100, &ca, NULL), 0);
    ck_assert_int_eq(pki_issue_client(&ca, "p12 client", 10, &leaf, NULL), 0);
}

static void teardown(void)
{
    pki_identity_cleanup(&leaf);
    pki_identity_cleanup(&ca);
}

START_TEST(round_trip_with_chain)
{
    uint8_t *der = NULL;
    size_t len = 0;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_pkcs12_create(&leaf, &ca.cert, 1, "s3cret", &der, &len, &err), 0);
    struct pki_import imp = {0};
    ck_assert_int_eq(pki_import_parse(der, len, "s3cret", &imp, &err), 0);
    ck_assert_int_eq(imp.format, PKI_IMPORT_PKCS12);
    ck_assert_uint_eq(imp.num_certs, 2);
    ck_assert_ptr_nonnull(imp.key);
    X509 *mine = pki_import_key_cert(&imp);
    ck_assert_ptr_nonnull(mine);
    ck_assert_int_eq(X509_cmp(mine, leaf.cert), 0);
    bool has_ca = X509_cmp(imp.certs[0], ca.cert) == 0 || X509_cmp(imp.certs[1], ca.cert) == 0;
    ck_assert(has_ca);
    ck_assert(pki_key_matches_cert(imp.key, leaf.cert));
    pki_import_cleanup(&imp);

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_import_parse(der, len, "wrong", &imp, &err), CG_ERR_INVALID);
    ck_assert_str_eq(err.msg, "wrong password for PKCS#12 file");
    free(der);
}
END_TEST

START_TEST(many_certificates)
{
    /* A .pfx collection: several certificates, read back in full. */
    struct pki_identity more[3] = {{0}};
    X509 *chain[4];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pki_issue_client(&ca, "extra", 10, &more[i], NULL), 0);
        chain[i] = more[i].cert;
    }
    chain[3] = ca.cert;
    uint8_t *der = NULL;
    size_t len = 0;
    ck_assert_int_eq(pki_pkcs12_create(&leaf, chain, 4, "pw", &der, &len, NULL), 0);
    struct pki_import imp = {0};
    ck_assert_int_eq(pki_import_parse(der, len, "pw", &imp, NULL), 0);
    ck_assert_uint_eq(imp.num_certs, 5);
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    ck_assert_uint_eq(pki_import_identities(&imp, ids), 4);
    pki_import_cleanup(&imp);
    free(der);
    for (int i = 0; i < 3; i++) {
        pki_identity_cleanup(&more[i]);
    }
}
END_TEST

START_TEST(empty_password_refused)
{
    uint8_t *der = NULL;
    size_t len = 0;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_pkcs12_create(&leaf, NULL, 0, "", &der, &len, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(der);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_pkcs12");
    TCase *tc = tcase_create("pkcs12");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_with_chain);
    tcase_add_test(tc, many_certificates);
    tcase_add_test(tc, empty_password_refused);
    suite_add_tcase(s, tc);
    return s;
}
