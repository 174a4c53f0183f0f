/* Tests for policy/path_normalize.c: what is normalized, what is rejected. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "policy/path_normalize.h"

struct ok_case {
    const char *in;
    const char *path;
    const char *query; /* NULL: no '?' */
};

static const struct ok_case ok_cases[] = {
    {"/", "/", NULL},
    {"/databases/hr/docs?id=1", "/databases/hr/docs", "id=1"},
    {"/a/", "/a/", NULL},
    {"/a?", "/a", ""},
    {"/a??b", "/a", "?b"},
    {"/%7Euser/%61%62%63", "/~user/abc", NULL},
    {"/%41%5a%30%2D%2e%5F%7e", "/AZ0-._~", NULL},
    {"/a%3bb/%3B", "/a%3Bb/%3B", NULL},
    {"/x%20y", "/x%20y", NULL},
    {"/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9", NULL},
    {"/%2e%2e%2e", "/...", NULL},
    {"/.well-known/x", "/.well-known/x", NULL},
    {"/a./..b/.c.", "/a./..b/.c.", NULL},
    {"/%2Efoo", "/.foo", NULL},
    {"/!$&'()*+,;=:@", "/!$&'()*+,;=:@", NULL},
    {"/etcdserverpb.KV/Range", "/etcdserverpb.KV/Range", NULL},
    {"/q?a=%2F&b=/..//&c=\"{}|\xc3\xa9", "/q", "a=%2F&b=/..//&c=\"{}|\xc3\xa9"},
    {"/%25", "/%25", NULL},
    {"/%252F", "/%252F", NULL},
};

static const char *const bad_cases[] = {
    "",       "*",      "a/b",         "http://x/y", "?a",        "//",       "//a",     "/a//b",
    "/a/b//", "/.",     "/./a",        "/a/.",       "/a/./b",    "/..",      "/a/../b", "/a/..",
    "/%2e",   "/%2E/",  "/a/%2e%2e/b", "/a/.%2E/b",  "/a/%2E./b", "/a%2Fb",   "/a%2fb",  "/a%5Cb",
    "/a%5cb", "/a%00b", "/a%",         "/a%4",       "/a%G1",     "/a%1g",    "/a\\b",   "/a b",
    "/a\tb",  "/a\x01", "/a\x7f",      "/a\"b",      "/a<b>",     "/a{b}",    "/a|b",    "/a^b",
    "/a`b",   "/a[b]",  "/a#frag",     "/\xc3\xa9",  "/a?b c",    "/a?b\x01", "/a?b#c",  "/a?b\x7f",
};

START_TEST(test_ok)
{
    const struct ok_case *c = &ok_cases[_i];
    char out[256];
    struct policy_path res;
    int rc = policy_path_normalize(c->in, strlen(c->in), out, sizeof(out), &res);
    ck_assert_msg(rc == 0, "rejected \"%s\"", c->in);
    ck_assert_str_eq(out, c->path);
    ck_assert_uint_eq(res.path_len, strlen(c->path));
    if (c->query == NULL) {
        ck_assert(!res.has_query);
    } else {
        ck_assert(res.has_query);
        ck_assert_uint_eq(res.query.len, strlen(c->query));
        ck_assert(memcmp(res.query.p, c->query, res.query.len) == 0);
    }
    /* Idempotent. */
    char again[256];
    struct policy_path res2;
    ck_assert_int_eq(policy_path_normalize(out, res.path_len, again, sizeof(again), &res2), 0);
    ck_assert_str_eq(again, out);
}
END_TEST

START_TEST(test_bad)
{
    const char *in = bad_cases[_i];
    char out[256];
    struct policy_path res;
    int rc = policy_path_normalize(in, strlen(in), out, sizeof(out), &res);
    ck_assert_msg(rc == CG_ERR_INVALID, "accepted \"%s\" (rc %d)", in, rc);
}
END_TEST

START_TEST(test_embedded_nul)
{
    char out[16];
    struct policy_path res;
    ck_assert_int_eq(policy_path_normalize("/a\0b", 4, out, sizeof(out), &res), CG_ERR_INVALID);
    ck_assert_int_eq(policy_path_normalize("/a?\0", 4, out, sizeof(out), &res), CG_ERR_INVALID);
}
END_TEST

START_TEST(test_buffer_limits)
{
    char out[8];
    struct policy_path res;
    /* The output never exceeds the input path: path_len + 1 bytes always suffice. */
    ck_assert_int_eq(policy_path_normalize("/abcdef", 7, out, 8, &res), 0);
    ck_assert_int_eq(policy_path_normalize("/abcdefg", 8, out, 8, &res), CG_ERR_LIMIT);
    ck_assert_int_eq(policy_path_normalize("/abcdef?long-query-here", 23, out, 8, &res), 0);
}
END_TEST

START_TEST(test_pct_decode)
{
    char out[32];
    size_t len;
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("my%20db+x"), false, out, sizeof(out), &len), 0);
    ck_assert_str_eq(out, "my db+x");
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("my%20db+x"), true, out, sizeof(out), &len), 0);
    ck_assert_str_eq(out, "my db x");
    ck_assert_uint_eq(len, 7);
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("a%00"), false, out, sizeof(out), &len),
                     CG_ERR_INVALID);
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("a%2"), false, out, sizeof(out), &len),
                     CG_ERR_INVALID);
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("abcd"), false, out, 4, &len), CG_ERR_LIMIT);
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT("abc"), false, out, 4, &len), 0);
    ck_assert_int_eq(policy_pct_decode(CG_STR_LIT(""), false, out, 1, &len), 0);
    ck_assert_uint_eq(len, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("path_normalize");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_ok, 0, sizeof(ok_cases) / sizeof(ok_cases[0]));
    tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_buffer_limits);
    tcase_add_test(tc, test_pct_decode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
