/* Tests for proxy/http2/h2_fields.c: the header list keeps every name and value intact
 * while it grows, lower-cases copied names on request, refers to caller bytes when
 * told to, stores strings for the stream, and clears or recycles. */
#include "check_main.h"
#include <stdio.h>
#include <string.h>

#include "proxy/http2/h2_stream.h"

START_TEST(test_grow_and_find)
{
    struct h2_fields f = {0};
    char name[32], value[64];
    for (int i = 0; i < 500; i++) {
        int nl = snprintf(name, sizeof(name), "X-Name-%d", i);
        int vl = snprintf(value, sizeof(value), "value number %d", i);
        h2_fields_add(&f, name, (size_t)nl, value, (size_t)vl, true);
        if (i == 3) {
            /* Entries point at their bytes at once, and keep doing so as it grows. */
            ck_assert_str_eq((const char *)f.nv[3].value, "value number 3");
        }
    }
    ck_assert_str_eq((const char *)f.nv[3].value, "value number 3");
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

START_TEST(test_refs_store_recycle)
{
    struct h2_fields f = {0};
    static const char name[] = "X-Static";
    char value[] = "caller-owned";
    /* References point at the caller's bytes; H2F_LOWER does not touch them. */
    h2_fields_add_ex(&f, name, sizeof(name) - 1, value, strlen(value),
                     H2F_REF_NAME | H2F_REF_VALUE | H2F_LOWER);
    ck_assert_ptr_eq(f.nv[0].name, (const uint8_t *)name);
    ck_assert_ptr_eq(f.nv[0].value, (const uint8_t *)value);
    /* Mixed: a copied, lower-cased name and a referenced value. */
    h2_fields_add_ex(&f, "X-Copy", 6, value, strlen(value), H2F_REF_VALUE | H2F_LOWER);
    ck_assert(memcmp(f.nv[1].name, "x-copy", 6) == 0);
    ck_assert_ptr_eq(f.nv[1].value, (const uint8_t *)value);
    /* A copied value does not follow later changes of the source. */
    h2_fields_add_ex(&f, "v", 1, value, strlen(value), 0);
    value[0] = 'C';
    ck_assert_str_eq((const char *)f.nv[2].value, "caller-owned");
    ck_assert_str_eq((const char *)f.nv[1].value, "Caller-owned");

    /* store: NUL-terminated copies that outlive growth of the list. */
    char *kept = h2_fields_store(&f, "authority.example:443", 21);
    ck_assert_str_eq(kept, "authority.example:443");
    char *filled = h2_fields_store(&f, NULL, 5);
    memcpy(filled, "/path", 5);
    ck_assert_str_eq(filled, "/path");
    char big[3000];
    memset(big, 'b', sizeof(big));
    for (int i = 0; i < 50; i++) {
        h2_fields_add(&f, "big", 3, big, sizeof(big), false);
    }
    ck_assert_str_eq(kept, "authority.example:443");
    ck_assert_str_eq(filled, "/path");
    ck_assert_uint_eq(f.num, 53);

    /* recycle: empty again and reusable; oversized storage is let go. */
    h2_fields_recycle(&f);
    ck_assert_uint_eq(f.num, 0);
    ck_assert_ptr_null(h2_fields_find(&f, "big"));
    h2_fields_add(&f, "after", 5, "recycle", 7, false);
    ck_assert_str_eq((const char *)h2_fields_find(&f, "after")->value, "recycle");
    h2_fields_cleanup(&f);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("http2_fields");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_grow_and_find);
    tcase_add_test(tc, test_refs_store_recycle);
    suite_add_tcase(s, tc);
    return s;
}
