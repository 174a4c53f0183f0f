/* Tests for proxy/core/metrics.c: a request lands in the one counter of its listener,
 * protocol, decision, reason and status slot (the bounded label set), reasons out of
 * range count as none, and handshake failures are classified from BoringSSL's errors. */
#include "check_main.h"

#include "common/boringssl.h"
#include "proxy/core/metrics.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

START_TEST(test_request_counters)
{
    struct worker_metrics *m = worker_metrics_new(2);
    metrics_request(m, 1, METRICS_PROTOCOL_H2, METRICS_DECISION_DENY,
                    CG_REASON_UNKNOWN_CERTIFICATE, 403, 120);
    metrics_request(m, 1, METRICS_PROTOCOL_H2, METRICS_DECISION_DENY,
                    CG_REASON_UNKNOWN_CERTIFICATE, 403, 80);
    metrics_request(m, 0, METRICS_PROTOCOL_HTTP11, METRICS_DECISION_ALLOW, CG_REASON_OK, 299, 5);
    metrics_request(m, 0, METRICS_PROTOCOL_HTTP11, METRICS_DECISION_NONE,
                    (enum cg_reason)(CG_REASON_COUNT + 7), 0, 5);
    const struct metrics_listener *l1 = m->listeners[1];
    ck_assert_uint_eq(cg_counter_get(&l1->requests[METRICS_PROTOCOL_H2][METRICS_DECISION_DENY]
                                                  [CG_REASON_UNKNOWN_CERTIFICATE]
                                                  [CG_HTTP_STATUS_SLOT_403]),
                      2);
    ck_assert_uint_eq(cg_counter_get(&l1->duration[METRICS_PROTOCOL_H2].sum_us), 200);
    const struct metrics_listener *l0 = m->listeners[0];
    ck_assert_uint_eq(cg_counter_get(&l0->requests[METRICS_PROTOCOL_HTTP11][METRICS_DECISION_ALLOW]
                                                  [CG_REASON_OK][CG_HTTP_STATUS_SLOT_2XX]),
                      1);
    ck_assert_uint_eq(cg_counter_get(&l0->requests[METRICS_PROTOCOL_HTTP11][METRICS_DECISION_NONE]
                                                  [CG_REASON_NONE][CG_HTTP_STATUS_SLOT_NONE]),
                      1);
    /* Nothing else was touched. */
    uint64_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        const atomic_uint_fast64_t *c = &m->listeners[i]->requests[0][0][0][0];
        size_t n = sizeof(m->listeners[i]->requests) / sizeof(*c);
        for (size_t k = 0; k < n; k++) {
            total += cg_counter_get(&c[k]);
        }
    }
    ck_assert_uint_eq(total, 4);
    worker_metrics_free(m);
    worker_metrics_free(NULL);
}
END_TEST

START_TEST(test_gauge_moves_both_ways)
{
    atomic_uint_fast64_t g = 0;
    cg_counter_add(&g, 3);
    cg_counter_sub(&g, 2);
    ck_assert_uint_eq(cg_counter_get(&g), 1);
}
END_TEST

static uint32_t ssl_error(int reason)
{
    return (uint32_t)ERR_PACK(ERR_LIB_SSL, reason);
}

START_TEST(test_handshake_errors)
{
    ck_assert_int_eq(metrics_handshake_error_of(0), METRICS_HS_CLIENT_CLOSED);
    ck_assert_int_eq(metrics_handshake_error_of(ssl_error(SSL_R_HTTP_REQUEST)),
                     METRICS_HS_HTTP_REQUEST);
    ck_assert_int_eq(metrics_handshake_error_of(ssl_error(SSL_R_UNSUPPORTED_PROTOCOL)),
                     METRICS_HS_PROTOCOL_VERSION);
    ck_assert_int_eq(metrics_handshake_error_of(ssl_error(SSL_R_NO_SHARED_CIPHER)),
                     METRICS_HS_NO_SHARED_CIPHER);
    ck_assert_int_eq(metrics_handshake_error_of(ssl_error(SSL_R_NO_APPLICATION_PROTOCOL)),
                     METRICS_HS_NO_ALPN);
    ck_assert_int_eq(
        metrics_handshake_error_of(ssl_error(SSL_AD_REASON_OFFSET + SSL_AD_UNKNOWN_CA)),
        METRICS_HS_PEER_ALERT);
    ck_assert_int_eq(metrics_handshake_error_of(ssl_error(SSL_R_DECODE_ERROR)),
                     METRICS_HS_TLS_ERROR);
    ck_assert_int_eq(metrics_handshake_error_of((uint32_t)ERR_PACK(ERR_LIB_X509, 1)),
                     METRICS_HS_TLS_ERROR);
    for (unsigned e = 0; e < METRICS_NUM_HS_ERRORS; e++) {
        ck_assert_str_ne(metrics_handshake_error_str((enum metrics_handshake_error)e), "?");
    }
    ck_assert_str_eq(metrics_tls_version_str(metrics_tls_version_of(TLS1_3_VERSION)), "TLSv1.3");
    ck_assert_str_eq(metrics_tls_version_str(metrics_tls_version_of(TLS1_2_VERSION)), "TLSv1.2");
    ck_assert_str_eq(metrics_conn_slot_str(METRICS_CONN_HANDSHAKE), "handshake");
    ck_assert_str_eq(metrics_decision_str(METRICS_DECISION_AUDIT), "audit");
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_request_counters);
    tcase_add_test(tc, test_gauge_moves_both_ways);
    tcase_add_test(tc, test_handshake_errors);
    suite_add_tcase(s, tc);
    return s;
}
