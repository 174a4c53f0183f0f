/* FUZZ_MODULE: common */
/* libFuzzer target for common/json_line.c: whatever the bytes, in a buffer of any size,
 * the writer produces exactly one JSON object on one line that jansson parses, within
 * the buffer; the value decodes to the input when the input is valid UTF-8 (and has no
 * NUL), and a value cut for room is a prefix of the whole one. The first input byte
 * picks the buffer size. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_line.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* write_line writes {"v": value, "n": 7} into a |cap|-byte buffer and returns the
 * parsed object. */
static json_t *write_line(const char *value, size_t len, size_t cap)
{
    char *buf = malloc(cap + 1);
    buf[cap] = 'X';
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, cap);
    cg_json_line_strn(&l, "v", value, len);
    cg_json_line_u64(&l, "n", 7);
    size_t n = cg_json_line_end(&l);
    CHECK(n < cap && buf[n] == '\0' && buf[cap] == 'X');
    CHECK(memchr(buf, '\n', n) == NULL && memchr(buf, '\r', n) == NULL);
    json_error_t e;
    json_t *doc = json_loadb(buf, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    CHECK(doc != NULL && json_is_object(doc));
    json_t *t = json_object_get(doc, "truncated");
    CHECK(t == NULL || json_is_true(t));
    CHECK(json_object_size(doc) <= 3);
    free(buf);
    return doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t cap = CG_JSON_LINE_MIN + (size_t)data[0] * 8;
    const char *value = (const char *)data + 1;
    size_t len = size - 1;
    /* Room enough for every byte escaped as \ufffd, plus the members and the ending. */
    json_t *full = write_line(value, len, 6 * len + 64);
    json_t *whole = json_object_get(full, "v");
    CHECK(json_is_string(whole) && json_object_get(full, "truncated") == NULL);
    json_t *as_given = json_stringn(value, len); /* NULL when not valid UTF-8 */
    if (as_given != NULL && memchr(value, '\0', len) == NULL) {
        CHECK(json_equal(whole, as_given));
    }
    json_decref(as_given);
    json_t *cut = write_line(value, len, cap);
    json_t *v = json_object_get(cut, "v");
    if (v != NULL) {
        CHECK(json_string_length(v) <= json_string_length(whole));
        CHECK(memcmp(json_string_value(v), json_string_value(whole), json_string_length(v)) == 0);
    }
    json_decref(cut);
    json_decref(full);
    return 0;
}
