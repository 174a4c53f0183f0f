/* FUZZ_MODULE: policy */
/* FUZZ_DICT: path_normalize.dict */
/* libFuzzer target for policy/path_normalize.c. For every accepted input it checks:
 * - the output starts with '/', is no longer than the input path and is NUL-terminated;
 * - it has no empty segment ("//"), no "." or ".." segment, no escaped '/', '\' or NUL
 *   (any case), no lower-case escape, no escaped unreserved character, no raw '\',
 *   control character, space or byte >= 0x80, and every '%' starts a valid escape;
 * - the query is the input after the first '?', unchanged;
 * - normalization is idempotent: normalize(normalize(x)) == normalize(x), also with the
 *   query appended, which is what the proxy forwards.
 * policy_pct_decode runs on the input too (no crash, output bounded). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/path_normalize.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1; /* lower case is a failure here: the output must be upper case */
}

static int unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void check_path(const char *p, size_t len)
{
    CHECK(len >= 1 && p[0] == '/');
    CHECK(p[len] == '\0');
    CHECK(memmem(p, len, "//", 2) == NULL);
    CHECK(memmem(p, len, "/./", 3) == NULL);
    CHECK(memmem(p, len, "/../", 4) == NULL);
    CHECK(!(len >= 2 && memcmp(p + len - 2, "/.", 2) == 0));
    CHECK(!(len >= 3 && memcmp(p + len - 3, "/..", 3) == 0));
    CHECK(memmem(p, len, "%2F", 3) == NULL && memmem(p, len, "%2f", 3) == NULL);
    CHECK(memmem(p, len, "%5C", 3) == NULL && memmem(p, len, "%00", 3) == NULL);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '?' && c != '#');
        if (c == '%') {
            CHECK(i + 2 < len);
            int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
            CHECK(hi >= 0 && lo >= 0);
            CHECK(!unreserved(hi * 16 + lo));
            i += 2;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *out = malloc(size + 1);
    struct policy_path res;
    int rc = policy_path_normalize(in, size, out, size + 1, &res);
    if (rc == 0) {
        const char *q = memchr(in, '?', size);
        size_t in_path_len = q ? (size_t)(q - in) : size;
        CHECK(res.path_len <= in_path_len);
        check_path(out, res.path_len);
        CHECK(res.has_query == (q != NULL));
        if (q != NULL) {
            CHECK(res.query.p == q + 1 && res.query.len == size - in_path_len - 1);
        }

        /* Idempotence on what the proxy forwards: path [+ '?' + query]. */
        size_t fwd_len = res.path_len + (res.has_query ? 1 + res.query.len : 0);
        char *fwd = malloc(fwd_len + 1);
        memcpy(fwd, out, res.path_len);
        if (res.has_query) {
            fwd[res.path_len] = '?';
            memcpy(fwd + res.path_len + 1, res.query.p, res.query.len);
        }
        char *again = malloc(fwd_len + 1);
        struct policy_path res2;
        CHECK(policy_path_normalize(fwd, fwd_len, again, fwd_len + 1, &res2) == 0);
        CHECK(res2.path_len == res.path_len && memcmp(again, out, res.path_len) == 0);
        CHECK(res2.has_query == res.has_query && res2.query.len == res.query.len);
        if (res.has_query) {
            CHECK(memcmp(res2.query.p, res.query.p, res.query.len) == 0);
        }
        free(again);
        free(fwd);
    } else {
        CHECK(rc == -1 /* CG_ERR_INVALID */);
    }
    free(out);

    char dec[64];
    size_t dec_len;
    struct cg_str s = {in, size};
    if (policy_pct_decode(s, size & 1, dec, sizeof(dec), &dec_len) == 0) {
        CHECK(dec_len < sizeof(dec) && dec[dec_len] == '\0' && dec_len <= size);
    }
    return 0;
}
