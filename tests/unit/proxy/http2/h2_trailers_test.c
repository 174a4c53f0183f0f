/* Tests for proxy/http2/h2_trailers.c: request trailers lose every field RFC 9110 §6.5.1
 * keeps out of trailers and every field the caller owns, in any letter case and every
 * duplicate, while harmless trailers (checksums, gRPC metadata) stay in order. */
#include "check_main.h"
#include <string.h>

#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_trailers.h"

static bool allowed(const char *name)
{
    return h2_trailer_allowed(cg_str_from_cstr(name));
}

START_TEST(test_allowed)
{
    static const char *const refused[] = {
        ":path",
        ":authority",
        ":method",
        ":status",
        "",
        "content-length",
        "Content-Length",
        "transfer-encoding",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "host",
        "HOST",
        "te",
        "expect",
        "range",
        "if-match",
        "if-none-match",
        "cache-control",
        "authorization",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "Proxy-Connection",
        "proxy-anything",
        "sec-fetch-site",
        "Sec-Fetch-Mode",
        "origin",
        "content-type",
        "content-encoding",
        "content-range",
        "grpc-status",
        "grpc-message",
        "grpc-timeout",
        "grpc-encoding",
        "x-http-method-override",
        "x-original-url",
        "via",
        "accept",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        ck_assert_msg(!allowed(refused[i]), "%s must not be a trailer", refused[i]);
    }
    static const char *const ok[] = {
        "x-checksum",
        "content-digest",
        "repr-digest",
        "server-timing",
        "x-grpc-meta",
        "grpc-trace-bin",
        "x-request-count",
        "hostname",
        "tex",
        "cookies",
        "sec",
        "proxy",
        "x-te",
        "content-md",
        "originator",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(allowed(ok[i]), "%s is a harmless trailer", ok[i]);
    }
}
END_TEST

/* owned_x_client claims every "x-client-*" field, like a policy's identity headers. */
static bool owned_x_client(void *arg, const nghttp2_nv *nv)
{
    (*(int *)arg)++;
    return nv->namelen >= 9 && memcmp(nv->name, "x-client-", 9) == 0;
}

START_TEST(test_filter)
{
    struct h2_fields f = {0};
    static const char *const in[][2] = {
        {"x-client-clearance", "ClusterAdmin"},
        {"x-checksum", "1"},
        {"host", "evil"},
        {"x-client-name", "admin"},
        {"server-timing", "db;dur=1"},
        {"content-length", "0"},
        {"x-client-clearance", "Operator"},
        {":path", "/admin"},
        {"x-checksum", "2"},
        {"grpc-status", "0"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        h2_fields_add(&f, in[i][0], strlen(in[i][0]), in[i][1], strlen(in[i][1]), false);
    }
    int calls = 0;
    ck_assert_uint_eq(h2_trailers_filter(&f, owned_x_client, &calls), 7);
    /* The owner is asked only about fields HTTP allows. */
    ck_assert_int_eq(calls, 6);
    ck_assert_uint_eq(f.num, 3);
    static const char *const want[][2] = {
        {"x-checksum", "1"}, {"server-timing", "db;dur=1"}, {"x-checksum", "2"}};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(f.nv[i].namelen, strlen(want[i][0]));
        ck_assert(memcmp(f.nv[i].name, want[i][0], f.nv[i].namelen) == 0);
        ck_assert_str_eq((const char *)f.nv[i].value, want[i][1]);
    }
    /* Filtering an already clean list, or an empty one, removes nothing. */
    ck_assert_uint_eq(h2_trailers_filter(&f, owned_x_client, &calls), 0);
    ck_assert_uint_eq(f.num, 3);
    h2_fields_clear(&f);
    ck_assert_uint_eq(h2_trailers_filter(&f, owned_x_client, &calls), 0);
    h2_fields_cleanup(&f);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("http2_trailers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_allowed);
    tcase_add_test(tc, test_filter);
    suite_add_tcase(s, tc);
    return s;
}
