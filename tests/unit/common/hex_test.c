/* Tests for common/hex.c: the one hex codec, which replaced three copies of a digit
 * reader and five digit tables (thumbprints, pins' key identifiers, serial numbers,
 * percent escapes, JSON escapes). */
#include "check_main.h"
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"

static int decode(const char *text, enum cg_hex_colons colons, uint8_t *out, size_t cap,
                  size_t *out_len)
{
    return cg_hex_decode(cg_str_from_cstr(text), colons, out, cap, out_len);
}

START_TEST(test_every_byte_both_cases)
{
    for (unsigned b = 0; b < 256; b++) {
        uint8_t in = (uint8_t)b, out = 0;
        char upper[3], lower[3], want_upper[3], want_lower[3];
        size_t n = 0;
        cg_hex_encode(&in, 1, CG_HEX_UPPER, upper);
        cg_hex_encode(&in, 1, CG_HEX_LOWER, lower);
        snprintf(want_upper, sizeof(want_upper), "%02X", b);
        snprintf(want_lower, sizeof(want_lower), "%02x", b);
        ck_assert_str_eq(upper, want_upper);
        ck_assert_str_eq(lower, want_lower);
        ck_assert_int_eq(decode(upper, CG_HEX_COLONS_NO, &out, 1, &n), CG_OK);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(out, b);
        out = 0;
        ck_assert_int_eq(decode(lower, CG_HEX_COLONS_OPTIONAL, &out, 1, &n), CG_OK);
        ck_assert_uint_eq(out, b);
        /* Mixed case ("aB") reads as well. */
        char mixed[3] = {lower[0], upper[1], '\0'};
        ck_assert(cg_hex_pair(mixed[0], mixed[1], &out));
        ck_assert_uint_eq(out, b);
    }
}
END_TEST

START_TEST(test_digit_every_char)
{
    for (int c = 0; c < 256; c++) {
        uint8_t v = 0xee;
        bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        ck_assert_msg(cg_hex_digit((char)c, &v) == is_hex, "char %d", c);
        if (is_hex) {
            unsigned want = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
            ck_assert_uint_eq(v, want);
        } else {
            ck_assert_uint_eq(v, 0xee); /* left alone */
        }
    }
    ck_assert_int_eq(cg_hex_upper[10], 'A');
    ck_assert_int_eq(cg_hex_lower[15], 'f');
}
END_TEST

START_TEST(test_encode_lengths)
{
    static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
    char out[2 * sizeof(bytes) + 1];
    memset(out, 'x', sizeof(out));
    cg_hex_encode(bytes, 0, CG_HEX_UPPER, out);
    ck_assert_str_eq(out, "");
    cg_hex_encode(bytes, sizeof(bytes), CG_HEX_UPPER, out);
    ck_assert_str_eq(out, "0001ABFF7F");
    cg_hex_encode(bytes, sizeof(bytes), CG_HEX_LOWER, out);
    ck_assert_str_eq(out, "0001abff7f");
}
END_TEST

START_TEST(test_decode_colons)
{
    uint8_t out[8];
    size_t n = 0;
    ck_assert_int_eq(decode("AB:cd:EF", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n), CG_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 0xab);
    ck_assert_uint_eq(out[1], 0xcd);
    ck_assert_uint_eq(out[2], 0xef);
    ck_assert_int_eq(decode("abcdef", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n), CG_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(decode("ab", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n), CG_OK);
    ck_assert_uint_eq(n, 1);
    /* Colons between some pairs only: a dropped digit could shift the pairs. */
    ck_assert_int_eq(decode("AB:CDEF", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    ck_assert_int_eq(decode("ABCD:EF", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    ck_assert_int_eq(decode("A:BC", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    ck_assert_int_eq(decode(":AB", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    ck_assert_int_eq(decode("AB:", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    ck_assert_int_eq(decode("AB::CD", CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n),
                     CG_ERR_INVALID);
    /* Not allowed at all. */
    ck_assert_int_eq(decode("AB:CD", CG_HEX_COLONS_NO, out, sizeof(out), &n), CG_ERR_INVALID);
}
END_TEST

START_TEST(test_decode_refuses)
{
    uint8_t out[4];
    size_t n = 99;
    static const char *const bad[] = {"",     "A",    "ABC",  "ABCDE", "AG",   "GA",  "0x12",
                                      " AB",  "AB ",  "A B",  "-1",    "AB\n", "é1",  "+1",
                                      "ZZZZ", "1234g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode(bad[i], CG_HEX_COLONS_OPTIONAL, out, sizeof(out), &n) ==
                          CG_ERR_INVALID,
                      "'%s' should be refused", bad[i]);
    }
    ck_assert_uint_eq(n, 99); /* untouched on failure */
    /* A NUL inside the text is not a digit either. */
    ck_assert_int_eq(cg_hex_decode((struct cg_str){"AB\0D", 4}, CG_HEX_COLONS_NO, out,
                                   sizeof(out), &n),
                     CG_ERR_INVALID);
    /* More bytes than the caller has room for. */
    ck_assert_int_eq(decode("0102030405", CG_HEX_COLONS_NO, out, 4, &n), CG_ERR_INVALID);
    ck_assert_int_eq(decode("01020304", CG_HEX_COLONS_NO, out, 4, &n), CG_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(decode("01", CG_HEX_COLONS_NO, out, 0, &n), CG_ERR_INVALID);
}
END_TEST

START_TEST(test_pair)
{
    uint8_t v = 7;
    ck_assert(cg_hex_pair('2', 'f', &v));
    ck_assert_uint_eq(v, 0x2f);
    ck_assert(!cg_hex_pair('2', 'g', &v));
    ck_assert(!cg_hex_pair('\0', '0', &v));
    ck_assert_uint_eq(v, 0x2f);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("hex");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_byte_both_cases);
    tcase_add_test(tc, test_digit_every_char);
    tcase_add_test(tc, test_encode_lengths);
    tcase_add_test(tc, test_decode_colons);
    tcase_add_test(tc, test_decode_refuses);
    tcase_add_test(tc, test_pair);
    suite_add_tcase(s, tc);
    return s;
}
