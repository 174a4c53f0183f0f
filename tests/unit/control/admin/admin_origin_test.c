/* Tests for proxy/admin_origin.c: the admin API refuses state-changing requests a
 * browser could send for another site (an operator's imported admin bundle is presented
 * to any page that asks; a text/plain POST with Origin: https://evil.example created a
 * certificate entry). */
#include "check_main.h"
#include <string.h>

#include "control/admin/admin_internal.h"
#include "proxy/http1/h1_parse.h"

struct req {
    const char *method;
    const char *host;
    const char *fields[8]; /* "Name", "value" pairs, NULL-terminated */
    uint64_t body_len;
};

static enum admin_origin_verdict check(const struct req *r, const char **reason)
{
    struct h1_header headers[4];
    size_t n = 0;
    for (; r->fields[2 * n] != NULL; n++) {
        headers[n] = (struct h1_header){cg_str_from_cstr(r->fields[2 * n]),
                                        cg_str_from_cstr(r->fields[2 * n + 1]), false};
    }
    *reason = NULL;
    return admin_origin_check(cg_str_from_cstr(r->method), cg_str_from_cstr(r->host), headers, n,
                              r->body_len, reason);
}

START_TEST(test_allowed)
{
    static const struct req ok[] = {
        /* curl: no Origin, JSON body */
        {"POST", "127.0.0.1:9443", {"Content-Type", "application/json"}, 10},
        {"PUT", "127.0.0.1:9443", {"Content-Type", "Application/JSON; charset=utf-8"}, 10},
        /* no body, no type: POST /admin/reload, DELETE */
        {"POST", "127.0.0.1:9443", {NULL}, 0},
        {"DELETE", "127.0.0.1:9443", {NULL}, 0},
        /* the admin listener's own origin (a page it serves) */
        {"POST",
         "127.0.0.1:9443",
         {"Origin", "https://127.0.0.1:9443", "Sec-Fetch-Site", "same-origin", "Content-Type",
          "application/json"},
         2},
        {"POST", "Admin.Example:443", {"Origin", "https://admin.example", "Content-Type",
                                       "application/json"}, 2},
        {"POST", "admin.example", {"Origin", "https://admin.example:443"}, 0},
        {"POST", "[::1]:9443", {"Origin", "https://[::1]:9443", "Sec-Fetch-Site", "none"}, 0},
        /* reads are not state changes */
        {"GET", "127.0.0.1:9443", {"Origin", "https://evil.example", "Sec-Fetch-Site",
                                   "cross-site"}, 0},
        {"HEAD", "127.0.0.1:9443", {"Content-Type", "text/plain"}, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *reason;
        ck_assert_msg(check(&ok[i], &reason) == ADMIN_ORIGIN_OK, "case %zu refused: %s", i, reason);
    }
}
END_TEST

START_TEST(test_refused)
{
    static const struct {
        struct req r;
        enum admin_origin_verdict verdict;
        const char *reason;
    } bad[] = {
        /* the attack: a simple cross-origin POST */
        {{"POST", "127.0.0.1:9443", {"Origin", "https://evil.example", "Content-Type",
                                     "text/plain"}, 40},
         ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "127.0.0.1:9443", {"Origin", "null"}, 0}, ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "127.0.0.1:9443", {"Origin", "http://127.0.0.1:9443"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "127.0.0.1:9443", {"Origin", "https://127.0.0.1:9444"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "127.0.0.1:9443", {"Origin", "https://127.0.0.1:9443.evil.example"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "", {"Origin", "https://127.0.0.1:9443"}, 0}, ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"POST", "127.0.0.1:9443", {"Origin", "https://127.0.0.1:9443", "Origin",
                                     "https://evil.example"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_origin_request"},
        {{"DELETE", "127.0.0.1:9443", {"Sec-Fetch-Site", "cross-site"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_site_request"},
        {{"PUT", "127.0.0.1:9443", {"sec-fetch-site", "Same-Site"}, 0},
         ADMIN_ORIGIN_CROSS_SITE, "cross_site_request"},
        /* content types a page may send without a preflight, or none with a body */
        {{"POST", "127.0.0.1:9443", {"Content-Type", "text/plain"}, 40},
         ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
        {{"POST", "127.0.0.1:9443", {"Content-Type", "application/x-www-form-urlencoded"}, 0},
         ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
        {{"POST", "127.0.0.1:9443", {"Content-Type", "multipart/form-data; boundary=x"}, 9},
         ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
        {{"POST", "127.0.0.1:9443", {NULL}, 2}, ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
        {{"PATCH", "127.0.0.1:9443", {"Content-Type", "application/jsonp"}, 2},
         ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
        {{"POST", "127.0.0.1:9443", {"Content-Type", "application/json", "Content-Type",
                                     "text/plain"}, 2},
         ADMIN_ORIGIN_NOT_JSON, "content_type_must_be_application_json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *reason;
        enum admin_origin_verdict verdict = check(&bad[i].r, &reason);
        ck_assert_msg(verdict == bad[i].verdict, "case %zu: verdict %d", i, (int)verdict);
        ck_assert_str_eq(reason, bad[i].reason);
    }
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("admin_origin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_allowed);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}
