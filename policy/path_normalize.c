#include "policy/path_normalize.h"

#include "common/err.h"
#include "common/hex.h"

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

/* ends_badly: a name ending in '.' or a space is read as another name by servers that
 * trim like Windows ("secret." and "secret " are "secret"); it also covers "." and
 * "..", which end in '.'. */
static bool ends_badly(unsigned char last)
{
    return last == '.' || last == ' ';
}

int policy_path_normalize(const char *target, size_t target_len,
                          const struct policy_path_opts *opts, char *out, size_t out_cap,
                          struct policy_path *res)
{
    bool allow_semicolons = opts != NULL && opts->allow_semicolons;
    bool allow_encoded_percent = opts != NULL && opts->allow_encoded_percent;
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
    /* The query slice must be taken before the path is written: |out| may be |target|. */
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

    /* Every step reads at least as many bytes as it writes, so out[o] never overtakes
     * target[i] and |out| may alias |target|. */
    size_t o = 0;
    size_t i = 0;
    while (i < path_end) {
        /* target[i] is '/': copy one segment. */
        out[o++] = '/';
        i++;
        size_t seg_start = o;
        unsigned char last = 0;      /* last decoded byte of the segment */
        bool has_params = false;     /* a ';' was seen (only when allowed) */
        size_t name_len = 0;         /* output bytes before the first ';' */
        unsigned char name_last = 0; /* last decoded byte before the first ';' */
        while (i < path_end && target[i] != '/') {
            unsigned char c = (unsigned char)target[i];
            if (c == '%') {
                if (path_end - i < 3) {
                    return CG_ERR_INVALID;
                }
                uint8_t v;
                if (!cg_hex_pair(target[i + 1], target[i + 2], &v)) {
                    return CG_ERR_INVALID;
                }
                if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f ||
                    (v == '%' && !allow_encoded_percent)) {
                    return CG_ERR_INVALID;
                }
                if (is_unreserved(v)) {
                    out[o++] = (char)v;
                } else {
                    out[o++] = '%';
                    out[o++] = cg_hex_upper[v >> 4];
                    out[o++] = cg_hex_upper[v & 15];
                }
                last = v;
                i += 3;
                continue;
            }
            if (!is_path_char(c) || (c == ';' && !allow_semicolons)) {
                return CG_ERR_INVALID;
            }
            if (c == ';' && !has_params) {
                has_params = true;
                name_len = o - seg_start;
                name_last = last;
            }
            out[o++] = (char)c;
            last = c;
            i++;
        }
        size_t seg_len = o - seg_start;
        if (seg_len == 0 && i < path_end) {
            return CG_ERR_INVALID; /* "//": an empty segment before another one */
        }
        if (seg_len > 0 && ends_badly(last)) {
            return CG_ERR_INVALID; /* ".", "..", "name.", "name%20" */
        }
        /* What a servlet container keeps of the segment must pass the same rules. */
        if (has_params && (name_len == 0 || ends_badly(name_last))) {
            return CG_ERR_INVALID;
        }
    }
    out[o] = '\0';
    res->path_len = o;
    return CG_OK;
}

int policy_path_view(const char *path, size_t path_len, unsigned how, char *out, size_t out_cap,
                     size_t *out_len)
{
    if (out_cap < path_len + 1) {
        return CG_ERR_LIMIT;
    }
    bool strip = (how & POLICY_PATH_VIEW_STRIP_PARAMS) != 0;
    bool twice = (how & POLICY_PATH_VIEW_DECODE_TWICE) != 0;
    size_t o = 0;
    bool in_params = false;
    uint8_t escaped; /* unused: only whether "%25" is followed by an escape matters */
    for (size_t i = 0; i < path_len; i++) {
        char c = path[i];
        if (c == '/') {
            in_params = false;
        } else if (in_params || (strip && c == ';')) {
            in_params = true;
            continue;
        } else if (twice && c == '%' && path_len - i >= 5 && path[i + 1] == '2' &&
                   path[i + 2] == '5' && cg_hex_pair(path[i + 3], path[i + 4], &escaped)) {
            /* "%25XY" decodes to "%XY", which the second decoding reads as an escape. */
            out[o++] = '%';
            i += 2;
            continue;
        }
        out[o++] = c;
    }
    struct policy_path_opts opts = {.allow_semicolons = !strip, .allow_encoded_percent = true};
    struct policy_path res;
    int rc = policy_path_normalize(out, o, &opts, out, out_cap, &res);
    if (rc != CG_OK) {
        return rc;
    }
    if (res.has_query) {
        return CG_ERR_INVALID; /* not an output of policy_path_normalize */
    }
    *out_len = res.path_len;
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
            uint8_t v;
            if (!cg_hex_pair(in.p[i + 1], in.p[i + 2], &v) || v == 0) {
                return CG_ERR_INVALID;
            }
            c = (char)v;
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
