/* Tests for proxy/net/proxy_protocol.c: PROXY v1 and v2 headers, every prefix incomplete,
 * malformed headers refused. */
#include <arpa/inet.h>
#include "check_main.h"
#include <netinet/in.h>
#include <string.h>

#include "proxy/net/proxy_protocol.h"

static int parse_str(const char *s, struct pp_header *h)
{
    return pp_parse((const unsigned char *)s, strlen(s), h);
}

START_TEST(test_v1_tcp4)
{
    const char *s = "PROXY TCP4 10.1.2.3 192.0.2.1 40000 8443\r\nTLSDATA";
    struct pp_header h;
    int r = parse_str(s, &h);
    ck_assert_int_eq(r, (int)strlen("PROXY TCP4 10.1.2.3 192.0.2.1 40000 8443\r\n"));
    ck_assert(h.has_address);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&h.src;
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin->sin_port), 40000);
    char ip[32];
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
    ck_assert_str_eq(ip, "10.1.2.3");
    /* Every strict prefix of the header is incomplete, never an error. */
    size_t hlen = (size_t)r;
    for (size_t i = 0; i < hlen; i++) {
        ck_assert_int_eq(pp_parse((const unsigned char *)s, i, &h), PP_INCOMPLETE);
    }
}
END_TEST

START_TEST(test_v1_tcp6_and_unknown)
{
    struct pp_header h;
    ck_assert_int_gt(parse_str("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", &h), 0);
    ck_assert(h.has_address);
    ck_assert_int_eq(((struct sockaddr_in6 *)&h.src)->sin6_family, AF_INET6);
    ck_assert_int_gt(parse_str("PROXY UNKNOWN\r\n", &h), 0);
    ck_assert(!h.has_address);
    ck_assert_int_gt(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h), 0);
}
END_TEST

START_TEST(test_v1_errors)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",                         /* not PROXY at all */
        "\x16\x03\x01",                               /* a TLS ClientHello */
        "PROXY TCP4 10.1.2.3 192.0.2.1 40000 8443\n", /* bare LF */
        "PROXY TCP4 10.1.2.3 192.0.2.1 40000\r\n",    /* missing port */
        "PROXY TCP4 10.1.2.3  192.0.2.1 1 2\r\n",     /* double space */
        "PROXY TCP4 10.1.2.300 192.0.2.1 1 2\r\n",    /* bad address */
        "PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",   /* family mismatch */
        "PROXY TCP4 10.1.2.3 192.0.2.1 65536 2\r\n",  /* port range */
        "PROXY TCP4 10.1.2.3 192.0.2.1 01 2\r\n",     /* leading zero */
        "PROXY UDP4 10.1.2.3 192.0.2.1 1 2\r\n",      /* protocol */
        "PROXY TCP4 10.1.2.3 192.0.2.1 1 2 3\r\n",    /* extra field */
    };
    struct pp_header h;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse_str(bad[i], &h) == PP_ERROR, "accepted case %zu", i);
    }
    /* 107 bytes without a line end is too long for v1. */
    char longline[200] = "PROXY TCP4 ";
    memset(longline + 11, '1', 150);
    longline[161] = '\0';
    ck_assert_int_eq(parse_str(longline, &h), PP_ERROR);
}
END_TEST

static size_t v2(unsigned char *b, unsigned cmd, unsigned fam, const void *addr, size_t alen)
{
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(b, sig, 12);
    b[12] = (unsigned char)(0x20 | cmd);
    b[13] = (unsigned char)fam;
    b[14] = (unsigned char)(alen >> 8);
    b[15] = (unsigned char)alen;
    memcpy(b + 16, addr, alen);
    return 16 + alen;
}

START_TEST(test_v2)
{
    unsigned char b[600];
    unsigned char a4[12] = {10, 9, 8, 7, 192, 0, 2, 1, 0x9c, 0x40, 0x20, 0xfb};
    struct pp_header h;
    size_t n = v2(b, 1, 0x11, a4, sizeof(a4));
    ck_assert_int_eq(pp_parse(b, n, &h), (int)n);
    ck_assert(h.has_address);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&h.src;
    ck_assert_uint_eq(ntohs(sin->sin_port), 40000);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0a090807u);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(pp_parse(b, i, &h), PP_INCOMPLETE);
    }
    /* TLVs after the addresses are skipped. */
    unsigned char a4tlv[20] = {10, 9, 8,    7, 192, 0,   2,   1,   0,   1,
                               0,  2, 0x04, 0, 4,   'a', 'b', 'c', 'd', 0};
    n = v2(b, 1, 0x11, a4tlv, 19);
    ck_assert_int_eq(pp_parse(b, n, &h), (int)n);
    /* LOCAL keeps the real peer. */
    n = v2(b, 0, 0x00, "", 0);
    ck_assert_int_eq(pp_parse(b, n, &h), (int)n);
    ck_assert(!h.has_address);
    /* IPv6. */
    unsigned char a6[36] = {0x20, 0x01, 0x0d, 0xb8};
    n = v2(b, 1, 0x21, a6, sizeof(a6));
    ck_assert_int_eq(pp_parse(b, n, &h), (int)n);
    ck_assert_int_eq(((struct sockaddr_in6 *)&h.src)->sin6_family, AF_INET6);
    /* Errors: version, command, UDP, short address block, oversize. */
    n = v2(b, 1, 0x11, a4, sizeof(a4));
    b[12] = 0x11;
    ck_assert_int_eq(pp_parse(b, n, &h), PP_ERROR);
    n = v2(b, 2, 0x11, a4, sizeof(a4));
    ck_assert_int_eq(pp_parse(b, n, &h), PP_ERROR);
    n = v2(b, 1, 0x12, a4, sizeof(a4));
    ck_assert_int_eq(pp_parse(b, n, &h), PP_ERROR);
    n = v2(b, 1, 0x11, a4, 8);
    ck_assert_int_eq(pp_parse(b, n, &h), PP_ERROR);
    n = v2(b, 1, 0x11, a4, sizeof(a4));
    b[14] = 0x10; /* 4 KiB body */
    ck_assert_int_eq(pp_parse(b, n, &h), PP_ERROR);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_v1_tcp4);
    tcase_add_test(tc, test_v1_tcp6_and_unknown);
    tcase_add_test(tc, test_v1_errors);
    tcase_add_test(tc, test_v2);
    suite_add_tcase(s, tc);
    return s;
}
