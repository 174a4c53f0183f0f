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
 *   - a segment that ends in '.' or a space, raw or escaped: the "." and ".." segments
 *     ("/%2e/", "/.%2E/"), and "/secret./x", "/secret%20/x", "/a.../b", which Windows
 *     and the servers that trim names the way it does read as "/secret/x";
 *   - an escaped '/' (%2F), '\' (%5C), NUL or other control character (%00-%1F, %7F),
 *     in any letter case: a server that decodes before it splits or trims would see
 *     another path;
 *   - an escaped '%' (%25) unless |allow_encoded_percent|: a server that decodes twice
 *     reads "/%2573ecret" as "/secret" and "/%252e%252e/" as "/../";
 *   - a ';' unless |allow_semicolons|: servlet containers (Tomcat, Jetty, Spring) drop
 *     ";params" from every segment, so "/secret;x/y" is their "/secret/y" and
 *     "/public/..;/secret" their "/secret". When allowed, the part of each segment
 *     before its first ';' must itself pass the segment rules above ("/..;x/",
 *     "/secret.;x/" and "/;x/" stay refused);
 *   - a malformed escape ('%' not followed by two hex digits);
 *   - in the path: a raw '\', NUL, control character (0x00-0x1F, 0x7F), space, or any
 *     byte RFC 3986 does not allow in a path segment ('"', '<', '>', '[', ']', '^', '`',
 *     '{', '|', '}', '#', and bytes >= 0x80, which must be percent-encoded);
 *   - in the query: NUL, control characters, space, 0x7F and '#'.
 *
 * The output is never longer than the input path, so a buffer of the input's length
 * always suffices. Normalization is idempotent: normalizing an output again (with the
 * same options) yields it unchanged. */
#ifndef CG_POLICY_PATH_NORMALIZE_H
#define CG_POLICY_PATH_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/str.h"

/* struct policy_path_opts relaxes two refusals for databases that need them (the
 * listener options path_semicolons and path_encoded_percent). All-zero, the default,
 * refuses both. */
struct policy_path_opts {
    bool allow_semicolons;      /* ';' is an ordinary path character */
    bool allow_encoded_percent; /* "%25" is kept as it is */
};

/* struct policy_path is the result of policy_path_normalize. */
struct policy_path {
    size_t path_len;     /* bytes of normalized path written to the caller's buffer */
    bool has_query;      /* the target had a '?' (possibly with an empty query) */
    struct cg_str query; /* the bytes after the first '?', a slice of the input */
};

/* policy_path_normalize normalizes the request-target |target| (|target_len| bytes,
 * not NUL-terminated) as described above, with the relaxations in |opts| (NULL: none).
 * It writes the normalized path followed by a NUL to |out| (|out_cap| bytes) and fills
 * |*res|. |out| may be |target| itself (the output never overtakes the input). Returns
 * 0, CG_ERR_INVALID when the target is rejected, or CG_ERR_LIMIT when |out_cap| < path
 * length + 1. Nothing is allocated; |res->query| points into |target|. */
int policy_path_normalize(const char *target, size_t target_len,
                          const struct policy_path_opts *opts, char *out, size_t out_cap,
                          struct policy_path *res);

/* How another server may read a path that certgate let through with a relaxation. */
#define POLICY_PATH_VIEW_STRIP_PARAMS 0x1 /* drops ";..." from every segment (servlets) */
#define POLICY_PATH_VIEW_DECODE_TWICE 0x2 /* percent-decodes once more: "%2573" is "s" */

/* policy_path_view computes how a server that reads paths as |how| says
 * (POLICY_PATH_VIEW_* bits, applied in that order) sees |path|, an output of
 * policy_path_normalize, and normalizes that reading again (a ';' stays allowed unless
 * stripped, and so does "%25", which a third decoding would need). The result goes to
 * |out| (|out_cap| >= |path_len| + 1; the view is never longer), NUL-terminated, its
 * length to |*out_len|. Returns 0, CG_ERR_INVALID when that reading is not a safe
 * normalized path (a dot segment or an escaped '/' appears after a second decoding,
 * "/..;/" loses its parameter, ...), or CG_ERR_LIMIT. The caller then checks that the
 * reading matches the same route as |path|. */
int policy_path_view(const char *path, size_t path_len, unsigned how, char *out, size_t out_cap,
                     size_t *out_len);

/* policy_pct_decode decodes every percent-escape of |in| into |out| (|out_cap| bytes,
 * NUL-terminated on success), and '+' as a space when |plus_is_space| (query strings).
 * Returns 0, CG_ERR_INVALID for a malformed escape or a decoded NUL, or CG_ERR_LIMIT
 * when |out| is too small. Used for database names taken from a path segment or a
 * query parameter. */
int policy_pct_decode(struct cg_str in, bool plus_is_space, char *out, size_t out_cap,
                      size_t *out_len);

#endif
