/* Tests of proxy/http1/head_writer.c: pieces land in one contiguous reservation, and writing
 * past the bound the caller computed aborts instead of overflowing. */
#include "proxy/http1/head_writer.h"

#include "check_main.h"
#include <signal.h>
#include <string.h>

START_TEST(test_head)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, "before|", 7);
    struct head_writer w;
    hw_begin(&w, buf, 256);
    HW_LIT(&w, "GET / HTTP/1.1\r\n");
    hw_header(&w, CG_STR_LIT("Host"), CG_STR_LIT("db"));
    HW_LIT(&w, "Content-Length: ");
    hw_u64(&w, 18446744073709551615u);
    HW_LIT(&w, "\r\nX-Hex: ");
    hw_hex(&w, 0xbeef);
    hw_put(&w, NULL, 0); /* empty pieces are fine */
    HW_LIT(&w, "\r\n\r\n");
    hw_end(&w);
    const char *want = "before|GET / HTTP/1.1\r\nHost: db\r\nContent-Length: "
                       "18446744073709551615\r\nX-Hex: beef\r\n\r\n";
    size_t len = evbuffer_get_length(buf);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(evbuffer_pullup(buf, -1), want, len) == 0);
    evbuffer_free(buf);
}
END_TEST

START_TEST(test_bound_is_enforced)
{
    struct evbuffer *buf = evbuffer_new();
    struct head_writer w;
    hw_begin(&w, buf, 8);
    /* The reservation may be larger than asked for: fill all of it, then one more. */
    while (w.p < w.end) {
        HW_LIT(&w, "x");
    }
    HW_LIT(&w, "x"); /* aborts */
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("head_writer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_head);
    tcase_add_test_raise_signal(tc, test_bound_is_enforced, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}
