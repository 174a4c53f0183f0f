/* Tests for policy/registry.c: the digest hash tables (collisions, growth, multi-values)
 * and certificate identification end to end with real certificates: thumbprint, then
 * RavenDB's pin rule (same key + same issuer + same AKI -> trusted; same key + other
 * issuer -> not). Certificates: tests/data/policy/README.md. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/boringssl.h"

#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "policy/policy_internal.h"

START_TEST(test_hashtab)
{
    struct policy_hashtab t;
    policy_hashtab_init(&t, 20);
    uint8_t key[20];
    /* Keys sharing their first 8 bytes all land in one probe chain. */
    for (uint32_t i = 0; i < 5000; i++) {
        memset(key, 0x5a, sizeof(key));
        memcpy(key + 16, &i, sizeof(i));
        if (i % 2) {
            memcpy(key, &i, sizeof(i));
        }
        ck_assert_int_eq(policy_hashtab_insert(&t, key, i, true, NULL), 0);
    }
    ck_assert_uint_le(t.num * 2, t.cap);
    for (uint32_t i = 0; i < 5000; i++) {
        memset(key, 0x5a, sizeof(key));
        memcpy(key + 16, &i, sizeof(i));
        if (i % 2) {
            memcpy(key, &i, sizeof(i));
        }
        size_t cursor = 0;
        uint32_t v;
        ck_assert(policy_hashtab_next(&t, key, &cursor, &v));
        ck_assert_uint_eq(v, i);
        ck_assert(!policy_hashtab_next(&t, key, &cursor, &v));
        uint32_t existing = 0;
        ck_assert_int_eq(policy_hashtab_insert(&t, key, 99999, true, &existing), CG_ERR_EXISTS);
        ck_assert_uint_eq(existing, i);
    }
    memset(key, 0x77, sizeof(key));
    size_t cursor = 0;
    uint32_t v;
    ck_assert(!policy_hashtab_next(&t, key, &cursor, &v));
    /* Several values under one key (pins). */
    ck_assert_int_eq(policy_hashtab_insert(&t, key, 1, false, NULL), 0);
    ck_assert_int_eq(policy_hashtab_insert(&t, key, 2, false, NULL), 0);
    int seen = 0;
    cursor = 0;
    while (policy_hashtab_next(&t, key, &cursor, &v)) {
        seen |= 1 << v;
    }
    ck_assert_int_eq(seen, 6);
    policy_hashtab_cleanup(&t);

    struct policy_hashtab empty = {0};
    cursor = 0;
    ck_assert(!policy_hashtab_next(&empty, key, &cursor, &v));
}
END_TEST

static void facts_of(const char *name, struct policy_cert_facts *f)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/policy/%s", CG_TEST_DATA_DIR, name);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(policy_cert_facts_from_der(der, (size_t)len, f, &err), 0);
    OPENSSL_free(der);
    X509_free(x);
}

START_TEST(test_real_pin_rule)
{
    /* Registered: client.pem by thumbprint, and its pin (values printed by the openssl
     * CLI, in the formats an operator would paste). */
    static const char json[] =
        "{\"certificates\": [{\"name\": \"app\", \"clearance\": \"ValidUser\","
        "  \"thumbprints\": [\"F1:BC:E0:E5:CD:13:02:74:D4:58:A3:64:4F:BD:0D:F9:AD:19:6A:5E\"],"
        "  \"pins\": [{\"spki_sha256\": \"Jq27yyCJEaLLamCqlU1fWMQNpSXqHX7Uo/hLfAOosu8=\","
        "             \"issuer\": \"CN=certgate test CA,O=Acme\\\\, Inc.\","
        "             \"issuer_key_id\": "
        "\"CB:53:2E:07:A7:32:2C:A8:3A:25:06:6B:20:E1:2C:85:AF:2C:FA:C5\"}]}]}";
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("t", json, strlen(json), NULL, &p, &err) == 0, "%s", err.msg);

    struct policy_cert_facts orig, renewed, other;
    facts_of("client.pem", &orig);
    facts_of("client_renewed.pem", &renewed);
    facts_of("client_other_issuer.pem", &other);
    enum policy_match how;
    ck_assert_int_eq(policy_registry_find(p, &orig, false, &how), 0);
    ck_assert_int_eq(how, POLICY_MATCH_THUMBPRINT);
    ck_assert_int_eq(policy_registry_find(p, &renewed, false, &how), 0);
    ck_assert_int_eq(how, POLICY_MATCH_PIN);
    ck_assert_int_eq(policy_registry_find(p, &other, false, &how), -1);
    ck_assert_int_eq(how, POLICY_MATCH_NONE);
    ck_assert_int_eq(policy_registry_find(p, &other, true, &how), -1);
    policy_cert_facts_cleanup(&orig);
    policy_cert_facts_cleanup(&renewed);
    policy_cert_facts_cleanup(&other);
    policy_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hashtab);
    tcase_add_test(tc, test_real_pin_rule);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
