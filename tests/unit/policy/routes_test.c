/* Tests for policy/routes.c: pattern compilation and matching on normalized paths. */
#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

struct match_case {
    const char *pattern;
    const char *path;
    bool case_sensitive;
    bool want;
    const char *capture; /* expected {db} when matched, or NULL */
};

static const struct match_case cases[] = {
    {"/*", "/", false, true, NULL},
    {"/*", "/anything/at/all", false, true, NULL},
    {"/", "/", false, true, NULL},
    {"/", "/a", false, false, NULL},
    {"/admin/*", "/admin", false, true, NULL},
    {"/admin/*", "/admin/", false, true, NULL},
    {"/admin/*", "/admin/x/y", false, true, NULL},
    {"/admin/*", "/administrator", false, false, NULL},
    {"/admin/*", "/", false, false, NULL},
    {"/admin/*", "/Admin/x", false, true, NULL},
    {"/admin/*", "/Admin/x", true, false, NULL},
    {"/healthz", "/healthz", false, true, NULL},
    {"/healthz", "/healthz/", false, false, NULL},
    {"/healthz", "/healthz/x", false, false, NULL},
    {"/healthz/", "/healthz/", false, true, NULL},
    {"/healthz/", "/healthz", false, false, NULL},
    {"/databases/{db}/*", "/databases/hr", false, true, "hr"},
    {"/databases/{db}/*", "/databases/hr/docs", false, true, "hr"},
    {"/databases/{db}/*", "/databases/", false, false, NULL},
    {"/databases/{db}/*", "/databases", false, false, NULL},
    {"/databases/{db}/admin/*", "/databases/my%20db/admin/x", false, true, "my%20db"},
    {"/databases/{db}/admin/*", "/databases/hr/docs/admin", false, false, NULL},
    {"/{db}", "/x", false, true, "x"},
    {"/{db}", "/x/y", false, false, NULL},
    {"/etcdserverpb.KV/Range", "/etcdserverpb.KV/Range", true, true, NULL},
    {"/etcdserverpb.KV/Range", "/etcdserverpb.KV/RangeX", true, false, NULL},
    {"/a%3Bb/*", "/a%3Bb/c", false, true, NULL},
};

START_TEST(test_match)
{
    const struct match_case *c = &cases[_i];
    struct policy_route r;
    memset(&r, 0, sizeof(r));
    char why[200];
    ck_assert_msg(policy_route_compile(c->pattern, &r, why, sizeof(why)) == 0, "%s: %s", c->pattern,
                  why);
    struct cg_str cap = {NULL, 0};
    bool got = policy_route_match(&r, c->case_sensitive, CG_STR_LIT("GET"),
                                  cg_str_from_cstr(c->path), &cap);
    ck_assert_msg(got == c->want, "%s vs %s", c->pattern, c->path);
    if (got && c->capture) {
        ck_assert(cg_str_eq(cap, cg_str_from_cstr(c->capture)));
    }
    if (got && !c->capture) {
        ck_assert_uint_eq(cap.len, 0);
    }
    policy_route_cleanup(&r);
}
END_TEST

START_TEST(test_bad_patterns)
{
    static const char *const bad[] = {"", "x", "/a/*/b", "/*/", "/a*", "/*a", "//", "/a//b",
                                      "/{db}/{db}", "/{db", "/x{db}", "/{DB}", "/.", "/a/..",
                                      "/%2e", "/%7e", "/%2F", "/a%3b", "/a b", "/a?b", "/a\\b",
                                      /* Never produced by the normalizer's defaults. */
                                      "/secret./*", "/a%20", "/a;b/*", "/50%25", "/a%09b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct policy_route r;
        memset(&r, 0, sizeof(r));
        char why[200] = "";
        ck_assert_msg(policy_route_compile(bad[i], &r, why, sizeof(why)) == CG_ERR_INVALID,
                      "accepted %s", bad[i]);
        ck_assert(why[0] != '\0');
        policy_route_cleanup(&r);
    }
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_match, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_bad_patterns);
    suite_add_tcase(s, tc);
    return s;
}
