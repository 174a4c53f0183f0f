/* Tests of pki/chain.c: a client chain checked as a listener with client_ca (and crl)
 * checks it. A CA and a client made with pki/issue.c validate; another CA's client does
 * not; a CRL of that CA revoking the client makes it fail; files that are not CA
 * certificates or CRLs are refused with their name. */
#include "pki/chain.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki/issue.h"

static char dir[] = "/tmp/cg-chain-test-XXXXXX";
static struct pki_identity ca, other_ca, client, stranger;

static void write_pem(const char *path, X509 *cert, X509_CRL *crl)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert(cert ? PEM_write_X509(f, cert) : PEM_write_X509_CRL(f, crl));
    fclose(f);
}

static char *path(const char *name)
{
    static char buf[4][256];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* revoke writes a CRL of |issuer| revoking |cert| (or nothing) to |file|. */
static void write_crl(const char *file, const struct pki_identity *issuer, X509 *cert)
{
    X509_CRL *crl = X509_CRL_new();
    ck_assert(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
    ck_assert(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->cert)));
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL) - 60);
    ASN1_TIME *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
    ck_assert(X509_CRL_set1_lastUpdate(crl, now));
    ck_assert(X509_CRL_set1_nextUpdate(crl, next));
    if (cert != NULL) {
        X509_REVOKED *r = X509_REVOKED_new();
        ck_assert(X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(cert)));
        ck_assert(X509_REVOKED_set_revocationDate(r, now));
        ck_assert(X509_CRL_add0_revoked(crl, r));
    }
    ck_assert(X509_CRL_sort(crl));
    ck_assert(X509_CRL_sign(crl, issuer->key, EVP_sha256()));
    write_pem(file, NULL, crl);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_ca_create("chain test CA", 30, &ca, &err), CG_OK);
    ck_assert_int_eq(pki_ca_create("other CA", 30, &other_ca, &err), CG_OK);
    ck_assert_int_eq(pki_issue_client(&ca, "client", 10, &client, &err), CG_OK);
    ck_assert_int_eq(pki_issue_client(&other_ca, "stranger", 10, &stranger, &err), CG_OK);
    write_pem(path("ca.pem"), ca.cert, NULL);
    write_crl(path("empty.crl"), &ca, NULL);
    write_crl(path("revoked.crl"), &ca, client.cert);
}

static void teardown(void)
{
    const char *names[] = {"ca.pem", "empty.crl", "revoked.crl"};
    for (size_t i = 0; i < 3; i++) {
        unlink(path(names[i]));
    }
    rmdir(dir);
    pki_identity_cleanup(&ca);
    pki_identity_cleanup(&other_ca);
    pki_identity_cleanup(&client);
    pki_identity_cleanup(&stranger);
}

START_TEST(validates_and_refuses)
{
    X509_STORE *store = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_chain_store_load(path("ca.pem"), NULL, &store, &err), CG_OK);
    const char *why = "unset";
    ck_assert(pki_chain_verify(store, client.cert, NULL, 0, &why));
    ck_assert_ptr_null(why);
    ck_assert(!pki_chain_verify(store, stranger.cert, NULL, 0, &why));
    ck_assert_str_eq(why, "unable to get local issuer certificate");
    /* The stranger's CA sent along as an untrusted intermediate is not a trust anchor. */
    X509 *chain[] = {other_ca.cert};
    ck_assert(!pki_chain_verify(store, stranger.cert, chain, 1, &why));
    X509_STORE_free(store);
}
END_TEST

START_TEST(crl)
{
    X509_STORE *store = NULL;
    struct cg_errbuf err = {{0}};
    const char *why = NULL;
    ck_assert_int_eq(pki_chain_store_load(path("ca.pem"), path("empty.crl"), &store, &err), CG_OK);
    ck_assert(pki_chain_verify(store, client.cert, NULL, 0, &why));
    X509_STORE_free(store);
    ck_assert_int_eq(pki_chain_store_load(path("ca.pem"), path("revoked.crl"), &store, &err),
                     CG_OK);
    ck_assert(!pki_chain_verify(store, client.cert, NULL, 0, &why));
    ck_assert_str_eq(why, "certificate revoked");
    X509_STORE_free(store);
}
END_TEST

START_TEST(bad_files)
{
    X509_STORE *store = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_chain_store_load(path("missing.pem"), NULL, &store, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.pem"));
    ck_assert_ptr_null(store);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_chain_store_load(path("ca.pem"), path("ca.pem"), &store, &err),
                     CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "no PEM CRL"));
    ck_assert_ptr_null(store);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_chain");
    TCase *tc = tcase_create("chain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, validates_and_refuses);
    tcase_add_test(tc, crl);
    tcase_add_test(tc, bad_files);
    suite_add_tcase(s, tc);
    return s;
}
