/* Tests for policy/registry.c: the digest hash tables (collisions, growth, multi-values)
 * and certificate identification end to end with real certificates: thumbprint, then
 * RavenDB's pin rule (same key + same issuer + same AKI + signed by the pinned issuer key
 * -> trusted; same key + other issuer, or a forged signature -> not) and the proof that
 * policy_pin_verify records. Certificates: tests/data/policy/README.md. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/boringssl.h"

#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
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

/* der_of reads the PEM certificate tests/data/policy/|name| as DER (OPENSSL_free). */
static uint8_t *der_of(const char *name, size_t *out_len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/policy/%s", CG_TEST_DATA_DIR, name);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    ck_assert_ptr_nonnull(x);
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    ck_assert_int_gt(len, 0);
    X509_free(x);
    *out_len = (size_t)len;
    return der;
}

static void facts_from(const uint8_t *der, size_t len, struct policy_cert_facts *f)
{
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_cert_facts_from_der(der, len, f, &err) == 0, "%s", err.msg);
}

/* forge re-signs the certificate |der| with a fresh key: issuer name, authority key id,
 * subject key and everything else stay, only the signature is not the CA's. This is
 * what a self-made CA "named like the real one with its key id" produces. */
static uint8_t *forge(const uint8_t *der, size_t len, size_t *out_len)
{
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(x);
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *fake = NULL;
    ck_assert(kctx != NULL && EVP_PKEY_keygen_init(kctx) == 1 &&
              EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) == 1 &&
              EVP_PKEY_keygen(kctx, &fake) == 1);
    ck_assert_int_gt(X509_sign(x, fake, EVP_sha256()), 0);
    uint8_t *out = NULL;
    int n = i2d_X509(x, &out);
    ck_assert_int_gt(n, 0);
    *out_len = (size_t)n;
    EVP_PKEY_free(fake);
    EVP_PKEY_CTX_free(kctx);
    X509_free(x);
    return out;
}

/* The real CA's (tests/data/policy/ca.pem) SubjectPublicKeyInfo, and another key's. */
#define CA_SPKI                                                                                    \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsd2WpKWv3LZFY/arCTEI5gyUraM6/XrkOJiSNBcGI7z6xe9a+/Xj"     \
    "Nj5ruge/7FfBE2GDPjDunG7OOX5KtvPL4g=="
#define OTHER_SPKI                                                                                 \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="

/* Registered: client.pem by thumbprint, and its pin (values printed by the openssl CLI,
 * in the formats an operator would paste), with the issuer key |spki|. */
static struct policy *pin_policy(const char *spki)
{
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"certificates\": [{\"name\": \"app\", \"clearance\": \"ValidUser\","
             "  \"thumbprints\": [\"F1:BC:E0:E5:CD:13:02:74:D4:58:A3:64:4F:BD:0D:F9:AD:19:6A:5E\"],"
             "  \"pins\": [{\"spki_sha256\": \"Jq27yyCJEaLLamCqlU1fWMQNpSXqHX7Uo/hLfAOosu8=\","
             "             \"issuer\": \"CN=certgate test CA,O=Acme\\\\, Inc.\","
             "             \"issuer_key_id\": "
             "\"CB:53:2E:07:A7:32:2C:A8:3A:25:06:6B:20:E1:2C:85:AF:2C:FA:C5\","
             "             \"issuer_spki\": \"%s\"}]}]}",
             spki);
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("t", json, strlen(json), NULL, &p, &err) == 0, "%s", err.msg);
    return p;
}

START_TEST(test_real_pin_rule)
{
    struct policy *p = pin_policy(CA_SPKI);
    size_t orig_len, renewed_len, other_len;
    uint8_t *orig_der = der_of("client.pem", &orig_len);
    uint8_t *renewed_der = der_of("client_renewed.pem", &renewed_len);
    uint8_t *other_der = der_of("client_other_issuer.pem", &other_len);
    struct policy_cert_facts orig, renewed, other;
    facts_from(orig_der, orig_len, &orig);
    facts_from(renewed_der, renewed_len, &renewed);
    facts_from(other_der, other_len, &other);
    policy_pin_verify(p, orig_der, orig_len, &orig);
    policy_pin_verify(p, renewed_der, renewed_len, &renewed);
    policy_pin_verify(p, other_der, other_len, &other);

    uint32_t entry;
    ck_assert_int_eq(policy_registry_find(p, &orig, false, &entry), POLICY_MATCH_THUMBPRINT);
    ck_assert_uint_eq(entry, 0);
    /* a registered thumbprint never pays for a signature check */
    ck_assert(!orig.issuer_checked);
    ck_assert_int_eq(policy_registry_find(p, &renewed, false, &entry), POLICY_MATCH_PIN);
    ck_assert_uint_eq(entry, 0);
    ck_assert(renewed.issuer_checked && renewed.issuer_verified);
    ck_assert_int_eq(policy_registry_find(p, &other, false, &entry), POLICY_MATCH_NONE);
    ck_assert(!other.issuer_checked); /* another issuer name: no pin names it */
    ck_assert_int_eq(policy_registry_find(p, &other, true, &entry), POLICY_MATCH_NONE);
    policy_cert_facts_cleanup(&orig);
    policy_cert_facts_cleanup(&other);

    /* Facts without a proof (policy_pin_verify never ran) are not trusted by pin. */
    struct policy_cert_facts unproven;
    facts_from(renewed_der, renewed_len, &unproven);
    ck_assert_int_eq(policy_registry_find(p, &unproven, false, &entry), POLICY_MATCH_NONE);
    /* The DER must be the certificate of the facts: another one is never verified. */
    policy_pin_verify(p, orig_der, orig_len, &unproven);
    ck_assert(unproven.issuer_checked && !unproven.issuer_verified);
    ck_assert_int_eq(policy_registry_find(p, &unproven, false, &entry), POLICY_MATCH_NONE);
    policy_cert_facts_cleanup(&unproven);

    /* The proof is kept per issuer key: a second call with the same pin does nothing
     * (the outcome below was planted to show that no verification ran again)... */
    renewed.issuer_verified = false;
    policy_pin_verify(p, renewed_der, renewed_len, &renewed);
    ck_assert(!renewed.issuer_verified);
    renewed.issuer_verified = true;
    /* ...and a policy whose pin names another issuer key checks again, and refuses. */
    struct policy *p2 = pin_policy(OTHER_SPKI);
    ck_assert_int_eq(policy_registry_find(p2, &renewed, false, &entry), POLICY_MATCH_NONE);
    policy_pin_verify(p2, renewed_der, renewed_len, &renewed);
    ck_assert(renewed.issuer_checked && !renewed.issuer_verified);
    ck_assert_int_eq(policy_registry_find(p2, &renewed, false, &entry), POLICY_MATCH_NONE);
    /* back to the real key: verified again */
    policy_pin_verify(p, renewed_der, renewed_len, &renewed);
    ck_assert_int_eq(policy_registry_find(p, &renewed, false, &entry), POLICY_MATCH_PIN);
    ck_assert_uint_eq(entry, 0);
    policy_cert_facts_cleanup(&renewed);

    OPENSSL_free(orig_der);
    OPENSSL_free(other_der);
    OPENSSL_free(renewed_der);
    policy_free(p2);
    policy_free(p);
}
END_TEST

START_TEST(test_forged_issuer_is_not_trusted)
{
    /* Attack: the attacker's own pinned key, the real CA's name and key id, any subject,
     * signed by a CA key of the attacker's. Every fact the old pin rule compared is
     * right; only the signature is not the real CA's. */
    struct policy *p = pin_policy(CA_SPKI);
    size_t len, forged_len;
    uint8_t *der = der_of("client_renewed.pem", &len);
    uint8_t *forged = forge(der, len, &forged_len);
    struct policy_cert_facts real, fake;
    facts_from(der, len, &real);
    facts_from(forged, forged_len, &fake);
    ck_assert_mem_eq(fake.spki_sha256, real.spki_sha256, POLICY_SHA256_LEN);
    ck_assert_str_eq(fake.issuer, real.issuer);
    ck_assert_uint_eq(fake.aki_len, real.aki_len);
    ck_assert_mem_eq(fake.aki, real.aki, real.aki_len);
    policy_pin_verify(p, forged, forged_len, &fake);
    ck_assert(fake.issuer_checked && !fake.issuer_verified);
    uint32_t entry;
    ck_assert_int_eq(policy_registry_find(p, &fake, false, &entry), POLICY_MATCH_NONE);
    policy_cert_facts_cleanup(&real);
    policy_cert_facts_cleanup(&fake);
    OPENSSL_free(der);
    OPENSSL_free(forged);
    policy_free(p);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hashtab);
    tcase_add_test(tc, test_real_pin_rule);
    tcase_add_test(tc, test_forged_issuer_is_not_trusted);
    suite_add_tcase(s, tc);
    return s;
}
