#include "policy/path_normalize.h"

#include "common/err.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 3986 pchar minus pct-encoded (handled apart): unreserved, sub-delims, ':', '@'. */
static bool is_path_char(unsigned char c)
{
    if (is_unreserved(c)) {
        return true;
    }
    switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
        return true;
    default:
        return false;
    }
}

static bool is_query_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '#';
}

int policy_path_normalize(const char *target, size_t target_len, char *out, size_t out_cap,
                          struct policy_path *res)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t path_end = target_len;
    for (size_t i = 0; i < target_len; i++) {
        if (target[i] == '?') {
            path_end = i;
            break;
        }
    }
    if (path_end == 0 || target[0] != '/') {
        return CG_ERR_INVALID;
    }
    /* Decoding only shrinks, so the output needs at most the input path plus a NUL. */
    if (out_cap < path_end + 1) {
        return CG_ERR_LIMIT;
    }

    size_t o = 0;
    size_t i = 0;
    while (i < path_end) {
        /* target[i] is '/': copy one segment. */
        out[o++] = '/';
        i++;
        size_t seg_start = o;
        size_t num_dots = 0;
        while (i < path_end && target[i] != '/') {
            unsigned char c = (unsigned char)target[i];
            if (c == '%') {
                if (path_end - i < 3) {
                    return CG_ERR_INVALID;
                }
                int hi = hexval(target[i + 1]);
                int lo = hexval(target[i + 2]);
                if (hi < 0 || lo < 0) {
                    return CG_ERR_INVALID;
                }
                unsigned char v = (unsigned char)(hi * 16 + lo);
                if (v == '/' || v == '\\' || v == 0) {
                    return CG_ERR_INVALID;
                }
                if (is_unreserved(v)) {
                    out[o++] = (char)v;
                    num_dots += v == '.';
                } else {
                    out[o++] = '%';
                    out[o++] = hex[v >> 4];
                    out[o++] = hex[v & 15];
                }
                i += 3;
                continue;
            }
            if (!is_path_char(c)) {
                return CG_ERR_INVALID;
            }
            out[o++] = (char)c;
            num_dots += c == '.';
            i++;
        }
        size_t seg_len = o - seg_start;
        if (seg_len == 0 && i < path_end) {
            return CG_ERR_INVALID; /* "//": an empty segment before another one */
        }
        if (seg_len > 0 && seg_len <= 2 && num_dots == seg_len) {
            return CG_ERR_INVALID; /* "." or "..", raw or escaped */
        }
    }
    out[o] = '\0';

    res->path_len = o;
    res->has_query = path_end < target_len;
    res->query = (struct cg_str){NULL, 0};
    if (res->has_query) {
        res->query.p = target + path_end + 1;
        res->query.len = target_len - path_end - 1;
        for (size_t q = 0; q < res->query.len; q++) {
            if (!is_query_char((unsigned char)res->query.p[q])) {
                return CG_ERR_INVALID;
            }
        }
    }
    return CG_OK;
}

int policy_pct_decode(struct cg_str in, bool plus_is_space, char *out, size_t out_cap,
                      size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == '%') {
            if (in.len - i < 3) {
                return CG_ERR_INVALID;
            }
            int hi = hexval(in.p[i + 1]);
            int lo = hexval(in.p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return CG_ERR_INVALID;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return CG_ERR_INVALID;
        }
        if (o + 1 >= out_cap) {
            return CG_ERR_LIMIT;
        }
        out[o++] = c;
    }
    if (o >= out_cap) {
        return CG_ERR_LIMIT;
    }
    out[o] = '\0';
    *out_len = o;
    return CG_OK;
}
