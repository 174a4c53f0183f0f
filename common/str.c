#include "common/str.h"

#include "common/hex.h"

bool cg_str_case_eq(struct cg_str a, struct cg_str b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (cg_ascii_lower(a.p[i]) != cg_ascii_lower(b.p[i])) {
            return false;
        }
    }
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

struct cg_str cg_str_trim_ows(struct cg_str s)
{
    while (s.len > 0 && is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_ows(s.p[s.len - 1])) {
        s.len--;
    }
    return s;
}

bool cg_str_next_token(struct cg_str *list, struct cg_str *out)
{
    while (list->len > 0) {
        const char *comma = memchr(list->p, ',', list->len);
        size_t n = comma ? (size_t)(comma - list->p) : list->len;
        struct cg_str tok = cg_str_trim_ows((struct cg_str){list->p, n});
        list->p += comma ? n + 1 : n;
        list->len -= comma ? n + 1 : n;
        if (tok.len > 0) {
            *out = tok;
            return true;
        }
    }
    return false;
}

char *cg_put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *out++ = tmp[--n];
    }
    return out;
}

char *cg_put_hex(char *out, uint64_t v, int digits)
{
    while (digits < 16 && (v >> (4 * digits)) != 0) {
        digits++;
    }
    for (int i = digits - 1; i >= 0; i--) {
        *out++ = cg_hex_lower[(v >> (4 * i)) & 0xf];
    }
    return out;
}
