/* Tests for common/http_status.c: every status maps to a slot of a fixed set (a client
 * or a database choosing odd codes cannot grow the metrics), common codes keep their
 * own label, the rest count by class. */
#include "check_main.h"
#include <stdio.h>

#include "common/http_status.h"

START_TEST(test_slots)
{
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(200)), "200");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(403)), "403");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(504)), "504");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(0)), "0");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(418)), "4xx");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(299)), "2xx");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(103)), "1xx");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(599)), "5xx");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(600)), "other");
    ck_assert_str_eq(cg_http_status_label(cg_http_status_slot(-1)), "other");
    ck_assert_str_eq(cg_http_status_label(CG_HTTP_STATUS_NUM_SLOTS), "other");
    /* Every code lands in range, and a code with its own slot is labelled by itself. */
    for (int code = -5; code < 1100; code++) {
        unsigned slot = cg_http_status_slot(code);
        ck_assert_uint_lt(slot, CG_HTTP_STATUS_NUM_SLOTS);
        char own[8];
        snprintf(own, sizeof(own), "%d", code);
        const char *label = cg_http_status_label(slot);
        if (label[1] != 'x' && code >= 100 && code <= 599) {
            ck_assert_str_eq(label, own);
        }
    }
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("http_status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_slots);
    suite_add_tcase(s, tc);
    return s;
}
