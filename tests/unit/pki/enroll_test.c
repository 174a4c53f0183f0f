/* Tests of pki/enroll.c: the one enrollment path that `certgate cert client`, `cert
 * import` and the admin API's POST /admin/certificates(/import) share. They used to
 * have an implementation each (two DEFAULT_CLIENT_DAYS); what they must all do is
 * checked here once: a name already registered is refused before anything is issued,
 * the pin carries the issuer's key, the caller's delivery happens before the save, and
 * a failed step leaves the policy file as it was. */
#include "pki/enroll.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/base64.h>
#include <openssl/mem.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/timestamp.h"
#include "pki/issue.h"
#include "pki/registry.h"
#include "policy/policy.h"

static struct pki_identity ca;
static char dir[64];
static char policy_path[128];

static void setup(void)
{
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_ca_create("enroll test CA", 30, &ca, &err), CG_OK);
    snprintf(dir, sizeof(dir), "/tmp/cg-enroll-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(policy_path, sizeof(policy_path), "%s/sub/policy.json", dir);
}

static void teardown(void)
{
    pki_identity_cleanup(&ca);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *read_policy(void)
{
    char *text = NULL;
    size_t len = 0;
    if (cg_file_read(policy_path, 1 << 20, &text, &len, NULL) != CG_OK) {
        return NULL;
    }
    return text;
}

static const struct pki_enroll_policy file_policy = {
    .path = policy_path, .create = true, .lock_timeout_ms = 1000};

static int issue(const char *name, const char *password, bool generate,
                 const struct pki_enroll_policy *policy, struct pki_enrollment *out,
                 struct cg_errbuf *err)
{
    const struct pki_enroll_entry entry = {.name = name, .clearance = "Operator"};
    const struct pki_enroll_issue is = {
        .ca = &ca, .password = password, .generate_password = generate};
    return pki_enroll_issue(&entry, &is, policy, out, err);
}

/* spki_b64 is the base64 DER SubjectPublicKeyInfo of |cert|, as pins hold it. */
static char *spki_b64(X509 *cert)
{
    uint8_t *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    ck_assert_int_gt(len, 0);
    size_t b64_len;
    EVP_EncodedLength(&b64_len, (size_t)len);
    char *out = malloc(b64_len);
    EVP_EncodeBlock((uint8_t *)out, der, (size_t)len);
    OPENSSL_free(der);
    return out;
}

START_TEST(issue_without_policy)
{
    struct pki_enrollment e = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(issue("app", NULL, true, NULL, &e, &err), CG_OK);
    ck_assert_int_eq(e.step, PKI_ENROLL_DONE);
    ck_assert_ptr_nonnull(e.leaf.cert);
    ck_assert_ptr_nonnull(e.bundle.p12);
    ck_assert_uint_eq(strlen(e.password), PKI_PASSWORD_LEN);
    ck_assert_ptr_null(e.entry);
    ck_assert_str_eq(e.thumbprint, "");
    /* The default lifetime, cut at the CA's own expiry (30 days here). */
    time_t nb, na, ca_na;
    ck_assert_int_eq(cg_timestamp_from_asn1(X509_get0_notBefore(e.leaf.cert), &nb), CG_OK);
    ck_assert_int_eq(cg_timestamp_from_asn1(X509_get0_notAfter(e.leaf.cert), &na), CG_OK);
    ck_assert_int_eq(cg_timestamp_from_asn1(X509_get0_notAfter(ca.cert), &ca_na), CG_OK);
    ck_assert_int_eq(na, ca_na);
    pki_enrollment_cleanup(&e);
    /* With a password given, none is generated; without either, no PKCS#12. */
    ck_assert_int_eq(issue("app", "pw-given", true, NULL, &e, &err), CG_OK);
    ck_assert_str_eq(e.password, "");
    ck_assert_ptr_nonnull(e.bundle.p12);
    pki_enrollment_cleanup(&e);
    ck_assert_int_eq(issue("app", NULL, false, NULL, &e, &err), CG_OK);
    ck_assert_ptr_null(e.bundle.p12);
    ck_assert_ptr_nonnull(e.bundle.key_pem);
    pki_enrollment_cleanup(&e);
    ck_assert_ptr_null(read_policy());
}
END_TEST

START_TEST(issue_registers_with_pin)
{
    struct pki_enrollment e = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(issue("app", NULL, true, &file_policy, &e, &err), CG_OK);
    ck_assert_int_eq(e.step, PKI_ENROLL_DONE);
    /* The entry: the leaf's SHA-1 first, a pin holding the CA's key. */
    ck_assert_str_eq(json_string_value(json_object_get(e.entry, "name")), "app");
    ck_assert_str_eq(json_string_value(json_object_get(e.entry, "clearance")), "Operator");
    const char *tp = json_string_value(json_array_get(json_object_get(e.entry, "thumbprints"), 0));
    ck_assert_str_eq(e.thumbprint, tp);
    uint8_t *der = NULL;
    int len = i2d_X509(e.leaf.cert, &der);
    struct policy_cert_facts f = {0};
    ck_assert_int_eq(policy_cert_facts_from_der(der, (size_t)len, &f, NULL), CG_OK);
    OPENSSL_free(der);
    char sha1[2 * POLICY_SHA1_LEN + 1];
    snprintf(sha1, sizeof(sha1), "%s", tp);
    uint8_t want[POLICY_SHA256_LEN];
    size_t want_len = 0;
    ck_assert_int_eq(policy_thumbprint_parse(sha1, want, &want_len), CG_OK);
    ck_assert_int_eq(memcmp(want, f.sha1, POLICY_SHA1_LEN), 0);
    policy_cert_facts_cleanup(&f);
    json_t *pins = json_object_get(e.entry, "pins");
    ck_assert_uint_eq(json_array_size(pins), 1);
    char *ca_spki = spki_b64(ca.cert);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(pins, 0), "issuer_spki")),
                     ca_spki);
    free(ca_spki);
    pki_enrollment_cleanup(&e);
    /* Saved (the parent directory made), and it loads. */
    json_t *doc = NULL;
    ck_assert_int_eq(pki_registry_load(policy_path, &doc, &err), CG_OK);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 1);
    json_decref(doc);
}
END_TEST

START_TEST(duplicate_name_refused_before_issuing)
{
    struct pki_enrollment e = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(issue("dup", NULL, true, &file_policy, &e, &err), CG_OK);
    pki_enrollment_cleanup(&e);
    char *before = read_policy();
    ck_assert_int_eq(issue("dup", NULL, true, &file_policy, &e, &err), CG_ERR_EXISTS);
    ck_assert_int_eq(e.step, PKI_ENROLL_NAME);
    ck_assert_ptr_nonnull(strstr(err.msg, "an entry named 'dup' is already registered"));
    ck_assert_ptr_null(e.leaf.cert); /* nothing was issued */
    ck_assert_ptr_null(e.entry);
    char *after = read_policy();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    pki_enrollment_cleanup(&e);
}
END_TEST

static int deliver_calls;

static int deliver_fails(const void *ctx, const struct pki_enrollment *e, struct cg_errbuf *err)
{
    deliver_calls++;
    /* Called with the entry built and checked, before the save. */
    ck_assert_ptr_nonnull(e->entry);
    ck_assert_ptr_nonnull(e->bundle.cert_pem);
    ck_assert_ptr_null(read_policy());
    return cg_errf(err, CG_ERR_IO, "%s: cannot write", (const char *)ctx);
}

START_TEST(failed_delivery_registers_nothing)
{
    struct pki_enrollment e = {0};
    struct cg_errbuf err = {{0}};
    const struct pki_enroll_entry entry = {.name = "app", .clearance = "ValidUser"};
    const struct pki_enroll_issue is = {
        .ca = &ca, .generate_password = true, .deliver = deliver_fails, .deliver_ctx = "out"};
    deliver_calls = 0;
    ck_assert_int_eq(pki_enroll_issue(&entry, &is, &file_policy, &e, &err), CG_ERR_IO);
    ck_assert_int_eq(e.step, PKI_ENROLL_DELIVER);
    ck_assert_int_eq(deliver_calls, 1);
    ck_assert_str_eq(err.msg, "out: cannot write");
    ck_assert_ptr_null(read_policy());
    pki_enrollment_cleanup(&e);
}
END_TEST

START_TEST(listener_rules_checked_before_save)
{
    /* A policy with an identity matcher loads for a listener with a client_ca; an
     * enrollment for a listener without one must not write it. */
    struct cg_errbuf err = {{0}};
    char parent[160];
    snprintf(parent, sizeof(parent), "%s/sub", dir);
    ck_assert_int_eq(mkdir(parent, 0755), 0);
    static const char text[] =
        "{\"allow_ips\": [\"127.0.0.1\"], \"routes\": [{\"path\": \"/*\", \"require\": "
        "\"Authenticated\"}], \"certificates\": [{\"name\": \"by-cn\", \"clearance\": "
        "\"ValidUser\", \"match\": {\"subject_cn\": \"svc\"}}]}\n";
    ck_assert_int_eq(cg_file_write_atomic(policy_path, text, sizeof(text) - 1, 0644, &err), CG_OK);
    struct policy_load_opts no_client_ca = {.client_ca = false};
    struct pki_enroll_policy strict = file_policy;
    strict.load_opts = &no_client_ca;
    struct pki_enrollment e = {0};
    ck_assert_int_eq(issue("app", NULL, true, &strict, &e, &err), CG_ERR_INVALID);
    ck_assert_int_eq(e.step, PKI_ENROLL_CHECK);
    ck_assert_ptr_nonnull(strstr(err.msg, "identity matchers need a listener with tls.client_ca"));
    char *after = read_policy();
    ck_assert_str_eq(after, text);
    free(after);
    pki_enrollment_cleanup(&e);
    /* The same under the default rules (any listener). */
    ck_assert_int_eq(issue("app", NULL, true, &file_policy, &e, &err), CG_OK);
    pki_enrollment_cleanup(&e);
}
END_TEST

START_TEST(held_lock_and_bad_requests)
{
    struct pki_enrollment e = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(issue("first", NULL, true, &file_policy, &e, &err), CG_OK);
    pki_enrollment_cleanup(&e);
    int fd = -1;
    ck_assert_int_eq(pki_registry_lock(policy_path, &fd, &err), CG_OK);
    struct pki_enroll_policy quick = file_policy;
    quick.lock_timeout_ms = 0;
    ck_assert_int_eq(issue("app", NULL, true, &quick, &e, &err), CG_ERR_LIMIT);
    ck_assert_int_eq(e.step, PKI_ENROLL_OPEN);
    ck_assert_ptr_null(e.leaf.cert);
    pki_enrollment_cleanup(&e);
    pki_registry_unlock(fd);
    /* The entry's own rules, before anything is opened. */
    static const struct pki_enroll_entry bad[] = {
        {.name = "app", .clearance = "root"},
        {.name = "", .clearance = "Operator"},
        {.name = "a\nb", .clearance = "Operator"},
        {.name = "0123456789012345678901234567890123456789012345678901234567890123456789",
         .clearance = "Operator"},
        {.name = NULL, .clearance = "Operator"},
    };
    const struct pki_enroll_issue is = {.ca = &ca};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cg_errbuf why = {{0}};
        ck_assert_int_eq(pki_enroll_entry_check(&bad[i], &why), CG_ERR_INVALID);
        ck_assert_int_eq(pki_enroll_issue(&bad[i], &is, &file_policy, &e, &why), CG_ERR_INVALID);
        ck_assert_int_eq(e.step, PKI_ENROLL_REQUEST);
        pki_enrollment_cleanup(&e);
    }
    ck_assert_int_eq(pki_enroll_import(&bad[0], &ca.cert, 1, NULL, 0, NULL, &e, &err),
                     CG_ERR_INVALID);
    ck_assert_int_eq(e.step, PKI_ENROLL_REQUEST);
    ck_assert_str_eq(pki_enroll_step_str(PKI_ENROLL_CHECK), "check");
}
END_TEST

START_TEST(import_registers_and_refuses_twice)
{
    struct pki_identity a = {0}, b = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_issue_client(&ca, "a", 10, &a, &err), CG_OK);
    ck_assert_int_eq(pki_issue_client(&ca, "b", 10, &b, &err), CG_OK);
    X509 *certs[] = {a.cert, b.cert};
    const struct pki_enroll_entry entry = {.name = "pair", .clearance = "ValidUser"};
    struct pki_enrollment e = {0};
    /* Without the issuer: thumbprints only, no pin. */
    ck_assert_int_eq(pki_enroll_import(&entry, certs, 2, NULL, 0, &file_policy, &e, &err), CG_OK);
    ck_assert_int_eq(e.step, PKI_ENROLL_DONE);
    ck_assert_uint_eq(json_array_size(json_object_get(e.entry, "thumbprints")), 4);
    ck_assert_uint_eq(json_array_size(json_object_get(e.entry, "pins")), 0);
    ck_assert_ptr_null(e.leaf.cert);
    pki_enrollment_cleanup(&e);
    /* A certificate registered already, under another name. */
    const struct pki_enroll_entry again = {.name = "again", .clearance = "ValidUser"};
    ck_assert_int_eq(pki_enroll_import(&again, &b.cert, 1, &ca.cert, 1, &file_policy, &e, &err),
                     CG_ERR_EXISTS);
    ck_assert_int_eq(e.step, PKI_ENROLL_REGISTER);
    ck_assert_ptr_nonnull(strstr(err.msg, "already registered as 'pair'"));
    pki_enrollment_cleanup(&e);
    /* The same name: refused at the name step. */
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_enroll_import(&entry, &ca.cert, 1, NULL, 0, &file_policy, &e, &err),
                     CG_ERR_EXISTS);
    ck_assert_int_eq(e.step, PKI_ENROLL_NAME);
    pki_enrollment_cleanup(&e);
    pki_identity_cleanup(&a);
    pki_identity_cleanup(&b);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_enroll");
    TCase *tc = tcase_create("enroll");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, issue_without_policy);
    tcase_add_test(tc, issue_registers_with_pin);
    tcase_add_test(tc, duplicate_name_refused_before_issuing);
    tcase_add_test(tc, failed_delivery_registers_nothing);
    tcase_add_test(tc, listener_rules_checked_before_save);
    tcase_add_test(tc, held_lock_and_bad_requests);
    tcase_add_test(tc, import_registers_and_refuses_twice);
    suite_add_tcase(s, tc);
    return s;
}
