/* Tests of common/reason.h as the data plane uses it: every name is a distinct
 * snake_case word (they are metric labels and JSON values), and the policy's reasons sit
 * in the enum in enum policy_reason's order, as proxy/core/authz.c maps them by offset. */
#include "check_main.h"

#include <string.h>

#include "common/reason.h"
#include "policy/policy.h"

START_TEST(test_names_distinct_snake_case)
{
    ck_assert_str_eq(cg_reason_str(CG_REASON_NONE), "");
    ck_assert_str_eq(cg_reason_str(CG_REASON_COUNT), "unknown");
    for (int i = 1; i < CG_REASON_COUNT; i++) {
        const char *a = cg_reason_str((enum cg_reason)i);
        ck_assert_msg(a[0] >= 'a' && a[0] <= 'z', "%d: %s", i, a);
        for (const char *p = a; *p; p++) {
            ck_assert_msg((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_',
                          "%s", a);
        }
        for (int j = 1; j < i; j++) {
            ck_assert_msg(strcmp(a, cg_reason_str((enum cg_reason)j)) != 0, "%s twice", a);
        }
    }
}
END_TEST

START_TEST(test_policy_reasons_in_order)
{
    for (int r = POLICY_REASON_OK; r <= POLICY_REASON_UNTRUSTED_CHAIN; r++) {
        ck_assert_str_eq(cg_reason_str((enum cg_reason)(CG_REASON_OK + r)),
                         policy_reason_str((enum policy_reason)r));
    }
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("reason");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names_distinct_snake_case);
    tcase_add_test(tc, test_policy_reasons_in_order);
    suite_add_tcase(s, tc);
    return s;
}
