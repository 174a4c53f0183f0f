/* FUZZ_MODULE: policy */
/* FUZZ_DICT: query_param.dict */
/* libFuzzer target for policy/query_param.c, the query-string database extraction of
 * "database_from_query". The first byte picks the parameter name (one is written with
 * a dotless i, which folds to "i"), the rest is the query. With a buffer of query
 * length + 1 the answer is "found", "not found" or refused (never "buffer too small"),
 * and:
 * - a value is taken only when exactly one key names the parameter: the query written
 *   twice ("q&q") is refused when the parameter was found, and still not found when it
 *   was not (so a key never counts twice or not at all by accident);
 * - a found value can be joined by no other spelling of the name: appending
 *   "&<variant>=x" (upper case, leading '+', trailing "[]" or '+', an escaped first
 *   letter, PHP's '.' for '_') is refused;
 * - when not found, appending "&<name>=v" finds exactly "v";
 * - keys and escapes ignore ASCII case: the query in upper case gives the same answer,
 *   and a value equal ignoring case;
 * - a found value is NUL-terminated, no longer than the query and free of control
 *   characters. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "policy/query_param.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"db", "bucket", "database_name", "Db", "l\xc4\xb1st"};

/* Spellings of names[i] that must count as the parameter (index by the variant). */
static const char *const variants[][6] = {
    {"DB", "+db", "db[]", "db+", "%64b", "[db]"},
    {"BUCKET", "+bucket", "bucket[]", "bucket+", "%62ucket", "buc%E2%84%AAet"},
    {"DATABASE_NAME", "+database_name", "database_name[x]", "database.name", "%64atabase_name",
     "database[name"},
    {"dB", "%20db", "db%5B%5D", "db%09", "%44b", "]db"},
    {"LIST", "+list", "list[]", "list+", "%6Cist", "li%C5%BFt"},
};

struct answer {
    int rc;
    bool found;
    char *value; /* copy, or NULL */
    size_t value_len;
};

static struct answer ask(const char *query, size_t len, const char *name)
{
    struct answer a = {0};
    char *buf = malloc(len + 1);
    struct policy_query_value v;
    a.rc = policy_query_param((struct cg_str){query, len}, name, buf, len + 1, &v);
    CHECK(a.rc == CG_OK || a.rc == CG_ERR_INVALID);
    a.found = v.found;
    CHECK(v.value.p == buf && v.value.p[v.value.len] == '\0');
    if (a.rc != CG_OK || !v.found) {
        CHECK(!v.found && v.value.len == 0);
    } else {
        CHECK(v.value.len <= len);
        for (size_t i = 0; i < v.value.len; i++) {
            unsigned char c = (unsigned char)v.value.p[i];
            CHECK(c >= 0x20 && c != 0x7f);
        }
        a.value = malloc(v.value.len + 1);
        memcpy(a.value, v.value.p, v.value.len + 1);
        a.value_len = v.value.len;
    }
    free(buf);
    return a;
}

/* joined returns |a| + "&" + |b| (malloc'd), its length in |*len|. */
static char *joined(const char *a, size_t a_len, const char *b, size_t b_len, size_t *len)
{
    *len = a_len + 1 + b_len;
    char *s = malloc(*len + 1);
    memcpy(s, a, a_len);
    s[a_len] = '&';
    memcpy(s + a_len + 1, b, b_len);
    s[*len] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t which = data[0] % (sizeof(names) / sizeof(names[0]));
    const char *name = names[which];
    const char *variant = variants[which][(data[0] / 4) % 6];
    const char *query = (const char *)data + 1;
    size_t len = size - 1;

    struct answer a = ask(query, len, name);

    /* Twice. */
    size_t twice_len;
    char *twice = joined(query, len, query, len, &twice_len);
    struct answer t = ask(twice, twice_len, name);
    if (a.rc == CG_OK && a.found) {
        CHECK(t.rc == CG_ERR_INVALID);
    } else if (a.rc == CG_OK) {
        CHECK(t.rc == CG_OK && !t.found);
    }
    free(t.value);
    free(twice);

    if (a.rc == CG_OK) {
        /* Another spelling next to a found key; the plain name next to none. */
        char extra[64];
        int n = a.found ? snprintf(extra, sizeof(extra), "%s=x", variant)
                        : snprintf(extra, sizeof(extra), "%s=v", name);
        size_t more_len;
        char *more = joined(query, len, extra, (size_t)n, &more_len);
        struct answer m = ask(more, more_len, name);
        if (a.found) {
            CHECK(m.rc == CG_ERR_INVALID);
        } else {
            CHECK(m.rc == CG_OK && m.found && m.value_len == 1 && m.value[0] == 'v');
        }
        free(m.value);
        free(more);
    }

    /* Upper case. */
    char *upper = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        char c = query[i];
        upper[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    struct answer u = ask(upper, len, name);
    CHECK(u.rc == a.rc && u.found == a.found);
    if (a.found) {
        CHECK(u.value_len == a.value_len);
        for (size_t i = 0; i < a.value_len; i++) {
            char x = a.value[i], y = u.value[i];
            x = (x >= 'a' && x <= 'z') ? (char)(x - 'a' + 'A') : x;
            y = (y >= 'a' && y <= 'z') ? (char)(y - 'a' + 'A') : y;
            CHECK(x == y); /* escapes such as "%62" still decode to lower case */
        }
    }
    free(u.value);
    free(upper);
    free(a.value);
    return 0;
}
