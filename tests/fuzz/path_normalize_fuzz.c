/* FUZZ_MODULE: policy */
/* FUZZ_DICT: path_normalize.dict */
/* libFuzzer target for policy/path_normalize.c. Every input is normalized with each of
 * the four option sets (';' and "%25" refused or allowed). For every accepted input:
 * - the output starts with '/', is no longer than the input path and is NUL-terminated;
 * - it has no empty segment ("//"), no segment ending in '.' or an escaped space (so no
 *   "." or ".." segment), no escaped '/', '\', NUL or control character (any case), no
 *   lower-case escape, no escaped unreserved character, no raw '\', control character,
 *   space or byte >= 0x80, and every '%' starts a valid escape; a ';' and "%25" only
 *   when their option allows them, and then the part of a segment before its first ';'
 *   is a non-empty name that does not end in '.' or a space either;
 * - the query is the input after the first '?', unchanged;
 * - normalization is idempotent: normalize(normalize(x)) == normalize(x), also with the
 *   query appended, which is what the proxy forwards; normalizing in place gives the
 *   same output;
 * - options only relax: what the strict normalizer accepts, every option set accepts,
 *   with the same output;
 * - policy_path_view of an output (each reading: parameters stripped, decoded twice,
 *   both) is refused or a path that normalizes to itself, is no longer than the
 *   output, holds no ';' when parameters were stripped, and equals the output when
 *   there was nothing to read differently.
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

/* check_name: a segment, or its part before ';', must not be read as another name. */
static void check_name(const char *p, size_t len)
{
    CHECK(len > 0);
    CHECK(p[len - 1] != '.');
    CHECK(!(len >= 3 && memcmp(p + len - 3, "%20", 3) == 0));
}

static void check_path(const char *p, size_t len, const struct policy_path_opts *opts)
{
    CHECK(len >= 1 && p[0] == '/');
    CHECK(p[len] == '\0');
    CHECK(memmem(p, len, "//", 2) == NULL);
    CHECK(opts->allow_semicolons || memchr(p, ';', len) == NULL);
    CHECK(opts->allow_encoded_percent || memmem(p, len, "%25", 3) == NULL);
    size_t seg = 1; /* start of the current segment */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/') {
            continue;
        }
        /* p[seg, i) is one segment; only the last one may be empty ("/a/"). */
        if (i > seg || i < len) {
            check_name(p + seg, i - seg);
            const char *semi = memchr(p + seg, ';', i - seg);
            if (semi != NULL) {
                check_name(p + seg, (size_t)(semi - (p + seg)));
            }
        }
        seg = i + 1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '?' && c != '#');
        if (c == '%') {
            CHECK(i + 2 < len);
            int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
            CHECK(hi >= 0 && lo >= 0);
            int v = hi * 16 + lo;
            CHECK(!unreserved(v));
            CHECK(v >= 0x20 && v != 0x7f && v != '/' && v != '\\');
            i += 2;
        }
    }
}

static void check_views(const char *path, size_t len)
{
    char *view = malloc(len + 1);
    char *again = malloc(len + 1);
    bool has_params = memchr(path, ';', len) != NULL;
    bool has_pct = memmem(path, len, "%25", 3) != NULL;
    for (unsigned how = 1; how <= 3; how++) {
        size_t view_len = 0;
        int rc = policy_path_view(path, len, how, view, len + 1, &view_len);
        if (rc != 0) {
            CHECK(rc == -1 /* CG_ERR_INVALID */);
            continue;
        }
        bool strip = how & POLICY_PATH_VIEW_STRIP_PARAMS;
        bool twice = how & POLICY_PATH_VIEW_DECODE_TWICE;
        struct policy_path_opts opts = {.allow_semicolons = !strip, .allow_encoded_percent = true};
        CHECK(view_len <= len);
        check_path(view, view_len, &opts);
        CHECK(!strip || memchr(view, ';', view_len) == NULL);
        struct policy_path res;
        CHECK(policy_path_normalize(view, view_len, &opts, again, len + 1, &res) == 0);
        CHECK(res.path_len == view_len && memcmp(again, view, view_len) == 0);
        if (!(strip && has_params) && !(twice && has_pct)) {
            CHECK(view_len == len && memcmp(view, path, len) == 0);
        }
    }
    free(again);
    free(view);
}

static const struct policy_path_opts all_opts[4] = {
    {.allow_semicolons = false, .allow_encoded_percent = false},
    {.allow_semicolons = true, .allow_encoded_percent = false},
    {.allow_semicolons = false, .allow_encoded_percent = true},
    {.allow_semicolons = true, .allow_encoded_percent = true},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *strict_out = malloc(size + 1);
    struct policy_path strict_res;
    bool strict_ok = policy_path_normalize(in, size, NULL, strict_out, size + 1, &strict_res) == 0;
    for (size_t k = 0; k < 4; k++) {
        const struct policy_path_opts *opts = &all_opts[k];
        char *out = malloc(size + 1);
        struct policy_path res;
        int rc = policy_path_normalize(in, size, opts, out, size + 1, &res);
        if (rc != 0) {
            CHECK(rc == -1 /* CG_ERR_INVALID */);
            CHECK(!strict_ok);
            free(out);
            continue;
        }
        const char *q = memchr(in, '?', size);
        size_t in_path_len = q ? (size_t)(q - in) : size;
        CHECK(res.path_len <= in_path_len);
        check_path(out, res.path_len, opts);
        CHECK(res.has_query == (q != NULL));
        if (q != NULL) {
            CHECK(res.query.p == q + 1 && res.query.len == size - in_path_len - 1);
        }
        if (strict_ok) {
            CHECK(res.path_len == strict_res.path_len &&
                  memcmp(out, strict_out, res.path_len) == 0);
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
        CHECK(policy_path_normalize(fwd, fwd_len, opts, again, fwd_len + 1, &res2) == 0);
        CHECK(res2.path_len == res.path_len && memcmp(again, out, res.path_len) == 0);
        CHECK(res2.has_query == res.has_query && res2.query.len == res.query.len);
        if (res.has_query) {
            CHECK(memcmp(res2.query.p, res.query.p, res.query.len) == 0);
        }
        free(again);
        free(fwd);

        /* In place. */
        char *inplace = malloc(size + 1);
        memcpy(inplace, in, size);
        CHECK(policy_path_normalize(inplace, size, opts, inplace, size + 1, &res2) == 0);
        CHECK(res2.path_len == res.path_len && memcmp(inplace, out, res.path_len + 1) == 0);
        free(inplace);

        if (k == 3) {
            check_views(out, res.path_len);
        }
        free(out);
    }
    free(strict_out);

    char dec[64];
    size_t dec_len;
    struct cg_str s = {in, size};
    if (policy_pct_decode(s, size & 1, dec, sizeof(dec), &dec_len) == 0) {
        CHECK(dec_len < sizeof(dec) && dec[dec_len] == '\0' && dec_len <= size);
    }
    return 0;
}
