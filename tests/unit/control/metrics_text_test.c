/* Tests for control/metrics_text.c, the Prometheus text writer: a label value or help
 * text holding a backslash, a double quote or a newline must stay inside its label (a
 * listener name, a certificate subject or a file path could otherwise end the label and
 * forge a series or a line), and histograms come out cumulative with _sum and _count. */
#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "control/metrics_text.h"

static char *text_of(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_label_escaping)
{
    struct evbuffer *b = evbuffer_new();
    struct metrics_label labels[] = {
        {"listener", "a\\b\"c\nd"},
        {"file", "plain"},
    };
    metrics_text_u64(b, "m_total", labels, 2, 7);
    char *s = text_of(b);
    ck_assert_str_eq(s, "m_total{listener=\"a\\\\b\\\"c\\nd\",file=\"plain\"} 7\n");
    free(s);
    metrics_text_i64(b, "m", NULL, 0, -3);
    s = text_of(b);
    ck_assert_str_eq(s, "m -3\n");
    free(s);
    evbuffer_free(b);
}
END_TEST

START_TEST(test_help_escaping_keeps_quotes)
{
    struct evbuffer *b = evbuffer_new();
    metrics_text_family(b, "m", "gauge", "a \"quoted\" back\\slash\nnext");
    char *s = text_of(b);
    ck_assert_str_eq(s, "# HELP m a \"quoted\" back\\\\slash\\nnext\n# TYPE m gauge\n");
    free(s);
    evbuffer_free(b);
}
END_TEST

START_TEST(test_seconds)
{
    struct evbuffer *b = evbuffer_new();
    metrics_text_seconds(b, "s", NULL, 0, 1500250);
    char *s = text_of(b);
    ck_assert_str_eq(s, "s 1.500250\n");
    free(s);
    evbuffer_free(b);
}
END_TEST

START_TEST(test_histogram_cumulative)
{
    struct cg_latency h;
    memset(&h, 0, sizeof(h));
    cg_latency_observe(&h, 100);      /* <= 0.0005 */
    cg_latency_observe(&h, 500);      /* <= 0.0005: bounds are inclusive */
    cg_latency_observe(&h, 2000);     /* <= 0.0025 */
    cg_latency_observe(&h, 90000000); /* above 60 s: +Inf only */
    struct cg_latency_sum sum = {0};
    cg_latency_add_to(&h, &sum);
    cg_latency_add_to(&h, &sum); /* two owners counted the same */
    ck_assert_uint_eq(cg_latency_count(&sum), 8);
    struct evbuffer *b = evbuffer_new();
    struct metrics_label labels[] = {{"upstream", "db"}};
    metrics_text_histogram(b, "u_seconds", labels, 1, &sum);
    char *s = text_of(b);
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_bucket{upstream=\"db\",le=\"0.0005\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_bucket{upstream=\"db\",le=\"0.001\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_bucket{upstream=\"db\",le=\"0.0025\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_bucket{upstream=\"db\",le=\"60\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_bucket{upstream=\"db\",le=\"+Inf\"} 8\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_sum{upstream=\"db\"} 180.005200\n"));
    ck_assert_ptr_nonnull(strstr(s, "u_seconds_count{upstream=\"db\"} 8\n"));
    /* Every finite bound and +Inf, in ascending order. */
    size_t lines = 0;
    for (const char *p = s; (p = strstr(p, "_bucket{")) != NULL; p++) {
        lines++;
    }
    ck_assert_uint_eq(lines, CG_LATENCY_NUM_BOUNDS + 1);
    free(s);
    evbuffer_free(b);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("metrics_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_label_escaping);
    tcase_add_test(tc, test_help_escaping_keeps_quotes);
    tcase_add_test(tc, test_seconds);
    tcase_add_test(tc, test_histogram_cumulative);
    suite_add_tcase(s, tc);
    return s;
}
