/* DNS host names: the one rule for every name certgate accepts as a host name (TLS
 * server names from clients, an upstream's `sni`, the DNS names of certificates it
 * issues).
 *
 * A host name is 1 to 253 bytes of labels separated by single dots, no trailing dot.
 * A label is 1 to 63 letters, digits, '-' and '_' and neither starts nor ends with '-'
 * (RFC 952 / RFC 1123 §2.1; '_' is not in those RFCs but appears in real host names,
 * e.g. container service names). The last label is not all digits (RFC 1123 §2.1,
 * RFC 3696 §2), so no IPv4 literal ("10.0.0.5", nor "10.0.0.300") passes for a name;
 * an IPv6 literal has ':' and never does. That is also what RFC 6066 §3 asks of a TLS
 * server name: a host name, no trailing dot, no IP literal. Letter case is not
 * checked: callers compare case-insensitively. */
#ifndef CG_COMMON_HOSTNAME_H
#define CG_COMMON_HOSTNAME_H

#include <stdbool.h>

#include "common/str.h"

#define CG_HOSTNAME_MAX 253 /* bytes */

/* cg_hostname_valid reports whether |name| is a host name by the rule above. */
bool cg_hostname_valid(struct cg_str name);

/* cg_hostname_pattern_valid also accepts a wildcard certificate name: "*." followed by
 * a host name ("*.db.example.com"), the whole at most CG_HOSTNAME_MAX bytes. */
bool cg_hostname_pattern_valid(struct cg_str name);

/* cg_authority_host is the host part of an HTTP authority (Host, :authority): the port
 * and one trailing dot removed. An IPv6 literal keeps its brackets ("[::1]:8443" gives
 * "[::1]"), so it never equals a host name. A view into |authority|. */
struct cg_str cg_authority_host(struct cg_str authority);

#endif
