/* The query parameter that names a route's database ("database_from_query").
 *
 * certgate authorizes one value and forwards the query unchanged, so the value it
 * takes must be the one the database reads, whatever server or framework the database
 * uses to read query strings. They disagree on spellings: ASP.NET and Java compare
 * keys ignoring case (Java's equalsIgnoreCase also folds "ı" to "i"), PHP drops
 * leading spaces and reads "db[]" and "db[x]" as "db" and "d.b" or "d[b" as "d_b", Rack drops
 * brackets around a name, older Go and Python split on ';' as well as '&', and most
 * keep the first copy of a repeated key while others keep the last. So every key that
 * names the parameter in any of these readings counts, and a second one is refused:
 *
 *   - pairs are separated by '&'; a pair that names the parameter must not share its
 *     '&'-separated chunk with a ';' ("db=a;b", "x=1;db=a"), since some servers split
 *     there and others do not;
 *   - a key names the parameter when, after percent-decoding ('+' as a space), leading
 *     whitespace and brackets dropped, everything from the first '[' or ']' on dropped
 *     and trailing whitespace dropped, it equals the parameter's name (reduced the same
 *     way) ignoring ASCII case, with '.', ' ' and '_' taken as equal, and with the
 *     Unicode letters whose case mapping is ASCII taken as that letter ("İ"/"ı" as "i",
 *     "ſ" as "s", the Kelvin sign as "k"); or when the whole key without its leading
 *     whitespace does, with '[' taken as '_' too (PHP's unclosed bracket). A key
 *     without '=' counts too;
 *   - a malformed escape or a decoded NUL in any key refuses the query (its key could
 *     be the parameter), and so does a malformed escape, NUL or other control character
 *     in the value that is taken.
 *
 * Pure, allocation-free; the tests are tests/unit/policy/query_param_test.c and the
 * fuzz target tests/fuzz/query_param_fuzz.c. */
#ifndef CG_POLICY_QUERY_PARAM_H
#define CG_POLICY_QUERY_PARAM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/str.h"

/* struct policy_query_value is the result of policy_query_param. */
struct policy_query_value {
    bool found;          /* exactly one key names the parameter */
    struct cg_str value; /* its value, percent-decoded with '+' as a space and
                            NUL-terminated, in the caller's buffer; empty when the key
                            had no '=' or the parameter was not found */
};

/* policy_query_param finds the parameter |name| in |query| (the bytes after '?') as
 * described above. |buf| (|buf_cap| bytes; query.len + 1 always suffices) holds the
 * decoded keys while scanning and the decoded value afterwards. Returns 0 and fills
 * |*out| (found or not), CG_ERR_INVALID when the parameter is named more than once, a
 * key or the value cannot be decoded, or the value holds a control character, or
 * CG_ERR_LIMIT when |buf| is too small. */
int policy_query_param(struct cg_str query, const char *name, char *buf, size_t buf_cap,
                       struct policy_query_value *out);

#endif
