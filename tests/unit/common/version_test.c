/* Tests for common/version.c: the version is CMake's project version, the commit is
 * hex or "unknown", and the TLS line is what the linked BoringSSL reports. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/boringssl.h"
#include "common/version.h"

#include <openssl/crypto.h>

START_TEST(test_version_is_the_project_version)
{
    ck_assert_str_eq(cg_version(), CG_TEST_PROJECT_VERSION);
}
END_TEST

START_TEST(test_commit_is_hex_or_unknown)
{
    const char *c = cg_version_commit();
    if (strcmp(c, "unknown") != 0) {
        ck_assert_uint_ge(strlen(c), 7);
        ck_assert_uint_eq(strspn(c, "0123456789abcdef"), strlen(c));
    }
}
END_TEST

START_TEST(test_tls_names_the_running_library)
{
    char tls[256];
    cg_version_tls(tls, sizeof(tls));
    /* Starts with the library's own name for itself, at run time. */
    const char *name = OpenSSL_version(OPENSSL_VERSION);
    ck_assert_int_eq(strncmp(tls, name, strlen(name)), 0);
    char api[32];
    snprintf(api, sizeof(api), "built against API %d", BORINGSSL_API_VERSION);
    ck_assert_ptr_nonnull(strstr(tls, api));

    /* A short buffer is truncated and terminated, never overrun. */
    char small[8];
    memset(small, 'z', sizeof(small));
    cg_version_tls(small, 6);
    ck_assert_uint_eq(strlen(small), 5);
    ck_assert_int_eq(small[6], 'z');
}
END_TEST

START_TEST(test_print_has_three_lines)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cg_version_print(f);
    fclose(f);
    char want[128];
    snprintf(want, sizeof(want), "certgate %s\ncommit: %s\ntls: ", CG_TEST_PROJECT_VERSION,
             cg_version_commit());
    ck_assert_int_eq(strncmp(text, want, strlen(want)), 0);
    /* The tls line is the last one. */
    ck_assert_ptr_eq(strchr(text + strlen(want), '\n'), text + len - 1);
    free(text);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_version_is_the_project_version);
    tcase_add_test(tc, test_commit_is_hex_or_unknown);
    tcase_add_test(tc, test_tls_names_the_running_library);
    tcase_add_test(tc, test_print_has_three_lines);
    suite_add_tcase(s, tc);
    return s;
}
