/* Unit tests of proxy/http1/h1_chunked.c: the chunked decoder fed whole, split at every
 * byte and byte by byte, its results and its limits. */
#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "proxy/http1/h1_parse.h"

#define R(s) s, sizeof(s) - 1

struct chunk_outcome {
    enum h1_chunked_result result; /* DONE, ERROR or INCOMPLETE (input exhausted) */
    size_t consumed;               /* bytes consumed up to and including DONE */
    char data[32768];
    size_t data_len;
};

/* decode feeds |len| bytes in pieces: cut at |split| (if 0 < split < len), or one byte
 * at a time when |bytewise|. */
static void decode(const char *in, size_t len, size_t split, bool bytewise, struct chunk_outcome *o)
{
    struct h1_chunked c = {0};
    size_t pos = 0;

    o->result = H1_CHUNKED_INCOMPLETE;
    o->consumed = 0;
    o->data_len = 0;
    while (pos < len) {
        size_t end = len;
        if (bytewise) {
            end = pos + 1;
        } else if (split > 0 && split < len && pos < split) {
            end = split;
        }
        while (pos < end) {
            size_t n = 12345;
            enum h1_chunked_result r = h1_chunked_step(&c, in + pos, end - pos, &n);
            ck_assert_uint_le(n, end - pos);
            if (r == H1_CHUNKED_ERROR) {
                o->result = r;
                return;
            }
            if (r == H1_CHUNKED_DATA) {
                ck_assert_uint_le(o->data_len + n, sizeof(o->data));
                memcpy(o->data + o->data_len, in + pos, n);
                o->data_len += n;
            } else if (r == H1_CHUNKED_INCOMPLETE) {
                ck_assert_uint_eq(n, end - pos);
            }
            if (r != H1_CHUNKED_DATA) {
                ck_assert_msg(r != H1_CHUNKED_FRAMING || n > 0, "empty framing");
            }
            pos += n;
            if (r == H1_CHUNKED_DONE) {
                o->result = r;
                o->consumed = pos;
                /* Sticky. */
                if (pos < len) {
                    ck_assert_int_eq(h1_chunked_step(&c, in + pos, len - pos, &n), H1_CHUNKED_DONE);
                    ck_assert_uint_eq(n, 0);
                }
                return;
            }
        }
    }
}

/* check_chunked decodes |in| whole, split at every position and byte by byte, and
 * checks that all agree with the expected outcome. */
static void check_chunked(const char *name, const char *in, size_t len, enum h1_chunked_result want,
                          const char *want_data, size_t consumed)
{
    static struct chunk_outcome o;
    for (size_t split = 0; split <= len; split++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            if (bytewise && split > 0) {
                break;
            }
            decode(in, len, split, bytewise != 0, &o);
            ck_assert_msg(o.result == want, "%s split %zu bytewise %d: result %d", name, split,
                          bytewise, o.result);
            if (want == H1_CHUNKED_DONE) {
                ck_assert_msg(o.consumed == consumed, "%s split %zu: consumed %zu want %zu", name,
                              split, o.consumed, consumed);
                ck_assert_msg(o.data_len == strlen(want_data) &&
                                  memcmp(o.data, want_data, o.data_len) == 0,
                              "%s split %zu: data differs", name, split);
            }
        }
    }
}

struct chunk_case {
    const char *name;
    const char *in;
    size_t len;
    enum h1_chunked_result want;
    const char *data;
    size_t trailing; /* bytes after DONE that belong to the next message */
};

#define CH_OK(name, in, data, trailing)                                                            \
    {                                                                                              \
        name, R(in), H1_CHUNKED_DONE, data, trailing                                               \
    }
#define CH_BAD(name, in)                                                                           \
    {                                                                                              \
        name, R(in), H1_CHUNKED_ERROR, "", 0                                                       \
    }
#define CH_MORE(name, in)                                                                          \
    {                                                                                              \
        name, R(in), H1_CHUNKED_INCOMPLETE, "", 0                                                  \
    }

static const struct chunk_case chunk_cases[] = {
    CH_OK("simple", "5\r\nhello\r\n0\r\n\r\n", "hello", 0),
    CH_OK("empty body", "0\r\n\r\n", "", 0),
    CH_OK("pipelined", "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hello", 16),
    CH_OK("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0),
    CH_OK("upper hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", "0123456789abcdefghijk",
          0),
    CH_OK("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0),
    CH_OK("16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello", 0),
    CH_OK("extensions",
          "5;a=b;c\r\nhello\r\n6 ; x = \"q\\\"; \\\\\" ;y=z\r\n world\r\n"
          "0;last\r\n\r\n",
          "hello world", 0),
    CH_OK("quoted ext with obs-text", "1;n=\"\xe9\"\r\nx\r\n0\r\n\r\n", "x", 0),
    CH_OK("trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nGrpc-Status: 0\r\nEmpty:\r\n\r\nNEXT",
          "hello", 4),
    CH_OK("data with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0),

    CH_BAD("bare LF after size", "5\nhello\r\n0\r\n\r\n"),
    CH_BAD("bare CR after size", "5\rhello\r\n0\r\n\r\n"),
    CH_BAD("missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"),
    CH_BAD("bare LF after data", "5\r\nhello\n0\r\n\r\n"),
    CH_BAD("CR without LF after data", "5\r\nhello\r0\r\n\r\n"),
    CH_BAD("data longer than size", "3\r\nhello\r\n0\r\n\r\n"),
    CH_BAD("empty size", "\r\nhello\r\n"),
    CH_BAD("not hex", "x\r\n"),
    CH_BAD("sign", "+5\r\nhello\r\n"),
    CH_BAD("minus", "-5\r\nhello\r\n"),
    CH_BAD("0x prefix", "0x5\r\nhello\r\n"),
    CH_BAD("space before size", " 5\r\nhello\r\n"),
    CH_BAD("space after size", "5 \r\nhello\r\n"),
    CH_BAD("17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"),
    CH_BAD("above 2^62", "4000000000000001\r\n"),
    CH_BAD("2^64 overflow", "10000000000000000\r\n"),
    CH_BAD("max u64", "ffffffffffffffff\r\n"),
    CH_BAD("empty ext name", "5;\r\nhello\r\n"),
    CH_BAD("ext name bad char", "5;a@b\r\nhello\r\n"),
    CH_BAD("ext missing value", "5;a=\r\nhello\r\n"),
    CH_BAD("ext two names", "5;a b\r\nhello\r\n"),
    CH_BAD("ext unterminated quote", "5;a=\"x\r\nhello\r\n"),
    CH_BAD("ext CTL in quote", "5;a=\"\x01\"\r\nhello\r\n"),
    CH_BAD("ext bare LF", "5;a=b\nhello\r\n"),
    CH_BAD("ext junk after quote", "5;a=\"x\"y\r\nhello\r\n"),
    CH_BAD("ext space before CR", "5;a \r\nhello\r\n"),
    CH_BAD("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"),
    CH_BAD("trailer space before colon", "0\r\nX : a\r\n\r\n"),
    CH_BAD("trailer no colon", "0\r\nXa\r\n\r\n"),
    CH_BAD("trailer empty name", "0\r\n: a\r\n\r\n"),
    CH_BAD("trailer CTL", "0\r\nX: \x01\r\n\r\n"),
    CH_BAD("trailer bare LF", "0\r\nX: a\n\r\n"),
    CH_BAD("final bare LF", "0\r\n\n"),
    CH_BAD("final CR junk", "0\r\n\rX"),

    CH_MORE("incomplete data", "5\r\nhel"),
    CH_MORE("incomplete trailer", "0\r\nX: a\r\n"),
    CH_MORE("2^62 accepted", "4000000000000000\r\nabc"),
};

START_TEST(test_chunked_cases)
{
    for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
        const struct chunk_case *t = &chunk_cases[i];
        check_chunked(t->name, t->in, t->len, t->want, t->data, t->len - t->trailing);
    }
}
END_TEST

START_TEST(test_chunked_results)
{
    struct h1_chunked c = {0};
    size_t n;
    const char *s = "5;x=y\r\nhello\r\n0\r\n\r\n";

    ck_assert_int_eq(h1_chunked_step(&c, s, strlen(s), &n), H1_CHUNKED_FRAMING);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(h1_chunked_step(&c, s + 7, 3, &n), H1_CHUNKED_DATA);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(c.remaining, 2);
    ck_assert_int_eq(h1_chunked_step(&c, s + 10, strlen(s) - 10, &n), H1_CHUNKED_DATA);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(h1_chunked_step(&c, s + 12, 3, &n), H1_CHUNKED_INCOMPLETE);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(h1_chunked_step(&c, s + 15, strlen(s) - 15, &n), H1_CHUNKED_DONE);
    ck_assert_uint_eq(n, strlen(s) - 15);

    struct h1_chunked e = {0};
    ck_assert_int_eq(h1_chunked_step(&e, "z", 1, &n), H1_CHUNKED_ERROR);
    ck_assert_int_eq(h1_chunked_step(&e, "5\r\n", 3, &n), H1_CHUNKED_ERROR);
}
END_TEST

START_TEST(test_chunked_limits)
{
    static char buf[40000];
    struct chunk_outcome *o = malloc(sizeof(*o));
    ck_assert_ptr_nonnull(o);

    /* A size line of 4 KiB (CRLF excluded) with extensions passes, a longer one does not. */
    size_t n = 0;
    buf[n++] = '1';
    buf[n++] = ';';
    buf[n++] = 'e';
    buf[n++] = '=';
    while (n < 4096) {
        buf[n++] = 'v';
    }
    memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
    decode(buf, n + 10, 0, false, o);
    ck_assert_int_eq(o->result, H1_CHUNKED_DONE);
    buf[n++] = 'v';
    memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
    decode(buf, n + 10, 0, false, o);
    ck_assert_int_eq(o->result, H1_CHUNKED_ERROR);

    /* Trailers up to 16 KiB (final CRLF included) pass, one byte more fails. */
    for (size_t extra = 0; extra < 2; extra++) {
        memcpy(buf, "0\r\n", 3);
        n = 3;
        size_t left = 16384 - 2 + extra; /* trailer field lines */
        while (left > 0) {
            size_t line = left > 1000 ? 1000 : left;
            if (left - line < 4 && left - line > 0) {
                line -= 4;
            }
            buf[n++] = 'X';
            buf[n++] = ':';
            memset(buf + n, 'v', line - 4);
            n += line - 4;
            buf[n++] = '\r';
            buf[n++] = '\n';
            left -= line;
        }
        memcpy(buf + n, "\r\n", 2);
        ck_assert_uint_eq(n + 2 - 3, 16384 + extra);
        decode(buf, n + 2, 0, false, o);
        ck_assert_int_eq(o->result, extra == 0 ? H1_CHUNKED_DONE : H1_CHUNKED_ERROR);
    }
    free(o);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("h1_chunked");
    TCase *tc = tcase_create("chunked");
    tcase_add_test(tc, test_chunked_cases);
    tcase_add_test(tc, test_chunked_results);
    tcase_add_test(tc, test_chunked_limits);
    suite_add_tcase(s, tc);
    return s;
}
