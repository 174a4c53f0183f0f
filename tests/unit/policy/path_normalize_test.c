/* Tests for policy/path_normalize.c: what is normalized, what is rejected, what the
 * listener options (';' and "%25") let through, and how other servers read a path
 * (policy_path_view). The ambiguous forms that servers read differently are here by
 * name: "/secret;x/y", "/public/..;/secret/x", "/secret./x", "/secret%20/x",
 * "/public/%252e%252e/secret/x", "/%2573ecret/x". */
#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "policy/path_normalize.h"

static const struct policy_path_opts strict = {0};
static const struct policy_path_opts semicolons = {.allow_semicolons = true};
static const struct policy_path_opts percent = {.allow_encoded_percent = true};
static const struct policy_path_opts both = {.allow_semicolons = true,
                                             .allow_encoded_percent = true};

struct ok_case {
    const struct policy_path_opts *opts;
    const char *in;
    const char *path;
    const char *query; /* NULL: no '?' */
};

static const struct ok_case ok_cases[] = {
    {&strict, "/", "/", NULL},
    {&strict, "/databases/hr/docs?id=1", "/databases/hr/docs", "id=1"},
    {&strict, "/a/", "/a/", NULL},
    {&strict, "/a?", "/a", ""},
    {&strict, "/a??b", "/a", "?b"},
    {&strict, "/%7Euser/%61%62%63", "/~user/abc", NULL},
    {&strict, "/%41%5a%30%2D%2e%5F%7e", "/AZ0-._~", NULL},
    {&strict, "/a%3bb/%3B", "/a%3Bb/%3B", NULL},
    {&strict, "/x%20y", "/x%20y", NULL},
    {&strict, "/%20x", "/%20x", NULL},
    {&strict, "/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9", NULL},
    {&strict, "/.well-known/x", "/.well-known/x", NULL},
    {&strict, "/.a/..b/.c.d", "/.a/..b/.c.d", NULL},
    {&strict, "/%2Efoo", "/.foo", NULL},
    {&strict, "/!$&'()*+,=:@", "/!$&'()*+,=:@", NULL},
    {&strict, "/etcdserverpb.KV/Range", "/etcdserverpb.KV/Range", NULL},
    {&strict, "/q?a=%2F&b=/..//&c=\"{}|\xc3\xa9;x=%25", "/q", "a=%2F&b=/..//&c=\"{}|\xc3\xa9;x=%25"},
    /* With path_semicolons "allow": ';' is an ordinary character. */
    {&semicolons, "/a;b/c", "/a;b/c", NULL},
    {&semicolons, "/a;/c;x=1;y", "/a;/c;x=1;y", NULL},
    {&semicolons, "/a;..x", "/a;..x", NULL},
    {&semicolons, "/a;%2e%2ex/b", "/a;..x/b", NULL},
    {&semicolons, "/!$&'()*+,;=:@", "/!$&'()*+,;=:@", NULL},
    /* With path_encoded_percent "allow": "%25" is kept. */
    {&percent, "/%25", "/%25", NULL},
    {&percent, "/50%25/x", "/50%25/x", NULL},
    {&percent, "/%252F", "/%252F", NULL},
    {&percent, "/%252e%252e", "/%252e%252e", NULL},
    {&both, "/a;b/50%25", "/a;b/50%25", NULL},
};

/* Refused whatever the options. */
static const char *const bad_cases[] = {
    "",
    "*",
    "a/b",
    "http://x/y",
    "?a",
    "//",
    "//a",
    "/a//b",
    "/a/b//",
    "/.",
    "/./a",
    "/a/.",
    "/a/./b",
    "/..",
    "/a/../b",
    "/a/..",
    "/%2e",
    "/%2E/",
    "/a/%2e%2e/b",
    "/a/.%2E/b",
    "/a/%2E./b",
    "/a%2Fb",
    "/a%2fb",
    "/a%5Cb",
    "/a%5cb",
    "/a%00b",
    "/a%",
    "/a%4",
    "/a%G1",
    "/a%1g",
    "/a\\b",
    "/a b",
    "/a\tb",
    "/a\x01",
    "/a\x7f",
    "/a\"b",
    "/a<b>",
    "/a{b}",
    "/a|b",
    "/a^b",
    "/a`b",
    "/a[b]",
    "/a#frag",
    "/\xc3\xa9",
    "/a?b c",
    "/a?b\x01",
    "/a?b#c",
    "/a?b\x7f",
    /* A name that Windows-style trimming changes: trailing '.' or space, raw or escaped. */
    "/secret./x",
    "/secret%2e/x",
    "/secret%2E",
    "/a.../b",
    "/%2e%2e%2e",
    "/a./..b/.c.",
    "/secret%20/x",
    "/secret%20",
    "/secret.%20/x",
    /* Escaped control characters (tab, newline, DEL): trimmed or split on elsewhere. */
    "/secret%09/x",
    "/se%0Acret/x",
    "/a%0d",
    "/a%1F",
    "/a%7f",
    /* Names hidden behind a parameter: refused even when ';' is allowed. */
    "/public/..;/secret/x",
    "/public/.;x/secret/x",
    "/secret.;x/y",
    "/secret%20;x/y",
    "/;x/secret",
    "/a/;",
    "/a;..",
    "/a;%2e%2e/b",
};

/* Refused by default, accepted by the option named. */
struct opt_case {
    const char *in;
    const struct policy_path_opts *accepted_by;
};

static const struct opt_case opt_cases[] = {
    {"/secret;x/y", &semicolons},
    {"/secret;/y", &semicolons},
    {"/a;b", &semicolons},
    {"/!$&'()*+,;=:@", &semicolons},
    {"/%2573ecret/x", &percent},
    {"/public/%252e%252e/secret/x", &percent},
    {"/%25", &percent},
    {"/%252F", &percent},
    {"/a%25%32%65", &percent},
};

static void check_ok(const struct ok_case *c)
{
    char out[256];
    struct policy_path res;
    int rc = policy_path_normalize(c->in, strlen(c->in), c->opts, out, sizeof(out), &res);
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
    ck_assert_int_eq(policy_path_normalize(out, res.path_len, c->opts, again, sizeof(again), &res2),
                     0);
    ck_assert_str_eq(again, out);
    /* In place gives the same. */
    char inplace[256];
    memcpy(inplace, c->in, strlen(c->in));
    ck_assert_int_eq(
        policy_path_normalize(inplace, strlen(c->in), c->opts, inplace, sizeof(inplace), &res2), 0);
    ck_assert_uint_eq(res2.path_len, res.path_len);
    ck_assert(memcmp(inplace, out, res.path_len + 1) == 0);
}

START_TEST(test_ok)
{
    check_ok(&ok_cases[_i]);
}
END_TEST

START_TEST(test_bad)
{
    const char *in = bad_cases[_i];
    const struct policy_path_opts *all[] = {NULL, &strict, &semicolons, &percent, &both};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        char out[256];
        struct policy_path res;
        int rc = policy_path_normalize(in, strlen(in), all[k], out, sizeof(out), &res);
        ck_assert_msg(rc == CG_ERR_INVALID, "accepted \"%s\" with options %zu (rc %d)", in, k, rc);
    }
}
END_TEST

START_TEST(test_options)
{
    const struct opt_case *c = &opt_cases[_i];
    char out[256];
    struct policy_path res;
    size_t len = strlen(c->in);
    ck_assert_msg(policy_path_normalize(c->in, len, NULL, out, sizeof(out), &res) == CG_ERR_INVALID,
                  "\"%s\" accepted by default", c->in);
    ck_assert_int_eq(policy_path_normalize(c->in, len, &strict, out, sizeof(out), &res),
                     CG_ERR_INVALID);
    const struct policy_path_opts *other = c->accepted_by == &semicolons ? &percent : &semicolons;
    ck_assert_msg(policy_path_normalize(c->in, len, other, out, sizeof(out), &res) ==
                      CG_ERR_INVALID,
                  "\"%s\" accepted by the other option", c->in);
    ck_assert_msg(policy_path_normalize(c->in, len, c->accepted_by, out, sizeof(out), &res) == 0,
                  "\"%s\" refused with its option", c->in);
    ck_assert_int_eq(policy_path_normalize(c->in, len, &both, out, sizeof(out), &res), 0);
}
END_TEST

START_TEST(test_embedded_nul)
{
    char out[16];
    struct policy_path res;
    ck_assert_int_eq(policy_path_normalize("/a\0b", 4, NULL, out, sizeof(out), &res),
                     CG_ERR_INVALID);
    ck_assert_int_eq(policy_path_normalize("/a?\0", 4, NULL, out, sizeof(out), &res),
                     CG_ERR_INVALID);
}
END_TEST

START_TEST(test_buffer_limits)
{
    char out[8];
    struct policy_path res;
    /* The output never exceeds the input path: path_len + 1 bytes always suffice. */
    ck_assert_int_eq(policy_path_normalize("/abcdef", 7, NULL, out, 8, &res), 0);
    ck_assert_int_eq(policy_path_normalize("/abcdefg", 8, NULL, out, 8, &res), CG_ERR_LIMIT);
    ck_assert_int_eq(policy_path_normalize("/abcdef?long-query-here", 23, NULL, out, 8, &res), 0);
}
END_TEST

/* ---- how other servers read a path (policy_path_view) ---- */

struct view_case {
    const char *path; /* a normalized path (with both options) */
    unsigned how;
    const char *view; /* NULL: the reading is not a safe path */
};

#define STRIP POLICY_PATH_VIEW_STRIP_PARAMS
#define TWICE POLICY_PATH_VIEW_DECODE_TWICE

static const struct view_case view_cases[] = {
    /* A servlet container drops ";params" from every segment. */
    {"/secret;x/y", STRIP, "/secret/y"},
    {"/a;b;c/d;e", STRIP, "/a/d"},
    {"/a;b/c", TWICE, "/a;b/c"},
    {"/a;..x/b", STRIP, "/a/b"},
    /* A server that decodes twice. */
    {"/%2573ecret/x", TWICE, "/secret/x"},
    {"/%2573ecret/x", STRIP, "/%2573ecret/x"},
    {"/public/%252e%252e/secret/x", TWICE, NULL},
    {"/a/%252F/b", TWICE, NULL},
    {"/a/%255C/b", TWICE, NULL},
    {"/a/%2500", TWICE, NULL},
    {"/a/%2509", TWICE, NULL},
    {"/secret%252E/x", TWICE, NULL},
    {"/secret%2520/x", TWICE, NULL},
    {"/50%25/x", TWICE, "/50%25/x"},
    {"/50%25zz", TWICE, "/50%25zz"},
    {"/%252541", TWICE, "/%2541"},
    {"/%253B", TWICE, "/%3B"},
    {"/a%253Bb/c", STRIP | TWICE, "/a%3Bb/c"},
    /* Both: parameters dropped, then a second decoding. */
    {"/x;y/%2573ecret", STRIP | TWICE, "/x/secret"},
    {"/%252e;x/y", STRIP, "/%252e/y"},
    {"/%252e;x/y", STRIP | TWICE, NULL},
};

START_TEST(test_view)
{
    const struct view_case *c = &view_cases[_i];
    char norm[256];
    struct policy_path res;
    ck_assert_msg(policy_path_normalize(c->path, strlen(c->path), &both, norm, sizeof(norm), &res) ==
                      0,
                  "\"%s\" is not a normalized path", c->path);
    char out[256];
    size_t len = 999;
    int rc = policy_path_view(norm, res.path_len, c->how, out, sizeof(out), &len);
    if (c->view == NULL) {
        ck_assert_msg(rc == CG_ERR_INVALID, "\"%s\" (%u) read as \"%s\"", c->path, c->how, out);
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\" (%u) refused", c->path, c->how);
    ck_assert_str_eq(out, c->view);
    ck_assert_uint_eq(len, strlen(c->view));
    /* Never longer; the buffer of the path's length suffices. */
    ck_assert_int_eq(policy_path_view(norm, res.path_len, c->how, out, res.path_len + 1, &len), 0);
    ck_assert_int_eq(policy_path_view(norm, res.path_len, c->how, out, res.path_len, &len),
                     CG_ERR_LIMIT);
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

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("path_normalize");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_ok, 0, sizeof(ok_cases) / sizeof(ok_cases[0]));
    tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_loop_test(tc, test_options, 0, sizeof(opt_cases) / sizeof(opt_cases[0]));
    tcase_add_loop_test(tc, test_view, 0, sizeof(view_cases) / sizeof(view_cases[0]));
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_buffer_limits);
    tcase_add_test(tc, test_pct_decode);
    suite_add_tcase(s, tc);
    return s;
}
