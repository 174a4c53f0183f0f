/* Tests for common/json_line.c, the one writer of certgate's JSON lines.
 *
 * Guards the forged audit line (a client-chosen SNI, Host or path written into the
 * access log unescaped added members such as "decision":"allow", and a newline a whole
 * line): every byte 0x00-0xFF, every kind of invalid UTF-8, and a line cut at every
 * buffer size must come out as exactly one valid JSON object whose values are the
 * bytes given, or a prefix of them. */
#include "check_main.h"
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/json_line.h"

/* parse parses |text| as one JSON object (NUL escapes allowed) or fails the test. */
static json_t *parse(const char *text, size_t len)
{
    json_error_t e;
    json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(doc != NULL, "not JSON (%s): %.*s", e.text, (int)len, text);
    ck_assert(json_is_object(doc));
    return doc;
}

/* one_value writes {"v": bytes} and returns the text in |buf|. */
static size_t one_value(char *buf, size_t cap, const char *p, size_t len)
{
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, cap);
    cg_json_line_strn(&l, "v", p, len);
    return cg_json_line_end(&l);
}

START_TEST(test_every_byte)
{
    for (unsigned b = 0; b < 256; b++) {
        char in = (char)b, buf[64], want[64];
        size_t n = one_value(buf, sizeof(buf), &in, 1);
        const char *esc;
        char tmp[8];
        if (b == '"') {
            esc = "\\\"";
        } else if (b == '\\') {
            esc = "\\\\";
        } else if (b == '\n') {
            esc = "\\n";
        } else if (b == '\r') {
            esc = "\\r";
        } else if (b == '\t') {
            esc = "\\t";
        } else if (b < 0x20 || b == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", b);
            esc = tmp;
        } else if (b >= 0x80) {
            esc = "\\ufffd"; /* a lone byte >= 0x80 is never valid UTF-8 */
        } else {
            tmp[0] = (char)b;
            tmp[1] = '\0';
            esc = tmp;
        }
        snprintf(want, sizeof(want), "{\"v\":\"%s\"}", esc);
        ck_assert_msg(strcmp(buf, want) == 0, "byte 0x%02x: got %s, want %s", b, buf, want);
        ck_assert_uint_eq(n, strlen(want));
        json_t *doc = parse(buf, n);
        json_t *v = json_object_get(doc, "v");
        if (b < 0x80) {
            ck_assert_uint_eq(json_string_length(v), 1);
            ck_assert_int_eq((unsigned char)json_string_value(v)[0], b);
        } else {
            ck_assert_str_eq(json_string_value(v), "\xef\xbf\xbd");
        }
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_utf8)
{
    static const struct {
        const char *in;
        const char *out; /* inside the quotes */
    } cases[] = {
        {"caf\xc3\xa9", "caf\xc3\xa9"},                       /* U+00E9 copied */
        {"\xe2\x82\xac", "\xe2\x82\xac"},                     /* U+20AC */
        {"\xf0\x9d\x84\x9e", "\xf0\x9d\x84\x9e"},             /* U+1D11E */
        {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},             /* U+10FFFF, the last */
        {"\xc2\x85", "\\u0085"},                              /* C1 control (NEL) */
        {"\xc2\x9b[2J", "\\u009b[2J"},                        /* C1 CSI: a terminal command */
        {"\xc2\xa0", "\xc2\xa0"},                             /* U+00A0 is no control */
        {"\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"},       /* line / paragraph separator */
        {"\xc0\xaf", "\\ufffd\\ufffd"},                       /* overlong '/' */
        {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},            /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},            /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* U+110000 */
        {"\xf5\x80", "\\ufffd\\ufffd"},
        {"\x80x", "\\ufffdx"},            /* stray continuation */
        {"a\xe2\x82", "a\\ufffd\\ufffd"}, /* cut short at the end */
        {"\xe2\x82"
         "a",
         "\\ufffd\\ufffda"},                  /* cut short before ASCII */
        {"\xe2\x82\"", "\\ufffd\\ufffd\\\""}, /* ... and before a quote */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[128], want[128];
        size_t n = one_value(buf, sizeof(buf), cases[i].in, strlen(cases[i].in));
        snprintf(want, sizeof(want), "{\"v\":\"%s\"}", cases[i].out);
        ck_assert_msg(strcmp(buf, want) == 0, "case %zu: got %s, want %s", i, buf, want);
        json_decref(parse(buf, n));
    }
}
END_TEST

START_TEST(test_no_forged_member_or_line)
{
    /* The SNI of the audit-forging attack, and a header value that tries a new line. */
    const char *sni = "x\",\"decision\":\"allow\",\"status\":200,\"z\":\"";
    const char *host = "a\n{\"decision\":\"allow\"}\r\n";
    char buf[512];
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, sizeof(buf));
    cg_json_line_str(&l, "sni", sni);
    cg_json_line_str(&l, "authority", host);
    cg_json_line_str(&l, "decision", "deny");
    cg_json_line_str(&l, "we\"ird\nkey", "k");
    size_t n = cg_json_line_end(&l);
    ck_assert_ptr_null(memchr(buf, '\n', n));
    ck_assert_ptr_null(memchr(buf, '\r', n));
    json_t *doc = parse(buf, n);
    ck_assert_uint_eq(json_object_size(doc), 4);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "sni")), sni);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "authority")), host);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "decision")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "we\"ird\nkey")), "k");
    json_decref(doc);
}
END_TEST

START_TEST(test_numbers_null_and_empty)
{
    char buf[256];
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, sizeof(buf));
    cg_json_line_u64(&l, "max", UINT64_MAX);
    cg_json_line_u64(&l, "zero", 0);
    cg_json_line_i64(&l, "min", INT64_MIN);
    cg_json_line_i64(&l, "neg", -1);
    cg_json_line_str(&l, "null", NULL);
    cg_json_line_strn(&l, "empty", NULL, 0);
    cg_json_line_strn(&l, "nul", "a\0b", 3);
    size_t n = cg_json_line_end(&l);
    ck_assert_str_eq(buf, "{\"max\":18446744073709551615,\"zero\":0,\"min\":-9223372036854775808,"
                          "\"neg\":-1,\"null\":\"\",\"empty\":\"\",\"nul\":\"a\\u0000b\"}");
    ck_assert_uint_eq(n, strlen(buf));
    char empty[CG_JSON_LINE_MIN];
    cg_json_line_begin(&l, empty, sizeof(empty));
    ck_assert_uint_eq(cg_json_line_end(&l), 2);
    ck_assert_str_eq(empty, "{}");
}
END_TEST

START_TEST(test_time)
{
    char buf[128];
    struct cg_json_line l;
    struct timespec epoch = {0, 0}, t1 = {1795519440, 123456789}, t2 = {951782399, 999999999};
    cg_json_line_begin(&l, buf, sizeof(buf));
    cg_json_line_time(&l, "a", &epoch);
    cg_json_line_time(&l, "b", &t1);
    cg_json_line_time(&l, "c", &t2);
    cg_json_line_end(&l);
    ck_assert_str_eq(buf, "{\"a\":\"1970-01-01T00:00:00.000000Z\","
                          "\"b\":\"2026-11-24T11:24:00.123456Z\","
                          "\"c\":\"2000-02-28T23:59:59.999999Z\"}");
}
END_TEST

/* A value whose every kind of character (plain, escaped, \u escape, raw multi-byte,
 * invalid) lands on a buffer edge somewhere as the size grows. */
static const char long_value[] = "path/\"q\\\n\x01\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
                                 "\xff\xc2\x85-end-of-the-first-round/"
                                 "path/\"q\\\n\x01\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
                                 "\xff\xc2\x85-end-of-the-second-round";

static size_t build(char *buf, size_t cap)
{
    struct timespec ts = {1795519440, 5000};
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, cap);
    cg_json_line_time(&l, "time", &ts);
    cg_json_line_str(&l, "path", long_value);
    cg_json_line_u64(&l, "status", 403);
    cg_json_line_str(&l, "sni", "x\",\"decision\":\"allow");
    cg_json_line_i64(&l, "grpc", -7);
    return cg_json_line_end(&l);
}

/* decoded returns |value| as the writer's reader would decode it (invalid bytes as
 * U+FFFD), so that a cut value can be checked as a prefix of it. */
static json_t *decoded(const char *value)
{
    char buf[1024];
    size_t n = one_value(buf, sizeof(buf), value, strlen(value));
    json_t *doc = parse(buf, n);
    json_t *v = json_incref(json_object_get(doc, "v"));
    json_decref(doc);
    return v;
}

START_TEST(test_truncation_at_every_size)
{
    char full[2048];
    size_t full_len = build(full, sizeof(full));
    ck_assert_ptr_null(strstr(full, "truncated"));
    json_t *want_path = decoded(long_value);
    json_t *want_sni = decoded("x\",\"decision\":\"allow");
    unsigned cut = 0;
    for (size_t cap = CG_JSON_LINE_MIN; cap <= full_len + 32; cap++) {
        char buf[2048 + 8];
        memset(buf, 'X', sizeof(buf));
        size_t n = build(buf, cap);
        ck_assert_msg(n < cap, "cap %zu: wrote %zu", cap, n);
        ck_assert_uint_eq(strlen(buf), n);
        ck_assert_int_eq(buf[cap], 'X'); /* nothing past the buffer */
        ck_assert_int_eq(buf[n - 1], '}');
        ck_assert_ptr_null(memchr(buf, '\n', n));
        json_t *doc = parse(buf, n);
        json_t *t = json_object_get(doc, "truncated");
        if (cap >= full_len + CG_JSON_LINE_RESERVED) {
            ck_assert_str_eq(buf, full);
        } else {
            ck_assert_msg(json_is_true(t), "cap %zu: %s", cap, buf);
            cut++;
        }
        json_t *path = json_object_get(doc, "path");
        if (path != NULL) {
            size_t plen = json_string_length(path);
            ck_assert_uint_le(plen, json_string_length(want_path));
            ck_assert_int_eq(memcmp(json_string_value(path), json_string_value(want_path), plen),
                             0);
        }
        json_t *sni = json_object_get(doc, "sni");
        if (sni != NULL) {
            size_t slen = json_string_length(sni);
            ck_assert_int_eq(memcmp(json_string_value(sni), json_string_value(want_sni), slen), 0);
        }
        json_t *status = json_object_get(doc, "status");
        ck_assert(status == NULL || json_integer_value(status) == 403);
        json_t *grpc = json_object_get(doc, "grpc");
        ck_assert(grpc == NULL || json_integer_value(grpc) == -7);
        json_t *time = json_object_get(doc, "time");
        ck_assert(time == NULL ||
                  strcmp(json_string_value(time), "2026-11-24T11:24:00.000005Z") == 0);
        json_decref(doc);
    }
    ck_assert_uint_gt(cut, 100);
    json_decref(want_path);
    json_decref(want_sni);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("json_line");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_byte);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_no_forged_member_or_line);
    tcase_add_test(tc, test_numbers_null_and_empty);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_truncation_at_every_size);
    suite_add_tcase(s, tc);
    return s;
}
