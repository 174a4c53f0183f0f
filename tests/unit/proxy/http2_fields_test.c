/* Tests for proxy/http2_fields.c: the owned header list keeps every name and value
 * intact while it grows (its buffer moves), lower-cases names on request, and clears. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "proxy/http2_stream.h"

START_TEST(test_grow_and_find)
{
    struct h2_fields f = {0};
    char name[32], value[64];
    for (int i = 0; i < 500; i++) {
        int nl = snprintf(name, sizeof(name), "X-Name-%d", i);
        int vl = snprintf(value, sizeof(value), "value number %d", i);
        h2_fields_add(&f, name, (size_t)nl, value, (size_t)vl, true);
        if (i % 97 == 0) {
            h2_fields_finish(&f); /* finishing in the middle must not break later adds */
        }
    }
    h2_fields_finish(&f);
    ck_assert_uint_eq(f.num, 500);
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "x-name-%d", i);
        snprintf(value, sizeof(value), "value number %d", i);
        ck_assert_uint_eq(f.nv[i].namelen, strlen(name));
        ck_assert(memcmp(f.nv[i].name, name, f.nv[i].namelen) == 0);
        ck_assert_str_eq((const char *)f.nv[i].value, value);
    }
    const nghttp2_nv *nv = h2_fields_find(&f, "x-name-321");
    ck_assert_ptr_nonnull(nv);
    ck_assert_str_eq((const char *)nv->value, "value number 321");
    ck_assert_ptr_null(h2_fields_find(&f, "X-Name-1")); /* stored lower case */
    h2_fields_clear(&f);
    ck_assert_uint_eq(f.num, 0);
    h2_fields_add(&f, "Keep-Case", 9, "v", 1, false);
    ck_assert_ptr_nonnull(h2_fields_find(&f, "Keep-Case"));
    h2_fields_cleanup(&f);
    h2_fields_cleanup(&f); /* idempotent on an emptied list */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http2_fields");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_grow_and_find);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
