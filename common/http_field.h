/* HTTP field names with a meaning to a proxy, whatever the protocol version: the
 * hop-by-hop fields (RFC 9110 §7.6.1) that never cross certgate as they are. */
#ifndef CG_COMMON_HTTP_FIELD_H
#define CG_COMMON_HTTP_FIELD_H

#include <stdbool.h>

#include "common/str.h"

/* cg_http_field_hop_by_hop reports whether |name| (any letter case) is a hop-by-hop
 * field a proxy must not forward: Connection, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization, Trailer. */
bool cg_http_field_hop_by_hop(struct cg_str name);

#endif
