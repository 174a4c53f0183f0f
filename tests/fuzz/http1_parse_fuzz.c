/* FUZZ_MODULE: proxy_http1 */
/* FUZZ_DICT: http1.dict */
/* libFuzzer target for proxy/http1/h1_parse.c and h1_chunked.c: the input is parsed as a
 * request head, as a response head (to GET, HEAD and CONNECT) and as a chunked body, and
 * the parsers' promises are checked:
 * - every slice lies inside the head, head_len <= len and <= max_head, counts within
 *   their limits, error statuses from the documented set;
 * - results are consistent across prefixes: a proper prefix of a complete head is
 *   INCOMPLETE, and an error found in a prefix is the error of the whole input;
 * - the chunked decoder gives the same data, the same end and the same verdict whether
 *   it is fed the input whole, byte by byte, or in pseudo-random pieces. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_field.h"
#include "config/config.h"
#include "config/config_keys.h"
#include "proxy/http1/h1_parse.h"

#define MAX_FIELDS 64

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* proxy_limits returns what the HTTP/1.1 server passes with a default configuration. */
static struct h1_limits proxy_limits(void)
{
    struct config cfg = {0};
    config_keys_set_defaults(CONFIG_SCOPE_ROOT, &cfg);
    return (struct h1_limits){.max_request_line = cfg.limits.max_request_line,
                              .max_head = cfg.limits.max_header_bytes,
                              .max_headers = cfg.limits.max_headers};
}

static const struct h1_limits small_limits = {
    .max_request_line = 64,
    .max_head = 256,
    .max_headers = 8,
};

static void check_slice(struct cg_str s, const char *buf, size_t head_len)
{
    if (s.len == 0) {
        return;
    }
    CHECK(s.p >= buf && s.p <= buf + head_len && s.len <= head_len - (size_t)(s.p - buf));
}

static void check_fields(const struct h1_header *h, size_t n, const char *buf, size_t head_len)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name.len > 0);
        check_slice(h[i].name, buf, head_len);
        check_slice(h[i].value, buf, head_len);
        for (size_t k = 0; k < h[i].name.len; k++) {
            CHECK(h1_is_token_char((unsigned char)h[i].name.p[k]));
        }
        if (h[i].value.len > 0) {
            char first = h[i].value.p[0];
            char last = h[i].value.p[h[i].value.len - 1];
            CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
    }
}

/* Pseudo-random positions derived from the input, so runs are reproducible. */
static uint64_t next_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t seed_of(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < size && i < 64; i++) {
        h = (h ^ data[i]) * 1099511628211u;
    }
    return h | 1;
}

static void fuzz_request(const char *buf, size_t size, const struct h1_limits *limits,
                         size_t max_head, size_t max_fields, uint64_t *rnd)
{
    struct h1_header fields[MAX_FIELDS];
    struct h1_request r;
    enum h1_parse_result res = h1_parse_request(buf, size, limits, fields, MAX_FIELDS, &r);

    if (res == H1_PARSE_OK) {
        CHECK(r.head_len >= 16 && r.head_len <= size && r.head_len <= max_head);
        CHECK(memcmp(buf + r.head_len - 4, "\r\n\r\n", 4) == 0);
        CHECK(r.error_status == 0);
        CHECK(r.headers == fields && r.num_headers <= max_fields);
        CHECK(r.minor_version == 0 || r.minor_version == 1);
        CHECK(r.method.len > 0 && r.target.len > 0);
        check_slice(r.method, buf, r.head_len);
        check_slice(r.target, buf, r.head_len);
        check_slice(r.authority, buf, r.head_len);
        check_slice(r.host, buf, r.head_len);
        if (!(r.path.len == 1 && r.path.p[0] == '/' && r.path.p != r.target.p)) {
            check_slice(r.path, buf, r.head_len);
        }
        check_fields(r.headers, r.num_headers, buf, r.head_len);
        CHECK(r.body == H1_BODY_NONE || r.body == H1_BODY_LENGTH || r.body == H1_BODY_CHUNKED);
        CHECK(r.content_length <= (UINT64_C(1) << 62));
        CHECK(r.body == H1_BODY_LENGTH || r.content_length == 0);
        if (r.minor_version == 1) {
            CHECK(r.flags & H1_F_HAS_HOST);
        } else {
            CHECK(r.body != H1_BODY_CHUNKED);
            CHECK(!(r.flags & H1_F_EXPECT_CONTINUE));
        }
        CHECK(r.path.len > 0 || r.authority.len > 0);
    } else if (res == H1_PARSE_ERROR) {
        CHECK(r.error_status == 400 || r.error_status == 414 || r.error_status == 417 ||
              r.error_status == 431 || r.error_status == 505);
        CHECK(r.error_reason != NULL && r.head_len == 0 && r.num_headers == 0);
    } else {
        CHECK(res == H1_PARSE_INCOMPLETE);
        CHECK(r.error_status == 0 && r.head_len == 0 && r.error_reason == NULL);
        CHECK(size < max_head);
    }

    /* Prefixes agree with the whole. */
    for (int i = 0; i < 6 && size > 0; i++) {
        size_t k = (size_t)(next_rand(rnd) % size);
        if (i == 0 && res == H1_PARSE_OK) {
            k = r.head_len - 1;
        }
        struct h1_header pf[MAX_FIELDS];
        struct h1_request pr;
        enum h1_parse_result pres = h1_parse_request(buf, k, limits, pf, MAX_FIELDS, &pr);
        if (res == H1_PARSE_OK && k < r.head_len) {
            CHECK(pres == H1_PARSE_INCOMPLETE);
        }
        if (pres == H1_PARSE_OK) {
            CHECK(res == H1_PARSE_OK && pr.head_len == r.head_len);
        }
        if (pres == H1_PARSE_ERROR) {
            CHECK(res == H1_PARSE_ERROR && pr.error_status == r.error_status);
        }
    }
}

static void fuzz_response(const char *buf, size_t size, const struct h1_limits *limits,
                          const char *method, size_t max_head, size_t max_fields, uint64_t *rnd)
{
    struct h1_header fields[MAX_FIELDS];
    struct h1_response r;
    struct cg_str m = cg_str_from_cstr(method);
    enum h1_parse_result res = h1_parse_response(buf, size, limits, m, fields, MAX_FIELDS, &r);

    if (res == H1_PARSE_OK) {
        CHECK(r.head_len >= 17 && r.head_len <= size && r.head_len <= max_head);
        CHECK(memcmp(buf + r.head_len - 4, "\r\n\r\n", 4) == 0);
        CHECK(r.status >= 100 && r.status <= 999);
        CHECK(r.headers == fields && r.num_headers <= max_fields);
        check_slice(r.reason, buf, r.head_len);
        check_fields(r.headers, r.num_headers, buf, r.head_len);
        CHECK(r.content_length <= (UINT64_C(1) << 62));
        if (strcmp(method, "HEAD") == 0 || r.status < 200 || r.status == 204 || r.status == 304 ||
            (strcmp(method, "CONNECT") == 0 && r.status < 300)) {
            CHECK(r.body == H1_BODY_NONE);
        } else {
            CHECK(r.body != H1_BODY_NONE);
        }
    } else if (res == H1_PARSE_ERROR) {
        CHECK(r.error_reason != NULL && r.head_len == 0);
    } else {
        CHECK(res == H1_PARSE_INCOMPLETE && r.head_len == 0);
    }

    for (int i = 0; i < 3 && size > 0; i++) {
        size_t k = (size_t)(next_rand(rnd) % size);
        struct h1_header pf[MAX_FIELDS];
        struct h1_response pr;
        enum h1_parse_result pres = h1_parse_response(buf, k, limits, m, pf, MAX_FIELDS, &pr);
        if (res == H1_PARSE_OK && k < r.head_len) {
            CHECK(pres == H1_PARSE_INCOMPLETE);
        }
        if (pres == H1_PARSE_OK) {
            CHECK(res == H1_PARSE_OK && pr.head_len == r.head_len);
        }
        if (pres == H1_PARSE_ERROR) {
            CHECK(res == H1_PARSE_ERROR);
        }
    }
}

struct chunk_run {
    enum h1_chunked_result result; /* DONE, ERROR or INCOMPLETE when the input ran out */
    size_t end;                    /* offset just past the body, when DONE */
    size_t data_len;
    uint64_t data_hash;
};

/* run_chunked feeds |buf| in pieces of at most |piece| bytes (0: pseudo-random sizes). */
static void run_chunked(const char *buf, size_t size, size_t piece, uint64_t *rnd,
                        struct chunk_run *out)
{
    struct h1_chunked c = {0};
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    out->result = H1_CHUNKED_INCOMPLETE;
    out->data_hash = 1469598103934665603u;
    while (pos < size) {
        size_t n = piece != 0 ? piece : 1 + (size_t)(next_rand(rnd) % 16);
        size_t end = n < size - pos ? pos + n : size;
        while (pos < end) {
            size_t used = SIZE_MAX;
            enum h1_chunked_result r = h1_chunked_step(&c, buf + pos, end - pos, &used);
            CHECK(used <= end - pos);
            switch (r) {
            case H1_CHUNKED_DATA:
                for (size_t i = 0; i < used; i++) {
                    out->data_hash =
                        (out->data_hash ^ (unsigned char)buf[pos + i]) * 1099511628211u;
                }
                out->data_len += used;
                break;
            case H1_CHUNKED_FRAMING:
                CHECK(used > 0);
                break;
            case H1_CHUNKED_INCOMPLETE:
                CHECK(used == end - pos);
                break;
            case H1_CHUNKED_DONE:
                CHECK(used > 0);
                out->result = r;
                out->end = pos + used;
                return;
            case H1_CHUNKED_ERROR:
                out->result = r;
                return;
            default:
                CHECK(0);
            }
            pos += used;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so that any read past the end is caught by ASan. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    uint64_t rnd = seed_of(data, size);

    const struct h1_limits dflt = proxy_limits();
    fuzz_request(buf, size, &dflt, dflt.max_head, MAX_FIELDS, &rnd);
    fuzz_request(buf, size, &small_limits, small_limits.max_head, small_limits.max_headers, &rnd);
    fuzz_response(buf, size, &dflt, "GET", dflt.max_head, MAX_FIELDS, &rnd);
    fuzz_response(buf, size, &small_limits, "HEAD", small_limits.max_head, small_limits.max_headers,
                  &rnd);
    fuzz_response(buf, size, &dflt, "CONNECT", dflt.max_head, MAX_FIELDS, &rnd);

    struct chunk_run whole;
    struct chunk_run bytes;
    struct chunk_run pieces;
    run_chunked(buf, size, size ? size : 1, &rnd, &whole);
    run_chunked(buf, size, 1, &rnd, &bytes);
    run_chunked(buf, size, 0, &rnd, &pieces);
    CHECK(whole.result == bytes.result && whole.result == pieces.result);
    CHECK(whole.end == bytes.end && whole.end == pieces.end);
    if (whole.result != H1_CHUNKED_ERROR) {
        CHECK(whole.data_len == bytes.data_len && whole.data_len == pieces.data_len);
        CHECK(whole.data_hash == bytes.data_hash && whole.data_hash == pieces.data_hash);
    }

    struct cg_str name = {buf, size < 32 ? size : 32};
    (void)cg_http_field_hop_by_hop(name);
    free(buf);
    return 0;
}
