/* Tests for proxy/http2/h2_to_h1_head.c: the HTTP/1.1 head written for an HTTP/2 request has
 * the request line, Host, the fields in order without pseudo-headers or anything a
 * proxy must re-derive or drop (Host, Content-Length, TE, Expect, connection-specific
 * fields), cookies joined, and exactly the framing certgate chose. */
#include "check_main.h"
#include <string.h>

#include "proxy/http2/h2_to_h1_head.h"

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE         \
    }

/* write returns the head as a NUL-terminated string (static buffer). */
static const char *write(const struct h2_h1_head *head, bool *chunked)
{
    static char out[4096];
    struct evbuffer *buf = evbuffer_new();
    *chunked = h2_h1_head_write(buf, head);
    size_t len = evbuffer_get_length(buf);
    ck_assert_uint_lt(len, sizeof(out));
    evbuffer_remove(buf, out, len);
    out[len] = '\0';
    evbuffer_free(buf);
    return out;
}

START_TEST(test_fields_and_cookies)
{
    nghttp2_nv f[] = {
        NV(":method", "GET"),
        NV(":path", "/x"),
        NV("accept", "*/*"),
        NV("cookie", "a=1"),
        NV("host", "evil.example"),
        NV("te", "trailers"),
        NV("x-one", "1"),
        NV("cookie", "b=2"),
        NV("content-length", "9"),
        NV("connection", "close"),
        NV("transfer-encoding", "chunked"),
        NV("keep-alive", "1"),
        NV("upgrade", "h2c"),
        NV("proxy-connection", "x"),
        NV("http2-settings", "x"),
        NV("cookie", "c=3"),
        NV("x-two", ""),
        NV("expect", "100-continue"),
    };
    struct h2_h1_head head = {
        .method = CG_STR_LIT("GET"),
        .target = CG_STR_LIT("/db/x?q=1"),
        .host = CG_STR_LIT("db.example:8443"),
        .fields = f,
        .num_fields = sizeof(f) / sizeof(f[0]),
        .content_length = -1,
    };
    bool chunked;
    ck_assert_str_eq(write(&head, &chunked), "GET /db/x?q=1 HTTP/1.1\r\n"
                                             "Host: db.example:8443\r\n"
                                             "accept: */*\r\n"
                                             "cookie: a=1; b=2; c=3\r\n"
                                             "x-one: 1\r\n"
                                             "x-two: \r\n"
                                             "\r\n");
    ck_assert(!chunked);
}
END_TEST

START_TEST(test_framing)
{
    nghttp2_nv f[] = {NV("content-length", "99")};
    struct h2_h1_head head = {
        .method = CG_STR_LIT("POST"),
        .target = CG_STR_LIT("/up"),
        .host = CG_STR_LIT("10.0.0.1:8080"),
        .fields = f,
        .num_fields = 1,
        .content_length = 5,
        .body_follows = true,
    };
    bool chunked;
    /* The client's length (checked by nghttp2 against DATA), not the field's text. */
    ck_assert_str_eq(write(&head, &chunked),
                     "POST /up HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nContent-Length: 5\r\n\r\n");
    ck_assert(!chunked);
    head.content_length = -1;
    ck_assert_str_eq(write(&head, &chunked), "POST /up HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n");
    ck_assert(chunked);
    head.body_follows = false;
    ck_assert_str_eq(write(&head, &chunked), "POST /up HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\r\n");
    ck_assert(!chunked);
    head.content_length = 0;
    ck_assert_str_eq(write(&head, &chunked),
                     "POST /up HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nContent-Length: 0\r\n\r\n");
    head.content_length = INT64_MAX;
    ck_assert_str_eq(write(&head, &chunked), "POST /up HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"
                                             "Content-Length: 9223372036854775807\r\n\r\n");
}
END_TEST

START_TEST(test_appends)
{
    /* The head is appended after what the buffer holds (a retry writes it again on
     * a fresh connection's buffer; nothing else may be disturbed). */
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, "prefix|", 7);
    struct h2_h1_head head = {.method = CG_STR_LIT("OPTIONS"),
                              .target = CG_STR_LIT("*"),
                              .host = CG_STR_LIT("db"),
                              .content_length = -1};
    ck_assert(!h2_h1_head_write(buf, &head));
    const char *want = "prefix|OPTIONS * HTTP/1.1\r\nHost: db\r\n\r\n";
    ck_assert_uint_eq(evbuffer_get_length(buf), strlen(want));
    ck_assert(memcmp(evbuffer_pullup(buf, -1), want, strlen(want)) == 0);
    evbuffer_free(buf);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("http2_h1_head");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fields_and_cookies);
    tcase_add_test(tc, test_framing);
    tcase_add_test(tc, test_appends);
    suite_add_tcase(s, tc);
    return s;
}
