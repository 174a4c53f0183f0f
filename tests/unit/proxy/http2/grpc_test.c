/* Tests for proxy/http2/grpc.c: content-type recognition, grpc-timeout parsing, status
 * mapping. */
#include "check_main.h"
#include <stdint.h>
#include <string.h>

#include "proxy/http2/grpc.h"

static bool ct(const char *s)
{
    return grpc_is_content_type(s, strlen(s));
}

static bool timeout(const char *s, uint64_t *ms)
{
    return grpc_parse_timeout(s, strlen(s), ms);
}

START_TEST(test_content_type)
{
    ck_assert(ct("application/grpc"));
    ck_assert(ct("application/grpc+proto"));
    ck_assert(ct("application/grpc;charset=utf-8"));
    ck_assert(ct("Application/GRPC"));
    ck_assert(!ct("application/grpc-web"));
    ck_assert(!ct("application/grpcx"));
    ck_assert(!ct("application/json"));
    ck_assert(!ct(""));
}
END_TEST

START_TEST(test_timeout)
{
    uint64_t ms = 0;
    ck_assert(timeout("100m", &ms));
    ck_assert_uint_eq(ms, 100);
    ck_assert(timeout("5S", &ms));
    ck_assert_uint_eq(ms, 5000);
    ck_assert(timeout("2M", &ms));
    ck_assert_uint_eq(ms, 120000);
    ck_assert(timeout("1H", &ms));
    ck_assert_uint_eq(ms, 3600000);
    ck_assert(timeout("1500u", &ms));
    ck_assert_uint_eq(ms, 2);
    ck_assert(timeout("1n", &ms));
    ck_assert_uint_eq(ms, 1); /* rounded up, never 0 */
    ck_assert(timeout("0m", &ms));
    ck_assert_uint_eq(ms, 1);
    ck_assert(timeout("99999999S", &ms)); /* 8 digits is the maximum */
    ck_assert(!timeout("123456789S", &ms));
    ck_assert(!timeout("S", &ms));
    ck_assert(!timeout("10", &ms));
    ck_assert(!timeout("10s", &ms));
    ck_assert(!timeout("-1S", &ms));
    ck_assert(!timeout("1 S", &ms));
}
END_TEST

START_TEST(test_status_mapping)
{
    ck_assert_int_eq(grpc_status_from_http(403), GRPC_PERMISSION_DENIED);
    ck_assert_int_eq(grpc_status_from_http(502), GRPC_UNAVAILABLE);
    ck_assert_int_eq(grpc_status_from_http(503), GRPC_UNAVAILABLE);
    ck_assert_int_eq(grpc_status_from_http(504), GRPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(grpc_status_from_http(431), GRPC_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(grpc_status_from_http(500), GRPC_INTERNAL);
    ck_assert_str_eq(grpc_message_for(CG_REASON_NONE), "error");
    ck_assert_str_eq(grpc_message_for(CG_REASON_UNKNOWN_CERTIFICATE), "unknown_certificate");
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("grpc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_content_type);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_status_mapping);
    suite_add_tcase(s, tc);
    return s;
}
