/* Route patterns: compiled once per load, matched against normalized paths.
 *
 * A pattern is a normalized path whose segments are literals, at most one "{db}"
 * (exactly one non-empty segment, the database), and optionally a last segment "*"
 * that matches the prefix itself and anything below it: the pattern "/admin/" + "*"
 * matches "/admin", "/admin/" and "/admin/x/y", so that a request for the bare prefix
 * cannot slip past a stricter rule to a later, looser one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "policy/path_normalize.h"
#include "policy/policy_internal.h"

/* literal_ok checks that |seg| is in the form the normalizer produces with its default
 * options, so that a pattern can match at all ("%7e" would never equal a normalized
 * "~"). A literal never holds ';' or "%25", which only the listener options let
 * through (use "{db}" or a final "*" for such paths). */
static bool literal_ok(const char *seg, size_t len)
{
    char in[512], out[512];
    struct policy_path res;
    if (len + 2 > sizeof(in)) {
        return false;
    }
    in[0] = '/';
    memcpy(in + 1, seg, len);
    if (policy_path_normalize(in, len + 1, NULL, out, sizeof(out), &res) != CG_OK) {
        return false;
    }
    return res.path_len == len + 1 && memcmp(in, out, len + 1) == 0;
}

int policy_route_compile(const char *text, struct policy_route *r, char *why, size_t why_len)
{
    size_t len = strlen(text);
    if (len == 0 || text[0] != '/') {
        snprintf(why, why_len, "a route path must start with '/'");
        return CG_ERR_INVALID;
    }
    if (strchr(text, '?') != NULL) {
        snprintf(why, why_len, "a route path cannot contain a query ('?')");
        return CG_ERR_INVALID;
    }
    /* Count segments: one per '/'. */
    size_t max_segs = 0;
    for (size_t i = 0; i < len; i++) {
        max_segs += text[i] == '/';
    }
    r->segs = cg_xcalloc(max_segs, sizeof(*r->segs));
    r->num_segs = 0;
    r->wildcard = false;
    bool have_capture = false;

    const char *p = text;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t seg_len = end ? (size_t)(end - p) : strlen(p);
        bool last = end == NULL;
        if (seg_len == 1 && p[0] == '*') {
            if (!last) {
                snprintf(why, why_len, "'*' is only allowed as the last segment (\"/prefix/*\")");
                return CG_ERR_INVALID;
            }
            r->wildcard = true;
            break;
        }
        struct policy_route_seg *seg = &r->segs[r->num_segs];
        if (seg_len == 4 && memcmp(p, "{db}", 4) == 0) {
            if (have_capture) {
                snprintf(why, why_len, "only one {db} segment is allowed");
                return CG_ERR_INVALID;
            }
            have_capture = true;
            seg->capture = true;
        } else if (seg_len == 0 && !last) {
            snprintf(why, why_len, "empty segment (\"//\")");
            return CG_ERR_INVALID;
        } else if (memchr(p, '*', seg_len) != NULL || memchr(p, '{', seg_len) != NULL ||
                   memchr(p, '}', seg_len) != NULL) {
            snprintf(why, why_len, "'*' must be a whole last segment and '{db}' a whole segment");
            return CG_ERR_INVALID;
        } else if (seg_len > 0 && !literal_ok(p, seg_len)) {
            snprintf(why, why_len,
                     "segment \"%.*s\" is not in normalized form (no '.'/'..', no trailing "
                     "'.' or space, no ';' or %%25, no escaped unreserved or control "
                     "characters, upper-case %%XX, only RFC 3986 path characters)",
                     (int)(seg_len > 64 ? 64 : seg_len), p);
            return CG_ERR_INVALID;
        } else {
            seg->lit = cg_xstrndup(p, seg_len);
            seg->lit_len = seg_len;
        }
        r->num_segs++;
        p += seg_len;
    }
    if (have_capture) {
        r->db_source = POLICY_DB_CAPTURE;
    }
    return CG_OK;
}

static bool seg_eq(const char *a, const char *b, size_t len, bool case_sensitive)
{
    /* cg_str_case_eq is ASCII-only, whatever the locale. */
    return case_sensitive ? memcmp(a, b, len) == 0
                          : cg_str_case_eq((struct cg_str){a, len}, (struct cg_str){b, len});
}

bool policy_route_match(const struct policy_route *r, bool case_sensitive, struct cg_str method,
                        struct cg_str path, struct cg_str *out_capture)
{
    if (r->num_methods > 0) {
        bool ok = false;
        for (size_t i = 0; i < r->num_methods && !ok; i++) {
            ok = cg_str_eq(method, cg_str_from_cstr(r->methods[i]));
        }
        if (!ok) {
            return false;
        }
    }
    struct cg_str capture = {NULL, 0};
    size_t pos = 0; /* path[pos] is the '/' before the next segment */
    for (size_t i = 0; i < r->num_segs; i++) {
        if (pos >= path.len || path.p[pos] != '/') {
            return false;
        }
        size_t start = pos + 1;
        const char *slash = start < path.len ? memchr(path.p + start, '/', path.len - start) : NULL;
        size_t end = slash ? (size_t)(slash - path.p) : path.len;
        size_t seg_len = end - start;
        const struct policy_route_seg *seg = &r->segs[i];
        if (seg->capture) {
            if (seg_len == 0) {
                return false;
            }
            capture = (struct cg_str){path.p + start, seg_len};
        } else if (seg_len != seg->lit_len ||
                   !seg_eq(path.p + start, seg->lit, seg_len, case_sensitive)) {
            return false;
        }
        pos = end;
    }
    bool ok = r->wildcard ? (pos == path.len || path.p[pos] == '/') : pos == path.len;
    if (ok && out_capture != NULL) {
        *out_capture = capture;
    }
    return ok;
}

void policy_route_cleanup(struct policy_route *r)
{
    for (size_t i = 0; i < r->num_segs; i++) {
        free(r->segs[i].lit);
    }
    free(r->segs);
    for (size_t i = 0; i < r->num_methods; i++) {
        free(r->methods[i]);
    }
    free(r->methods);
    free(r->pattern);
    free(r->database);
    free(r->query_param);
    memset(r, 0, sizeof(*r));
}
