/* Request-target normalization: the one place that decides which path authorization
 * matches and the database receives. The proxy forwards exactly the normalized path
 * plus the original query, so both see the same thing.
 *
 * Input: the origin-form request-target as received ("/databases/hr/docs?id=1").
 * The path part (up to the first '?') is normalized; the query is returned as a slice
 * of the input, unchanged.
 *
 * Normalized (the request goes on with the rewritten path):
 *   - a percent-escape of an unreserved character (ALPHA DIGIT - . _ ~) is decoded:
 *     "/%7Euser/%61" -> "/~user/a";
 *   - any other percent-escape is kept, with its hex digits in upper case:
 *     "/a%3bb" -> "/a%3Bb".
 *
 * Rejected (CG_ERR_INVALID; the proxy answers 400):
 *   - an empty target or one not starting with '/' (absolute-form, authority-form and
 *     the asterisk-form "*" are the HTTP parser's business, not authorization's);
 *   - an empty segment ("//", also "/a//b");
 *   - a "." or ".." segment, raw or formed by escapes ("/%2e/", "/.%2E/", "/%2E%2e");
 *   - an escaped '/' (%2F), '\' (%5C) or NUL (%00), in any letter case;
 *   - a malformed escape ('%' not followed by two hex digits);
 *   - in the path: a raw '\', NUL, control character (0x00-0x1F, 0x7F), space, or any
 *     byte RFC 3986 does not allow in a path segment ('"', '<', '>', '[', ']', '^', '`',
 *     '{', '|', '}', '#', and bytes >= 0x80, which must be percent-encoded);
 *   - in the query: NUL, control characters, space, 0x7F and '#'.
 *
 * The output is never longer than the input path, so a buffer of the input's length
 * always suffices. Normalization is idempotent: normalizing an output again yields it
 * unchanged. */
#ifndef CG_POLICY_PATH_NORMALIZE_H
#define CG_POLICY_PATH_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/str.h"

/* struct policy_path is the result of policy_path_normalize. */
struct policy_path {
    size_t path_len;     /* bytes of normalized path written to the caller's buffer */
    bool has_query;      /* the target had a '?' (possibly with an empty query) */
    struct cg_str query; /* the bytes after the first '?', a slice of the input */
};

/* policy_path_normalize normalizes the request-target |target| (|target_len| bytes,
 * not NUL-terminated) as described above. It writes the normalized path followed by a
 * NUL to |out| (|out_cap| bytes) and fills |*res|. Returns 0, CG_ERR_INVALID when the
 * target is rejected, or CG_ERR_LIMIT when |out_cap| < path length + 1. Nothing is
 * allocated; |res->query| points into |target|. */
int policy_path_normalize(const char *target, size_t target_len, char *out, size_t out_cap,
                          struct policy_path *res);

/* policy_pct_decode decodes every percent-escape of |in| into |out| (|out_cap| bytes,
 * NUL-terminated on success), and '+' as a space when |plus_is_space| (query strings).
 * Returns 0, CG_ERR_INVALID for a malformed escape or a decoded NUL, or CG_ERR_LIMIT
 * when |out| is too small. Used for database names taken from a path segment or a
 * query parameter. */
int policy_pct_decode(struct cg_str in, bool plus_is_space, char *out, size_t out_cap,
                      size_t *out_len);

#endif
