/* Tests for policy/ipset.c: parsing, edges (/0, /32, /128), mapped addresses,
 * adjacent and overlapping blocks, and a large set against a brute-force reference. */
#include <arpa/inet.h>
#include "check_main.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/ipset.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
        sin6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool has(const struct ipset *s, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return ipset_contains(s, (const struct sockaddr *)&ss);
}

static void build(struct ipset *s, const char *const *cidrs)
{
    memset(s, 0, sizeof(*s));
    for (; *cidrs; cidrs++) {
        struct cg_errbuf err = {{0}};
        ck_assert_msg(ipset_add(s, *cidrs, &err) == 0, "%s: %s", *cidrs, err.msg);
    }
    ipset_finish(s);
}

START_TEST(test_empty)
{
    struct ipset s = {0};
    ipset_finish(&s);
    ck_assert(ipset_is_empty(&s));
    ck_assert(!has(&s, "10.0.0.1"));
    ck_assert(!has(&s, "::1"));
    ck_assert(!ipset_contains(&s, NULL));
    ipset_cleanup(&s);
}
END_TEST

START_TEST(test_v4_edges)
{
    static const char *const cidrs[] = {"10.0.0.0/8", "192.168.1.7", "172.16.0.0/12", NULL};
    struct ipset s;
    build(&s, cidrs);
    ck_assert(has(&s, "10.0.0.0"));
    ck_assert(has(&s, "10.255.255.255"));
    ck_assert(!has(&s, "9.255.255.255"));
    ck_assert(!has(&s, "11.0.0.0"));
    ck_assert(has(&s, "192.168.1.7"));
    ck_assert(!has(&s, "192.168.1.6"));
    ck_assert(!has(&s, "192.168.1.8"));
    ck_assert(has(&s, "172.31.255.255"));
    ck_assert(!has(&s, "172.32.0.0"));
    /* IPv4-mapped IPv6 peers (dual-stack sockets) match IPv4 rules. */
    ck_assert(has(&s, "::ffff:10.1.2.3"));
    ck_assert(!has(&s, "::ffff:11.1.2.3"));
    /* ... but IPv4-compatible and other IPv6 addresses do not. */
    ck_assert(!has(&s, "::10.1.2.3"));
    ck_assert(!has(&s, "::1"));
    ipset_cleanup(&s);
}
END_TEST

START_TEST(test_slash_zero)
{
    static const char *const v4all[] = {"0.0.0.0/0", NULL};
    static const char *const v6all[] = {"::/0", NULL};
    struct ipset s;
    build(&s, v4all);
    ck_assert(has(&s, "0.0.0.0"));
    ck_assert(has(&s, "255.255.255.255"));
    ck_assert(has(&s, "::ffff:1.2.3.4"));
    ck_assert(!has(&s, "2001:db8::1"));
    ipset_cleanup(&s);
    build(&s, v6all);
    ck_assert(has(&s, "::"));
    ck_assert(has(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(has(&s, "2001:db8::1"));
    /* Mapped addresses are IPv4 peers: an IPv6 rule does not cover them. */
    ck_assert(!has(&s, "::ffff:1.2.3.4"));
    ck_assert(!has(&s, "1.2.3.4"));
    ipset_cleanup(&s);
}
END_TEST

START_TEST(test_v6_edges)
{
    static const char *const cidrs[] = {
        "::1",       "2001:db8::/32",        "fe80::/10", "2001:db9::1/128",
        "2a00::/64", "::ffff:192.0.2.0/120", NULL};
    struct ipset s;
    build(&s, cidrs);
    ck_assert(has(&s, "::1"));
    ck_assert(!has(&s, "::2"));
    ck_assert(!has(&s, "::"));
    ck_assert(has(&s, "2001:db8::"));
    ck_assert(has(&s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(!has(&s, "2001:db9::"));
    ck_assert(has(&s, "2001:db9::1"));
    ck_assert(!has(&s, "2001:db9::2"));
    ck_assert(has(&s, "febf:ffff::1"));
    ck_assert(!has(&s, "fec0::"));
    ck_assert(has(&s, "2a00::ffff:ffff:ffff:ffff"));
    ck_assert(!has(&s, "2a00:0:0:1::"));
    /* A block written in ::ffff:0:0/96 is its IPv4 block. */
    ck_assert(has(&s, "192.0.2.200"));
    ck_assert(has(&s, "::ffff:192.0.2.1"));
    ck_assert(!has(&s, "192.0.3.0"));
    ipset_cleanup(&s);
}
END_TEST

START_TEST(test_adjacent_and_overlapping)
{
    static const char *const cidrs[] = {
        "10.0.1.0/24",     "10.0.0.0/24",     "10.0.0.0/16", "10.0.2.0/23", "10.1.0.0/16",
        "255.255.255.255", "255.255.255.254", "::/1",        "8000::/1",    NULL};
    struct ipset s;
    build(&s, cidrs);
    /* 10.0/16 + 10.1/16 merge into one range; the two top addresses into another. */
    ck_assert_uint_eq(s.num_v4, 2);
    ck_assert_uint_eq(s.num_v6, 1);
    ck_assert(has(&s, "10.1.255.255"));
    ck_assert(!has(&s, "10.2.0.0"));
    ck_assert(has(&s, "255.255.255.255"));
    ck_assert(has(&s, "255.255.255.254"));
    ck_assert(!has(&s, "255.255.255.253"));
    ck_assert(has(&s, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(has(&s, "8000::"));
    ipset_cleanup(&s);
}
END_TEST

START_TEST(test_parse_errors)
{
    static const char *const bad[] = {"",
                                      "10.0.0.0/",
                                      "10.0.0.0/33",
                                      "10.0.0.1/8",
                                      "10.0.0.0/08",
                                      "10.0.0.0/-1",
                                      "10.0.0.0/8x",
                                      "10.0.0",
                                      "10.0.0.256",
                                      "::1/129",
                                      "2001:db8::1/32",
                                      "fe80::1%eth0",
                                      "host.example",
                                      "10.0.0.0/8/8",
                                      " 10.0.0.1",
                                      "::ffff:1.2.3.4/97",
                                      NULL};
    for (const char *const *b = bad; *b; b++) {
        struct ipset s = {0};
        struct cg_errbuf err = {{0}};
        ck_assert_msg(ipset_add(&s, *b, &err) == CG_ERR_INVALID, "accepted \"%s\"", *b);
        ck_assert(err.msg[0] != '\0');
        ipset_cleanup(&s);
        /* ipset_check is the same rule without a set (the configuration's
         * proxy_protocol.from had a looser one of its own). */
        struct cg_errbuf why = {{0}};
        ck_assert_msg(ipset_check(*b, &why) == CG_ERR_INVALID, "check accepted \"%s\"", *b);
        ck_assert_str_eq(why.msg, err.msg);
    }
    static const char *const good[] = {"10.0.0.0/8", "10.0.0.1", "0.0.0.0/0", "fd00::/8", "::1",
                                       "::ffff:10.0.0.0/104", NULL};
    for (const char *const *g = good; *g; g++) {
        ck_assert_msg(ipset_check(*g, NULL) == CG_OK, "refused \"%s\"", *g);
    }
}
END_TEST

START_TEST(test_many_against_reference)
{
    /* 10,000 random blocks; compare lookups with a linear scan. */
    struct ipset s = {0};
    enum { N = 10000 };
    static uint32_t base[N], mask[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        unsigned prefix = 8 + (unsigned)(rand() % 25);
        uint32_t m = prefix == 32 ? 0 : UINT32_MAX >> prefix;
        uint32_t a = ((uint32_t)rand() << 16 ^ (uint32_t)rand()) & ~m;
        base[i] = a;
        mask[i] = m;
        char text[32];
        struct in_addr in = {htonl(a)};
        snprintf(text, sizeof(text), "%s/%u", inet_ntoa(in), prefix);
        struct cg_errbuf err = {{0}};
        ck_assert_int_eq(ipset_add(&s, text, &err), 0);
    }
    ipset_finish(&s);
    for (int k = 0; k < 20000; k++) {
        uint32_t a = (uint32_t)rand() << 16 ^ (uint32_t)rand();
        if (k % 2) {
            a = base[rand() % N] | ((uint32_t)rand() & mask[rand() % N]);
        }
        bool want = false;
        for (int i = 0; i < N && !want; i++) {
            want = (a & ~mask[i]) == base[i];
        }
        ck_assert_msg(ipset_contains_v4(&s, a) == want, "mismatch at %08x", a);
    }
    ipset_cleanup(&s);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("ipset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_v4_edges);
    tcase_add_test(tc, test_slash_zero);
    tcase_add_test(tc, test_v6_edges);
    tcase_add_test(tc, test_adjacent_and_overlapping);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_many_against_reference);
    suite_add_tcase(s, tc);
    return s;
}
