/* Unit tests of proxy/http1/h1_parse.c: every rejection the parser promises, the valid edge
 * cases a proxy meets (pipelining, HEAD/1xx/204/304, absolute-form, HTTP/1.0) and
 * incremental feeding. The chunked decoder's are in h1_chunked_test.c. */
#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_field.h"
#include "config/config.h"
#include "config/config_keys.h"
#include "proxy/http1/h1_parse.h"

#define MAX_FIELDS 128
#define R(s) s, sizeof(s) - 1

static struct h1_header fields[MAX_FIELDS];

/* proxy_limits returns what the HTTP/1.1 server passes with a default configuration. */
static const struct h1_limits *proxy_limits(void)
{
    static struct h1_limits lim;
    struct config cfg = {0};
    config_keys_set_defaults(CONFIG_SCOPE_ROOT, &cfg);
    lim = (struct h1_limits){.max_request_line = cfg.limits.max_request_line,
                             .max_head = cfg.limits.max_header_bytes,
                             .max_headers = cfg.limits.max_headers};
    return &lim;
}

static enum h1_parse_result req_n(const char *s, size_t len, const struct h1_limits *limits,
                                  struct h1_request *out)
{
    return h1_parse_request(s, len, limits, fields, MAX_FIELDS, out);
}

static enum h1_parse_result req(const char *s, struct h1_request *out)
{
    return req_n(s, strlen(s), proxy_limits(), out);
}

static enum h1_parse_result resp(const char *s, const char *method, struct h1_response *out)
{
    return h1_parse_response(s, strlen(s), proxy_limits(), cg_str_from_cstr(method), fields,
                             MAX_FIELDS, out);
}

static bool str_is(struct cg_str s, const char *want)
{
    return cg_str_eq(s, cg_str_from_cstr(want));
}

/* ---- request rejections ----------------------------------------------------------- */

struct reject_case {
    const char *name;
    const char *raw;
    size_t len;
    int status;
};

#define REJ(name, raw, status)                                                                     \
    {                                                                                              \
        name, R(raw), status                                                                       \
    }
#define H11 " HTTP/1.1\r\nHost: a\r\n"

static const struct reject_case reject_cases[] = {
    /* request line */
    REJ("double SP after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("double SP after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("SP after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    REJ("HTAB as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("method not a token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("method with NUL", "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("HTTP/0.9 request", "GET /\r\n\r\n", 400),
    REJ("missing version", "GET / \r\nHost: a\r\n\r\n", 400),
    REJ("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("version too long", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    REJ("version too short", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    REJ("version garbage", "GET / HTTP/x.y\r\nHost: a\r\n\r\n", 400),
    REJ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    REJ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    REJ("HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    REJ("target with CTL", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("target with NUL", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("target with DEL", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("target with HTAB", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("target with 8-bit byte", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("target with SP", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("origin-form without slash", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("asterisk with more", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("authority-form with GET", "GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("CONNECT origin-form", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("CONNECT without port", "CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("CONNECT with userinfo", "CONNECT u@a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form other scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form empty authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form query after host", "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form bad port", "GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("absolute-form to an unexpected host",
        "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", 400),
    REJ("absolute-form port mismatch", "GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),

    /* bare CR / LF */
    REJ("bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    REJ("bare CR after request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    REJ("bare LF after field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    REJ("bare LF as end of head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    REJ("bare CR as end of head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400),
    REJ("bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    REJ("bare LF in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),
    REJ("bare CR before request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    REJ("bare LF before request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),

    /* field syntax */
    REJ("SP before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    REJ("HTAB before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    REJ("SP inside name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n", 400),
    REJ("obs-fold SP", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
    REJ("obs-fold HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400),
    REJ("SP before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    REJ("empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
    REJ("field without colon", "GET / HTTP/1.1\r\nHost: a\r\nXY\r\n\r\n", 400),
    REJ("non-token in name", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400),
    REJ("8-bit byte in name", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3: b\r\n\r\n", 400),
    REJ("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
    REJ("CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400),
    REJ("ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", 400),
    REJ("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400),

    /* Content-Length */
    REJ("CL with plus", "POST /" H11 "Content-Length: +5\r\n\r\n", 400),
    REJ("CL with minus", "POST /" H11 "Content-Length: -5\r\n\r\n", 400),
    REJ("CL empty", "POST /" H11 "Content-Length:\r\n\r\n", 400),
    REJ("CL blank", "POST /" H11 "Content-Length:   \r\n\r\n", 400),
    REJ("CL hex", "POST /" H11 "Content-Length: 0x5\r\n\r\n", 400),
    REJ("CL trailing garbage", "POST /" H11 "Content-Length: 5a\r\n\r\n", 400),
    REJ("CL inner space", "POST /" H11 "Content-Length: 5 5\r\n\r\n", 400),
    REJ("CL comma list equal", "POST /" H11 "Content-Length: 5, 5\r\n\r\n", 400),
    REJ("CL comma list", "POST /" H11 "Content-Length: 5,6\r\n\r\n", 400),
    REJ("CL duplicate equal", "POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
    REJ("CL duplicate differ", "POST /" H11 "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400),
    REJ("CL above 2^62", "POST /" H11 "Content-Length: 4611686018427387905\r\n\r\n", 400),
    REJ("CL overflow 2^64", "POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", 400),
    REJ("CL huge", "POST /" H11 "Content-Length: 99999999999999999999999999\r\n\r\n", 400),

    /* Transfer-Encoding */
    REJ("TE then CL", "POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    REJ("CL then TE", "POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    REJ("TE gzip", "POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", 400),
    REJ("TE identity", "POST /" H11 "Transfer-Encoding: identity\r\n\r\n", 400),
    REJ("TE gzip, chunked", "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    REJ("TE chunked not final", "POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    REJ("TE chunked twice in list", "POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n",
        400),
    REJ("TE empty", "POST /" H11 "Transfer-Encoding:\r\n\r\n", 400),
    REJ("TE chunked with params", "POST /" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
    REJ("TE in two fields",
        "POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    REJ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    REJ("TE with vertical tab",
        "POST /" H11 "Transfer-Encoding: \x0b"
        "chunked\r\n\r\n",
        400),

    /* Host */
    REJ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400),
    REJ("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    REJ("two Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    REJ("Host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    REJ("Host with SP", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    REJ("Host list", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
    REJ("Host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    REJ("Host path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    REJ("Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400),
    REJ("Host port too big", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400),
    REJ("Host port too long", "GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", 400),
    REJ("Host port not digits", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
    REJ("Host only port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    REJ("Host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    REJ("Host bracket not IPv6", "GET / HTTP/1.1\r\nHost: [a.b]\r\n\r\n", 400),
    REJ("Host IPv6 zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 400),
    REJ("Host bad pct", "GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", 400),
    REJ("Host garbage after IPv6", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),

    /* Expect */
    REJ("Expect other", "POST /" H11 "Expect: 200-ok\r\nContent-Length: 1\r\n\r\n", 417),
    REJ("Expect list with other", "POST /" H11 "Expect: 100-continue, foo\r\n\r\n", 417),
};

START_TEST(test_request_rejections)
{
    for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
        const struct reject_case *t = &reject_cases[i];
        struct h1_request r;
        enum h1_parse_result res = req_n(t->raw, t->len, proxy_limits(), &r);
        ck_assert_msg(res == H1_PARSE_ERROR, "%s: result %d, want error", t->name, res);
        ck_assert_msg(r.error_status == t->status, "%s: status %d (%s), want %d", t->name,
                      r.error_status, r.error_reason ? r.error_reason : "?", t->status);
        ck_assert_msg(r.error_reason != NULL, "%s: no reason", t->name);
    }
}
END_TEST

/* Errors are found as soon as their bytes arrive: the head need not be complete. */
START_TEST(test_request_early_errors)
{
    struct h1_request r;
    ck_assert_int_eq(
        req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n", &r),
        H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 400);
    ck_assert_int_eq(req("G\x01", &r), H1_PARSE_ERROR);
    ck_assert_int_eq(req("GET /\x7f", &r), H1_PARSE_ERROR);
    ck_assert_int_eq(req("GET / HTTQ", &r), H1_PARSE_ERROR);
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nX : ", &r), H1_PARSE_ERROR);
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nX: \x01", &r), H1_PARSE_ERROR);
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nX: a\r\n ", &r), H1_PARSE_ERROR);
    /* Incomplete but valid so far. */
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nX: a\r\n", &r), H1_PARSE_INCOMPLETE);
    ck_assert_int_eq(r.error_status, 0);
    ck_assert_int_eq(req("", &r), H1_PARSE_INCOMPLETE);
    ck_assert_int_eq(req("\r", &r), H1_PARSE_INCOMPLETE);
    ck_assert_int_eq(req("\r\n", &r), H1_PARSE_INCOMPLETE);
}
END_TEST

/* ---- limits ----------------------------------------------------------------------- */

START_TEST(test_limit_request_line)
{
    struct h1_limits lim = *proxy_limits();
    lim.max_request_line = 32;
    struct h1_request r;
    char buf[256];

    /* "GET /" + 18 'a' + " HTTP/1.1" is exactly 32 bytes. */
    int n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(req_n(buf, (size_t)n, &lim, &r), H1_PARSE_OK);
    /* One more byte: 414. */
    n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(req_n(buf, (size_t)n, &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 414);
    /* Without any CRLF yet: 414 as soon as the bytes prove the line too long. */
    n = snprintf(buf, sizeof(buf), "GET /%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(req_n(buf, (size_t)n, &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 414);
    /* A method that long is a too long line as well. */
    memset(buf, 'A', 40);
    ck_assert_int_eq(req_n(buf, 40, &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 414);
    /* While the line may still fit, it is incomplete. */
    ck_assert_int_eq(req_n("GET /aaaa", 9, &lim, &r), H1_PARSE_INCOMPLETE);

    /* The configuration's default limit (8 KiB). */
    size_t big = proxy_limits()->max_request_line + 100;
    char *p = malloc(big);
    ck_assert_ptr_nonnull(p);
    memcpy(p, "GET /", 5);
    memset(p + 5, 'x', big - 5);
    ck_assert_int_eq(req_n(p, big, proxy_limits(), &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 414);
    free(p);
}
END_TEST

START_TEST(test_limit_head)
{
    struct h1_limits lim = *proxy_limits();
    lim.max_head = 64;
    struct h1_request r;
    char buf[256];
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: "; /* 28 bytes */

    /* 28 + 32 + 4 = 64 bytes exactly. */
    int n = snprintf(buf, sizeof(buf), "%s%.*s\r\n\r\n", pre, 32,
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    ck_assert_int_eq(n, 64);
    ck_assert_int_eq(req_n(buf, (size_t)n, &lim, &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.head_len, 64);
    n = snprintf(buf, sizeof(buf), "%s%.*s\r\n\r\n", pre, 33,
                 "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    ck_assert_int_eq(req_n(buf, (size_t)n, &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 431);
    /* Incomplete and already at the limit: 431 without waiting. */
    ck_assert_int_eq(req_n(buf, 64, &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 431);
    ck_assert_int_eq(req_n(buf, 63, &lim, &r), H1_PARSE_INCOMPLETE);
}
END_TEST

START_TEST(test_limit_fields)
{
    struct h1_limits lim = *proxy_limits();
    lim.max_headers = 3;
    struct h1_request r;
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    const char *four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

    ck_assert_int_eq(req_n(three, strlen(three), &lim, &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.num_headers, 3);
    ck_assert_int_eq(req_n(four, strlen(four), &lim, &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 431);

    /* The caller's array is a limit too. */
    struct h1_header small[2];
    ck_assert_int_eq(h1_parse_request(three, strlen(three), proxy_limits(), small, 2, &r),
                     H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 431);
    ck_assert_int_eq(h1_parse_request(three, strlen(three), proxy_limits(), small, 1, &r),
                     H1_PARSE_ERROR);
    struct h1_header exact[3];
    ck_assert_int_eq(h1_parse_request(three, strlen(three), proxy_limits(), exact, 3, &r),
                     H1_PARSE_OK);
    ck_assert_ptr_eq(r.headers, exact);
}
END_TEST

/* Exactly the configuration's default max_headers (100) fields pass, one more does not. */
START_TEST(test_limit_fields_default)
{
    static char buf[8192];
    struct h1_request r;
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < proxy_limits()->max_headers; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%zu: %zu\r\n", i, i);
    }
    size_t body = n;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    ck_assert_int_eq(req_n(buf, n, proxy_limits(), &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.num_headers, proxy_limits()->max_headers);
    ck_assert_uint_eq(r.head_len, n);
    char last[32];
    snprintf(last, sizeof(last), "X-%zu", r.num_headers - 1);
    ck_assert(str_is(r.headers[r.num_headers - 1].name, last));

    n = body + (size_t)snprintf(buf + body, sizeof(buf) - body, "X-last: 1\r\n\r\n");
    ck_assert_int_eq(req_n(buf, n, proxy_limits(), &r), H1_PARSE_ERROR);
    ck_assert_int_eq(r.error_status, 431);
}
END_TEST

/* ---- valid requests --------------------------------------------------------------- */

START_TEST(test_request_simple_pipelined)
{
    const char *s = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"
                    "GET /next HTTP/1.1\r\n";
    struct h1_request r;
    ck_assert_int_eq(req(s, &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.head_len, (size_t)(strstr(s, "GET /next") - s));
    ck_assert(str_is(r.method, "GET"));
    ck_assert(str_is(r.target, "/a/b?c=d"));
    ck_assert(str_is(r.path, "/a/b?c=d"));
    ck_assert_uint_eq(r.authority.len, 0);
    ck_assert(str_is(r.host, "example.com"));
    ck_assert_int_eq(r.minor_version, 1);
    ck_assert_uint_eq(r.num_headers, 2);
    ck_assert_ptr_eq(r.headers, fields);
    ck_assert(str_is(r.headers[1].name, "User-Agent"));
    ck_assert(str_is(r.headers[1].value, "t"));
    ck_assert_int_eq(r.body, H1_BODY_NONE);
    ck_assert_uint_eq(r.flags, H1_F_HAS_HOST);
    ck_assert_int_eq(r.error_status, 0);
}
END_TEST

START_TEST(test_request_bodies)
{
    struct h1_request r;
    const char *s = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    ck_assert_int_eq(req(s, &r), H1_PARSE_OK);
    ck_assert_int_eq(r.body, H1_BODY_LENGTH);
    ck_assert_uint_eq(r.content_length, 5);
    ck_assert_uint_eq(r.head_len, strlen(s) - 5);

    ck_assert_int_eq(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert_int_eq(r.body, H1_BODY_LENGTH);
    ck_assert_uint_eq(r.content_length, 0);

    ck_assert_int_eq(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  007 \r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert_uint_eq(r.content_length, 7);

    ck_assert_int_eq(
        req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\n", &r),
        H1_PARSE_OK);
    ck_assert_uint_eq(r.content_length, UINT64_C(1) << 62);

    ck_assert_int_eq(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert_int_eq(r.body, H1_BODY_CHUNKED);

    ck_assert_int_eq(req("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert_int_eq(r.body, H1_BODY_LENGTH);
}
END_TEST

START_TEST(test_request_target_forms)
{
    struct h1_request r;

    ck_assert_int_eq(
        req("GET http://Example.COM:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", &r),
        H1_PARSE_OK);
    ck_assert(str_is(r.authority, "Example.COM:8080"));
    ck_assert(str_is(r.path, "/p?q"));
    ck_assert(str_is(r.target, "http://Example.COM:8080/p?q"));

    ck_assert_int_eq(req("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert(str_is(r.authority, "h"));
    ck_assert(str_is(r.path, "/"));

    ck_assert_int_eq(req("GET http://[::1]:8443/x HTTP/1.0\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert(str_is(r.authority, "[::1]:8443"));
    ck_assert(str_is(r.path, "/x"));

    ck_assert_int_eq(req("CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert(str_is(r.authority, "db.example:443"));
    ck_assert_uint_eq(r.path.len, 0);
    ck_assert_int_eq(r.body, H1_BODY_NONE);

    ck_assert_int_eq(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert(str_is(r.path, "*"));
    ck_assert_uint_eq(r.authority.len, 0);

    /* Methods are case-sensitive tokens: an unknown method is the upstream's business. */
    ck_assert_int_eq(req("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert(str_is(r.method, "M-SEARCH"));
    /* A lower-case "connect" is not CONNECT. */
    ck_assert_int_eq(req("connect a:1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), H1_PARSE_ERROR);
}
END_TEST

START_TEST(test_request_hosts)
{
    static const char *const ok[] = {
        "a",     "example.com", "EXAMPLE.com:443",       "127.0.0.1",       "127.0.0.1:8443",
        "[::1]", "[::1]:8443",  "[2001:db8::192.0.2.1]", "my_host-1.local", "h%41st",
        "a:0",   "a:65535",
    };
    struct h1_request r;
    char buf[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", ok[i]);
        ck_assert_msg(req_n(buf, (size_t)n, proxy_limits(), &r) == H1_PARSE_OK, "Host %s: %s",
                      ok[i], r.error_reason);
        ck_assert(str_is(r.host, ok[i]));
        ck_assert(r.flags & H1_F_HAS_HOST);
    }
    /* Whitespace around the value is OWS. */
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert(str_is(r.host, "a"));
    /* HTTP/1.0 needs no Host. */
    ck_assert_int_eq(req("GET / HTTP/1.0\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.host.len, 0);
    ck_assert(!(r.flags & H1_F_HAS_HOST));
}
END_TEST

START_TEST(test_request_flags)
{
    struct h1_request r;

    ck_assert_int_eq(req("GET / HTTP/1.0\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert_int_eq(r.minor_version, 0);
    ck_assert_uint_eq(r.flags, H1_F_CONN_CLOSE);

    ck_assert_int_eq(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.flags, H1_F_CONN_KEEPALIVE);

    ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert_uint_eq(r.flags, H1_F_CONN_CLOSE | H1_F_HAS_HOST);

    ck_assert_int_eq(req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,, foo\r\n"
                         "Upgrade: websocket\r\nconnection: UPGRADE\r\n\r\n",
                         &r),
                     H1_PARSE_OK);
    ck_assert_uint_eq(r.flags,
                      H1_F_CONN_KEEPALIVE | H1_F_CONN_UPGRADE | H1_F_HAS_UPGRADE | H1_F_HAS_HOST);

    ck_assert_int_eq(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                         "Content-Length: 10\r\nTE: trailers\r\n\r\n",
                         &r),
                     H1_PARSE_OK);
    ck_assert_uint_eq(r.flags, H1_F_EXPECT_CONTINUE | H1_F_HAS_TE_TRAILERS | H1_F_HAS_HOST);

    /* HTTP/1.0 ignores expectations, even unknown ones. */
    ck_assert_int_eq(req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert(!(r.flags & H1_F_EXPECT_CONTINUE));

    /* "close" in a longer token is not close. */
    ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &r),
                     H1_PARSE_OK);
    ck_assert(!(r.flags & H1_F_CONN_CLOSE));
}
END_TEST

START_TEST(test_request_values)
{
    struct h1_request r;
    const char s[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad:  \t a b \t \r\n"
                     "X-Obs: caf\xc3\xa9\r\nX-Q: \"a\tb\"\r\n\r\n";
    ck_assert_int_eq(req(s, &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.head_len, sizeof(s) - 1);
    ck_assert(str_is(r.method, "GET"));
    ck_assert_uint_eq(r.num_headers, 5);
    ck_assert_uint_eq(r.headers[1].value.len, 0);
    ck_assert(str_is(r.headers[2].value, "a b"));
    ck_assert(str_is(r.headers[3].value, "caf\xc3\xa9"));
    ck_assert(str_is(r.headers[4].value, "\"a\tb\""));
}
END_TEST

/* Every proper prefix of a valid head is INCOMPLETE, never an error. */
START_TEST(test_request_incremental)
{
    static const char *const heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ("\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nContent-Length: 12\r\n"
         "Expect: 100-continue\r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n"),
        "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n",
        "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        "OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        size_t n = strlen(heads[i]);
        struct h1_request r;
        for (size_t k = 0; k < n; k++) {
            enum h1_parse_result res = req_n(heads[i], k, proxy_limits(), &r);
            ck_assert_msg(res == H1_PARSE_INCOMPLETE, "head %zu prefix %zu: %d (%s)", i, k, res,
                          r.error_reason ? r.error_reason : "");
        }
        ck_assert_int_eq(req_n(heads[i], n, proxy_limits(), &r), H1_PARSE_OK);
        ck_assert_uint_eq(r.head_len, n);
    }
}
END_TEST

START_TEST(test_hop_by_hop_and_token)
{
    static const char *const hop[] = {
        "Connection", "keep-alive",         "PROXY-CONNECTION",    "te",     "Transfer-Encoding",
        "upgrade",    "Proxy-Authenticate", "proxy-authorization", "Trailer"};
    static const char *const e2e[] = {"Host", "Content-Length", "Trailers", "TEx", "X-Upgrade",
                                      "",     "Authorization",  "Cookie"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        ck_assert_msg(cg_http_field_hop_by_hop(cg_str_from_cstr(hop[i])), "%s", hop[i]);
    }
    for (size_t i = 0; i < sizeof(e2e) / sizeof(e2e[0]); i++) {
        ck_assert_msg(!cg_http_field_hop_by_hop(cg_str_from_cstr(e2e[i])), "%s", e2e[i]);
    }
    const char *tchar = "!#$%&'*+-.^_`|~09azAZ";
    for (const char *p = tchar; *p; p++) {
        ck_assert_msg(h1_is_token_char((unsigned char)*p), "%c", *p);
    }
    const char *sep = "\"(),/:;<=>?@[\\]{} \t\r\n";
    for (const char *p = sep; *p; p++) {
        ck_assert_msg(!h1_is_token_char((unsigned char)*p), "%c", *p);
    }
    ck_assert(!h1_is_token_char(0));
    ck_assert(!h1_is_token_char(0x7f));
    ck_assert(!h1_is_token_char(0x80));
    ck_assert(!h1_is_token_char(0xff));
}
END_TEST

static struct h1_header hdr(const char *name, const char *value)
{
    return (struct h1_header){cg_str_from_cstr(name), cg_str_from_cstr(value), false};
}

START_TEST(test_mark_hop_by_hop)
{
    /* Fixed hop-by-hop fields, and the ones Connection names (any case, any of several
     * Connection fields, empty list elements skipped). */
    struct h1_header h[] = {
        hdr("Host", "db"),           hdr("Connection", "close, X-Secret ,,"),
        hdr("x-secret", "1"),        hdr("Keep-Alive", "timeout=5"),
        hdr("X-Kept", "2"),          hdr("connection", "x-other"),
        hdr("X-OTHER", "3"),         hdr("Transfer-Encoding", "chunked"),
        hdr("Content-Length", "10"),
    };
    size_t n = sizeof(h) / sizeof(h[0]);
    for (size_t i = 0; i < n; i++) {
        h[i].hop_by_hop = i % 2 == 0; /* stale values are overwritten */
    }
    h1_mark_hop_by_hop(h, n);
    const bool want[] = {false, true, true, true, false, true, true, true, false};
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(h[i].hop_by_hop == want[i], "%.*s", (int)h[i].name.len, h[i].name.p);
    }
    /* Without a Connection field only the fixed names count. */
    struct h1_header plain[] = {hdr("Host", "db"), hdr("TE", "trailers"), hdr("close", "x")};
    h1_mark_hop_by_hop(plain, 3);
    ck_assert(!plain[0].hop_by_hop);
    ck_assert(plain[1].hop_by_hop);
    ck_assert(!plain[2].hop_by_hop);
}
END_TEST

/* ---- responses -------------------------------------------------------------------- */

struct resp_case {
    const char *raw;
    const char *method;
    int status;
    enum h1_body_kind body;
    uint64_t content_length;
};

START_TEST(test_response_framing)
{
    static const struct resp_case cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 200, H1_BODY_LENGTH, 5},
        {"HTTP/1.1 200 OK\r\n\r\n", "GET", 200, H1_BODY_UNTIL_CLOSE, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", 200, H1_BODY_CHUNKED, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, H1_BODY_NONE, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD", 200, H1_BODY_NONE, 0},
        {"HTTP/1.1 204 No Content\r\n\r\n", "DELETE", 204, H1_BODY_NONE, 0},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", "GET", 204, H1_BODY_NONE, 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", "GET", 304, H1_BODY_NONE, 0},
        {"HTTP/1.1 100 Continue\r\n\r\n", "POST", 100, H1_BODY_NONE, 0},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
         "GET", 101, H1_BODY_NONE, 0},
        {"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", "GET", 103, H1_BODY_NONE, 0},
        {"HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", 200, H1_BODY_NONE, 0},
        {"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", "CONNECT", 407, H1_BODY_LENGTH, 2},
        {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", "GET", 404, H1_BODY_LENGTH, 0},
        {"HTTP/1.0 200 OK\r\n\r\n", "GET", 200, H1_BODY_UNTIL_CLOSE, 0},
        {"HTTP/1.1 599 Whatever it is\r\n\r\n", "GET", 599, H1_BODY_UNTIL_CLOSE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct resp_case *t = &cases[i];
        struct h1_response r;
        size_t n = strlen(t->raw);
        ck_assert_msg(resp(t->raw, t->method, &r) == H1_PARSE_OK, "case %zu: %s", i,
                      r.error_reason);
        ck_assert_int_eq(r.status, t->status);
        ck_assert_msg(r.body == t->body, "case %zu: body %d", i, r.body);
        ck_assert_uint_eq(r.content_length, t->content_length);
        ck_assert_uint_eq(r.head_len, n);
        for (size_t k = 0; k < n; k++) {
            ck_assert_int_eq(h1_parse_response(t->raw, k, proxy_limits(),
                                               cg_str_from_cstr(t->method), fields, MAX_FIELDS, &r),
                             H1_PARSE_INCOMPLETE);
        }
    }
}
END_TEST

START_TEST(test_response_fields)
{
    struct h1_response r;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhelloHTTP";
    ck_assert_int_eq(resp(s, "GET", &r), H1_PARSE_OK);
    ck_assert_uint_eq(r.head_len, strlen(s) - 9);
    ck_assert(str_is(r.reason, "OK"));
    ck_assert_int_eq(r.minor_version, 1);
    ck_assert_uint_eq(r.num_headers, 2);
    ck_assert(r.flags & H1_F_CONN_CLOSE);

    ck_assert_int_eq(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", &r), H1_PARSE_OK);
    ck_assert_int_eq(r.minor_version, 0);
    ck_assert(r.flags & H1_F_CONN_CLOSE);
    ck_assert_int_eq(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", "GET", &r),
                     H1_PARSE_OK);
    ck_assert_uint_eq(r.flags, H1_F_CONN_KEEPALIVE);

    ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTrailer: grpc-status\r\n\r\n", "GET", &r),
                     H1_PARSE_OK);
    ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\n", "GET", &r), H1_PARSE_INCOMPLETE);
    ck_assert_uint_eq(r.head_len, 0);
}
END_TEST

START_TEST(test_response_rejections)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5,5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\nX: y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\r",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h1_response r;
        ck_assert_msg(resp(bad[i], "GET", &r) == H1_PARSE_ERROR, "case %zu accepted", i);
        ck_assert_ptr_nonnull(r.error_reason);
    }
    /* Status line longer than max_request_line. */
    struct h1_limits lim = *proxy_limits();
    lim.max_request_line = 16;
    struct h1_response r;
    const char *s = "HTTP/1.1 200 OK but long\r\n\r\n";
    ck_assert_int_eq(
        h1_parse_response(s, strlen(s), &lim, CG_STR_LIT("GET"), fields, MAX_FIELDS, &r),
        H1_PARSE_ERROR);
    s = "HTTP/1.1 200 Abc\r\n\r\n";
    ck_assert_int_eq(
        h1_parse_response(s, strlen(s), &lim, CG_STR_LIT("GET"), fields, MAX_FIELDS, &r),
        H1_PARSE_OK);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("http1_parse");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, test_request_rejections);
    tcase_add_test(tc, test_request_early_errors);
    tcase_add_test(tc, test_limit_request_line);
    tcase_add_test(tc, test_limit_head);
    tcase_add_test(tc, test_limit_fields);
    tcase_add_test(tc, test_limit_fields_default);
    tcase_add_test(tc, test_request_simple_pipelined);
    tcase_add_test(tc, test_request_bodies);
    tcase_add_test(tc, test_request_target_forms);
    tcase_add_test(tc, test_request_hosts);
    tcase_add_test(tc, test_request_flags);
    tcase_add_test(tc, test_request_values);
    tcase_add_test(tc, test_request_incremental);
    tcase_add_test(tc, test_hop_by_hop_and_token);
    tcase_add_test(tc, test_mark_hop_by_hop);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_test(tc, test_response_framing);
    tcase_add_test(tc, test_response_fields);
    tcase_add_test(tc, test_response_rejections);
    suite_add_tcase(s, tc);
    return s;
}
