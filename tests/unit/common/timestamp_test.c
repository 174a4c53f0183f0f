/* Tests for common/timestamp.c: the one RFC 3339 reader and printer (the policy's
 * "expires", certificate expiry, the log, JSON lines) and the one X.509 time converter
 * (which existed three times: certificate facts, renewal, the listener's certificate
 * set). */
#include "check_main.h"
#include <string.h>

#include "common/err.h"
#include "common/timestamp.h"

#include <openssl/asn1.h>

static int parse(const char *s, time_t *out)
{
    return cg_timestamp_parse_rfc3339(cg_str_from_cstr(s), out);
}

static time_t parsed(const char *s)
{
    time_t t = 12345;
    ck_assert_msg(parse(s, &t) == CG_OK, "'%s' should parse", s);
    return t;
}

START_TEST(test_parse_forms)
{
    ck_assert_int_eq(parsed("2031-11-24T00:00:00Z"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24t00:00:00z"), 1953244800);
    ck_assert_int_eq(parsed("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(parsed("1969-12-31T23:59:59Z"), -1);
    ck_assert_int_eq(parsed("9999-12-31T23:59:59Z"), 253402300799);
    ck_assert_int_eq(parsed("0000-01-01T00:00:00Z"), -62167219200);
    /* Offsets: the same instant written east and west of UTC. */
    ck_assert_int_eq(parsed("2031-11-24T02:30:00+02:30"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-23T19:00:00-05:00"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24T00:00:00+00:00"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24T00:00:00-00:00"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24T23:59:00+23:59"), 1953244800);
    /* Fractions of any length are dropped, never rounded up. */
    ck_assert_int_eq(parsed("2031-11-24T00:00:00.1Z"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24T00:00:00.999999999999Z"), 1953244800);
    ck_assert_int_eq(parsed("2031-11-24T02:00:00.5+02:00"), 1953244800);
    /* Leap days and a leap second. */
    ck_assert_int_eq(parsed("2024-02-29T12:00:00Z"), 1709208000);
    ck_assert_int_eq(parsed("2000-02-29T00:00:00Z"), 951782400);
    ck_assert_int_eq(parsed("2016-12-31T23:59:60Z"), 1483228799);
}
END_TEST

START_TEST(test_parse_refuses)
{
    static const char *const bad[] = {
        "",
        "2031-11-24",
        "2031-11-24T00:00:00",         /* no offset */
        "2031-11-24 00:00:00Z",        /* a space for the T */
        "2031-11-24T00:00Z",           /* no seconds */
        "31-11-24T00:00:00Z",          /* two-digit year */
        "2031-1-24T00:00:00Z",         /* one-digit month */
        "2031-11-4T00:00:00Z",         /* one-digit day */
        "2031-11-24T0:00:00Z",         /* one-digit hour */
        " 2031-11-24T00:00:00Z",       /* leading space */
        "2031-11-24T00:00:00Z ",       /* trailing space */
        "2031-11-24T00:00:00ZZ",       /* trailing garbage */
        "+2031-11-24T00:00:00Z",       /* signed year */
        "2031-00-24T00:00:00Z",        /* month 0 */
        "2031-13-24T00:00:00Z",        /* month 13 */
        "2031-11-00T00:00:00Z",        /* day 0 */
        "2031-11-31T00:00:00Z",        /* November has 30 days */
        "2031-02-29T00:00:00Z",        /* not a leap year */
        "1900-02-29T00:00:00Z",        /* a century, not a leap year */
        "2031-02-30T00:00:00Z",        /* what timegm would turn into March */
        "2031-11-24T24:00:00Z",        /* hour 24 */
        "2031-11-24T00:60:00Z",        /* minute 60 */
        "2031-11-24T00:00:61Z",        /* second 61 */
        "2031-11-24T00:00:00.Z",       /* a dot without digits */
        "2031-11-24T00:00:00,5Z",      /* a comma fraction */
        "2031-11-24T00:00:00+2:00",    /* one-digit offset hour */
        "2031-11-24T00:00:00+0200",    /* offset without colon */
        "2031-11-24T00:00:00+02",      /* offset without minutes */
        "2031-11-24T00:00:00+24:00",   /* offset hour 24 */
        "2031-11-24T00:00:00+02:60",   /* offset minute 60 */
        "2031-11-24T00:00:00+02:00Z",  /* both */
        "2031-11-24T00:00:00UTC",
        "20311124T000000Z", /* the basic ISO 8601 format */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 777;
        ck_assert_msg(parse(bad[i], &t) == CG_ERR_INVALID, "'%s' should be refused", bad[i]);
        ck_assert_int_eq(t, 777);
    }
    /* A NUL inside is not part of the grammar. */
    time_t t = 777;
    ck_assert_int_eq(cg_timestamp_parse_rfc3339((struct cg_str){"2031-11-24T00:00:00Z\0", 21}, &t),
                     CG_ERR_INVALID);
    ck_assert_int_eq(t, 777);
}
END_TEST

static const char *fmt(time_t sec, long nsec, enum cg_timestamp_precision p, char *buf)
{
    struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
    char *end = cg_timestamp_format(buf, &ts, p);
    ck_assert_int_eq(end - buf, CG_TIMESTAMP_LEN(p));
    *end = '\0';
    return buf;
}

START_TEST(test_format)
{
    char buf[64];
    ck_assert_str_eq(fmt(0, 0, CG_TIMESTAMP_SECONDS, buf), "1970-01-01T00:00:00Z");
    ck_assert_str_eq(fmt(1795519440, 123456789, CG_TIMESTAMP_SECONDS, buf),
                     "2026-11-24T11:24:00Z");
    ck_assert_str_eq(fmt(1795519440, 123456789, CG_TIMESTAMP_MILLIS, buf),
                     "2026-11-24T11:24:00.123Z");
    ck_assert_str_eq(fmt(1795519440, 123456789, CG_TIMESTAMP_MICROS, buf),
                     "2026-11-24T11:24:00.123456Z");
    ck_assert_str_eq(fmt(951782399, 999999999, CG_TIMESTAMP_MICROS, buf),
                     "2000-02-28T23:59:59.999999Z");
    ck_assert_str_eq(fmt(951782400, 0, CG_TIMESTAMP_MILLIS, buf), "2000-02-29T00:00:00.000Z");
    ck_assert_str_eq(fmt(-1, 0, CG_TIMESTAMP_SECONDS, buf), "1969-12-31T23:59:59Z");
    ck_assert_str_eq(fmt(253402300799, 0, CG_TIMESTAMP_SECONDS, buf), "9999-12-31T23:59:59Z");
    ck_assert_str_eq(fmt(-62167219200, 0, CG_TIMESTAMP_SECONDS, buf), "0000-01-01T00:00:00Z");
    /* Beyond what four digits of year can write: clamped, never a wrong short year. */
    ck_assert_str_eq(fmt(253402300800, 0, CG_TIMESTAMP_SECONDS, buf), "9999-12-31T23:59:59Z");
    ck_assert_str_eq(fmt(-62167219201, 0, CG_TIMESTAMP_SECONDS, buf), "0000-01-01T00:00:00Z");
    char rfc[CG_TIMESTAMP_RFC3339_SIZE];
    cg_timestamp_rfc3339(1953244800, rfc);
    ck_assert_str_eq(rfc, "2031-11-24T00:00:00Z");
}
END_TEST

START_TEST(test_round_trip)
{
    /* Every day of a leap year and of the years around the 2000 and 2100 rules. */
    static const time_t starts[] = {951782400 - 60 * 86400, 4107542400 - 60 * 86400};
    for (size_t k = 0; k < 2; k++) {
        for (time_t t = starts[k]; t < starts[k] + 400 * 86400; t += 86400 + 3661) {
            char rfc[CG_TIMESTAMP_RFC3339_SIZE];
            time_t back = 0;
            cg_timestamp_rfc3339(t, rfc);
            ck_assert_int_eq(parse(rfc, &back), CG_OK);
            ck_assert_int_eq(back, t);
        }
    }
}
END_TEST

static time_t from_asn1_text(const char *text)
{
    ASN1_TIME *a = ASN1_TIME_new();
    ck_assert_msg(ASN1_TIME_set_string(a, text), "%s", text);
    time_t t = 1;
    ck_assert_int_eq(cg_timestamp_from_asn1(a, &t), CG_OK);
    ck_assert_int_eq(ASN1_STRING_type(a), strlen(text) == 13 ? V_ASN1_UTCTIME
                                                            : V_ASN1_GENERALIZEDTIME);
    ASN1_TIME_free(a);
    return t;
}

START_TEST(test_asn1)
{
    /* UTCTime: two-digit years, 50..99 are 19xx and 00..49 are 20xx (RFC 5280). */
    ck_assert_int_eq(from_asn1_text("700101000000Z"), 0);
    ck_assert_int_eq(from_asn1_text("311124000000Z"), 1953244800);
    ck_assert_int_eq(from_asn1_text("491231235959Z"), 2524607999);
    ck_assert_int_eq(from_asn1_text("500101000000Z"), -631152000);
    ck_assert_int_eq(from_asn1_text("000229000000Z"), 951782400);
    /* GeneralizedTime, as X.509 writes years from 2050 on. */
    ck_assert_int_eq(from_asn1_text("20500101000000Z"), 2524608000);
    ck_assert_int_eq(from_asn1_text("99991231235959Z"), 253402300799);
    ck_assert_int_eq(from_asn1_text("19691231235959Z"), -1);
    /* What BoringSSL writes for a time_t is read back to the second. */
    static const time_t samples[] = {0, 1, 1953244800, 2524607999, 2524608000, 253402300799};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        ASN1_TIME *a = ASN1_TIME_set(NULL, samples[i]);
        time_t t = 0;
        ck_assert_int_eq(cg_timestamp_from_asn1(a, &t), CG_OK);
        ck_assert_int_eq(t, samples[i]);
        ASN1_TIME_free(a);
    }
}
END_TEST

START_TEST(test_asn1_refuses)
{
    time_t t = 5;
    ck_assert_int_eq(cg_timestamp_from_asn1(NULL, &t), CG_ERR_INVALID);
    ck_assert_int_eq(t, 0);
    /* Malformed contents, set behind the parser's back. */
    static const char *const bad[] = {"", "701301000000Z", "700132000000Z",
                                      "70010100000Z", "7001010000000Z",
                                      "70010100000aZ"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASN1_TIME *a = ASN1_UTCTIME_new();
        ck_assert(ASN1_STRING_set(a, bad[i], (int)strlen(bad[i])));
        t = 5;
        ck_assert_msg(cg_timestamp_from_asn1(a, &t) == CG_ERR_INVALID, "'%s' should be refused",
                      bad[i]);
        ck_assert_int_eq(t, 0);
        ASN1_TIME_free(a);
    }
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("timestamp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_forms);
    tcase_add_test(tc, test_parse_refuses);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_asn1);
    tcase_add_test(tc, test_asn1_refuses);
    suite_add_tcase(s, tc);
    return s;
}
