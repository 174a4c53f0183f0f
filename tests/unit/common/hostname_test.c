/* Tests for common/hostname.c: the one DNS host-name rule, used for TLS server names
 * (a client's SNI that was not a host name reached the access log with quotes and
 * newlines), an upstream's sni and the DNS names of issued certificates (which used to
 * disagree on '_' and a trailing '-'). */
#include "check_main.h"
#include <string.h>

#include "common/hostname.h"

static bool valid(const char *s)
{
    return cg_hostname_valid(cg_str_from_cstr(s));
}

static bool pattern(const char *s)
{
    return cg_hostname_pattern_valid(cg_str_from_cstr(s));
}

START_TEST(test_valid_names)
{
    static const char *const ok[] = {"localhost",
                                     "db.example.com",
                                     "DB.Example.COM",
                                     "a",
                                     "a-b.c",
                                     "x1.y2",
                                     "my_service",
                                     "db_1.internal",
                                     "xn--bcher-kva.example",
                                     "1a.example",
                                     "host.123a",
                                     "0.example.com",
                                     "a.b.c.d.e.f.g.h"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(valid(ok[i]), "%s should be valid", ok[i]);
    }
}
END_TEST

START_TEST(test_invalid_names)
{
    static const char *const bad[] = {"",
                                      ".",
                                      "example.com.",
                                      ".example.com",
                                      "a..b",
                                      "-a.example",
                                      "a-.example",
                                      "a.-b",
                                      "a.b-",
                                      "127.0.0.1",
                                      "10.0.0.300",
                                      "1.2.3",
                                      "8443",
                                      "::1",
                                      "[::1]",
                                      "2001:db8::1",
                                      "a b",
                                      "a\"b",
                                      "x\",\"decision\":\"allow",
                                      "a\nb",
                                      "a\tb",
                                      "caf\xc3\xa9.example",
                                      "a/b",
                                      "a:443",
                                      "*.example.com",
                                      "a*.b",
                                      "a@b",
                                      "a%2eb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!valid(bad[i]), "\"%s\" should be invalid", bad[i]);
    }
    /* A NUL inside the slice is not a label character. */
    ck_assert(!cg_hostname_valid((struct cg_str){"a\0b", 3}));
}
END_TEST

START_TEST(test_lengths)
{
    char label[70], name[300];
    memset(label, 'a', 63);
    label[63] = '\0';
    ck_assert(valid(label));
    label[63] = 'a';
    label[64] = '\0';
    ck_assert(!valid(label)); /* 64-byte label */
    /* 253 bytes: four 62-byte labels and a 1-byte last one, three dots ... */
    memset(name, 'b', sizeof(name));
    for (size_t i = 62; i < 253; i += 63) {
        name[i] = '.';
    }
    name[253] = '\0';
    ck_assert(valid(name));
    name[253] = 'b';
    name[254] = '\0';
    ck_assert(!valid(name)); /* 254 bytes */
}
END_TEST

START_TEST(test_patterns)
{
    ck_assert(pattern("*.example.com"));
    ck_assert(pattern("*.local"));
    ck_assert(pattern("db.example.com"));
    ck_assert(!pattern("*"));
    ck_assert(!pattern("*."));
    ck_assert(!pattern("*.*.example.com"));
    ck_assert(!pattern("a.*.example.com"));
    ck_assert(!pattern("*.10.0.0.1"));
    ck_assert(!pattern("*example.com"));
}
END_TEST

static bool authority_host_is(const char *authority, const char *want)
{
    struct cg_str h = cg_authority_host(cg_str_from_cstr(authority));
    return h.len == strlen(want) && memcmp(h.p, want, h.len) == 0;
}

START_TEST(test_authority_host)
{
    ck_assert(authority_host_is("db.example.com", "db.example.com"));
    ck_assert(authority_host_is("db.example.com:8443", "db.example.com"));
    ck_assert(authority_host_is("db.example.com.:8443", "db.example.com"));
    ck_assert(authority_host_is("db.example.com.", "db.example.com"));
    ck_assert(authority_host_is("[::1]:8443", "[::1]"));
    ck_assert(authority_host_is("[::1]", "[::1]"));
    ck_assert(authority_host_is("[::1", "[::1")); /* unclosed: whole, names nothing */
    ck_assert(authority_host_is("127.0.0.1:80", "127.0.0.1"));
    ck_assert(authority_host_is(":8443", ""));
    ck_assert(authority_host_is("", ""));
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("hostname");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_valid_names);
    tcase_add_test(tc, test_invalid_names);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_patterns);
    tcase_add_test(tc, test_authority_host);
    suite_add_tcase(s, tc);
    return s;
}
