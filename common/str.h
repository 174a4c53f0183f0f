/* String slices: a pointer and a length into memory owned by someone else
 * (docs/contributing.md). Parsers return slices into the caller's buffer; nothing here
 * allocates. */
#ifndef CG_COMMON_STR_H
#define CG_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cg_str {
    const char *p; /* not NUL-terminated; may be NULL when len == 0 */
    size_t len;
};

#define CG_STR_LIT(s) ((struct cg_str){(s), sizeof(s) - 1})

/* cg_str_from_cstr wraps a NUL-terminated string. */
static inline struct cg_str cg_str_from_cstr(const char *s)
{
    return (struct cg_str){s, s ? strlen(s) : 0};
}

/* cg_str_eq reports whether |a| and |b| hold the same bytes. */
static inline bool cg_str_eq(struct cg_str a, struct cg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* cg_str_case_eq compares ASCII case-insensitively (header names, tokens). */
bool cg_str_case_eq(struct cg_str a, struct cg_str b);

/* cg_str_case_eq_cstr is cg_str_case_eq against a NUL-terminated literal. */
static inline bool cg_str_case_eq_cstr(struct cg_str a, const char *b)
{
    return cg_str_case_eq(a, cg_str_from_cstr(b));
}

/* cg_str_trim_ows strips HTTP optional whitespace (SP, HTAB) from both ends. */
struct cg_str cg_str_trim_ows(struct cg_str s);

/* cg_str_next_token splits the comma-separated list |*list| (RFC 9110 §5.6.1): it
 * returns the next element with whitespace trimmed, skipping empty elements, and
 * advances |*list|. It returns false when the list is exhausted. */
bool cg_str_next_token(struct cg_str *list, struct cg_str *out);

/* cg_put_u64 writes |v| in decimal at |out| (at most 20 bytes, no NUL) and returns
 * the end: for heads built on the hot path without printf. */
char *cg_put_u64(char *out, uint64_t v);

/* cg_put_hex writes |v| as at least |digits| lower-case hex digits (more when it needs
 * more; at most 16) and returns the end. */
char *cg_put_hex(char *out, uint64_t v, int digits);

static inline char cg_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

#endif
